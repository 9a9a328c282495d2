"""How Hidden Roles reads to a model."""

from __future__ import annotations

from typing import Any

from gym_reason.envs.games.hidden_roles.rules import (
    ASSASSIN,
    ASSASSINATE,
    DISCUSS,
    MAX_PROPOSALS,
    MINION,
    MISSION,
    PROPOSE,
    SEER,
    VOTE,
    WINS_NEEDED,
    HiddenRoles,
)

_ROLE_TEXT = {
    SEER: "the seer: you are loyal and you know who is on the hidden team; keep that knowledge quiet, "
    "for if the loyal team wins the assassin may name you and win after all",
    "servant": "a loyal servant: you know only that you are loyal",
    ASSASSIN: "the assassin, on the hidden team: if the loyal team completes three missions you name "
    "the player you think is the seer, and naming the seer wins the game for your team",
    MINION: "a minion, on the hidden team",
}


def _seats(seats: tuple[int, ...]) -> str:
    return ", ".join(f"Player {p}" for p in seats)


class HiddenRolesTemplate:
    def rules(self, game: HiddenRoles, player: int) -> str:
        n = game.num_players
        talk = (
            f"After each proposal every player, the leader first, says one public message (answer "
            f"'say: <message>'; at most {game.chat_length} characters are kept). "
            if game.chat_length
            else ""
        )
        return (
            f"You are Player {player} of {n} in Hidden Roles, a game of hidden loyalties.\n"
            "Rules: most players are loyal (one of them the seer, who knows the hidden team); a hidden minority "
            "(the assassin and the minions) knows each other. Each round the leader proposes a team for a "
            "mission (answer 'team: 0, 3' with the listed team size). "
            f"{talk}"
            "Then everyone votes 'approve' or 'reject' in secret; all votes are shown once cast. A strict majority "
            f"of approvals sends the team, otherwise the lead passes to the next seat; {MAX_PROPOSALS} rejected "
            "proposals in a row for one mission win for the hidden team. On a mission each member plays 'success' "
            "or 'fail' in secret (loyal players may only play 'success'); only the number of fails is shown and "
            f"one fail fails the mission. {WINS_NEEDED} successful missions win for the loyal team unless the "
            f"assassin then names the seer ('assassinate: 2'); {WINS_NEEDED} failed missions win for the hidden "
            "team. Every member of the winning team scores +1, every member of the losing team -1.\n"
        )

    def state(self, view: dict[str, Any]) -> str:
        lines = [f"Your role: {_ROLE_TEXT[view['role']]}."]
        if view["known_hidden"] is not None:
            others = tuple(p for p in view["known_hidden"] if p != view["player"])
            lines.append(
                f"The hidden team: {_seats(view['known_hidden'])}"
                + (f" (your teammates: {_seats(others)})" if view["team"] == "hidden" else "")
                + "."
            )
        if view["assassin"] is not None:
            lines.append(f"The assassin is Player {view['assassin']}.")
        sizes = "-".join(map(str, view["team_sizes"]))
        lines.append(f"Mission team sizes: {sizes}.")
        lines.extend(view["events"] or ("Nothing has happened yet.",))
        lines.extend(f"(Private) {line}" for line in view["private"])
        if view["finished"]:
            return "\n".join(lines)
        mission = view["mission"]
        phase = view["phase"]
        if phase != ASSASSINATE:
            lines.append(
                f"Mission {mission + 1}: team size {view['team_sizes'][mission]}, leader Player {view['leader']}, "
                f"{view['rejected_in_a_row']} proposal(s) rejected in a row."
            )
        if view["to_act"]:
            lines.append(_task(view))
        else:
            lines.append(f"Player {view['to_move']} is to act ({phase}).")
        return "\n".join(lines)


def _task(view: dict[str, Any]) -> str:
    """What the player to act is asked to do."""
    phase = view["phase"]
    if phase == PROPOSE:
        return f"You lead: propose a team of {view['team_sizes'][view['mission']]} ('team: 0, 3')."
    if phase == DISCUSS:
        return f"Say something about the proposed team {_seats(view['proposed_team'])} ('say: ...')."
    if phase == VOTE:
        return f"Vote on the proposed team {_seats(view['proposed_team'])} ('approve' or 'reject')."
    if phase == MISSION:
        return "You are on the mission: play your card ('success' or 'fail')."
    return "The loyal team completed three missions: name the seer ('assassinate: 2')."
