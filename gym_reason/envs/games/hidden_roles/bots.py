"""Hidden Roles bots: a rule-based loyal player and a rule-based hidden-team player, in one role-aware bot.

``fixed:rules`` (the reference bot) reads its role from the view and plays:

* **Loyal** (seer, servant): a belief over who is hidden. A servant weighs every hidden
  team that leaves it out by how well it explains the missions seen so far (a hidden
  member plays ``fail`` with probability :data:`SABOTAGE_RATE`; a mission with more fails
  than hidden members is impossible); the seer knows the hidden team. It proposes itself
  and the least suspect players, approves a team whose chance of holding no hidden player
  is at least :data:`APPROVE_RATIO` of the best team's (and any fifth proposal, since a
  fifth rejection loses), plays ``success`` and names its prime suspect in the discussion.
* **Hidden** (assassin, minion): proposes itself with loyal players, approves a team with
  enough hidden members to fail it (everything on the first mission, to blend in), rejects
  a fifth proposal without them (the fifth rejection wins), plays ``fail`` when it is among
  the first hidden members of the team the mission needs, claims loyalty in the discussion,
  and as assassin names the loyal player whose votes best match knowing the hidden team.

:func:`hidden_probabilities` is the loyal belief, used by both halves and by tests.
"""

from __future__ import annotations

import itertools
from math import comb
from typing import Any

from gym_reason.envs.games.bots import ScriptedAgent
from gym_reason.envs.games.hidden_roles.rules import (
    APPROVE,
    ASSASSINATE,
    DISCUSS,
    FAIL,
    HIDDEN,
    MAX_PROPOSALS,
    MISSION,
    PROPOSE,
    REJECT,
    SUCCESS,
    VOTE,
    format_team,
)

SABOTAGE_RATE = 0.8
"""The chance a loyal bot assumes a hidden player on a mission plays ``fail``."""
APPROVE_RATIO = 0.6
"""A loyal bot approves a team whose chance of being clean is at least this share of the best team's."""


def hidden_team_weights(view: dict[str, Any]) -> list[tuple[frozenset[int], float]]:
    """The viewer's belief over whole hidden teams: ``(team, weight)`` pairs, the weights summing to 1.

    Whoever knows the hidden team (the seer, the hidden team) holds one team with certainty; a servant
    weighs every team that leaves it out by the likelihood of the missions' fail counts.
    """
    if view["known_hidden"] is not None:
        return [(frozenset(view["known_hidden"]), 1.0)]
    others = [p for p in range(view["num_players"]) if p != view["player"]]
    weighted = []
    for team in itertools.combinations(others, view["hidden_count"]):
        hidden = frozenset(team)
        weight = 1.0
        for mission in view["missions"]:
            s, f = len(hidden.intersection(mission["team"])), mission["fails"]
            weight *= comb(s, f) * SABOTAGE_RATE**f * (1 - SABOTAGE_RATE) ** (s - f) if f <= s else 0.0
        weighted.append((hidden, weight))
    total = sum(w for _, w in weighted)
    if total <= 0:  # the view contradicts the model (cannot happen in a real game): stay uniform
        return [(h, 1 / len(weighted)) for h, _ in weighted]
    return [(h, w / total) for h, w in weighted if w > 0]


def hidden_probabilities(view: dict[str, Any]) -> list[float]:
    """Each player's probability of being hidden, as the viewer believes it (:func:`hidden_team_weights`).

    >>> view = {"player": 0, "num_players": 5, "hidden_count": 2, "known_hidden": None,
    ...         "missions": ({"team": (1, 2), "fails": 2, "success": False},)}
    >>> [round(p, 3) for p in hidden_probabilities(view)]
    [0.0, 1.0, 1.0, 0.0, 0.0]
    """
    probs = [0.0] * view["num_players"]
    for team, weight in hidden_team_weights(view):
        for p in team:
            probs[p] += weight
    return probs


def clean_probability(weights: list[tuple[frozenset[int], float]], team: tuple[int, ...]) -> float:
    """P(no hidden player on ``team``) under a belief :func:`hidden_team_weights`."""
    return sum(w for hidden, w in weights if hidden.isdisjoint(team))


def _suspects(view: dict[str, Any]) -> list[int]:
    """The other players, least suspect first (seat order after the viewer breaks ties)."""
    n, me = view["num_players"], view["player"]
    probs = hidden_probabilities(view)
    return sorted((p for p in range(n) if p != me), key=lambda p: (probs[p], (p - me) % n))


def loyal_move(view: dict[str, Any]) -> str:
    """The loyal bot's move at ``view`` (the viewer is to act)."""
    phase, size = view["phase"], view["team_sizes"][view["mission"]]
    if phase == PROPOSE:
        return format_team(tuple(sorted([view["player"], *_suspects(view)[: size - 1]])))
    if phase == DISCUSS:
        suspect = _suspects(view)[-1]
        return f"say: I suspect player {suspect}"
    if phase == VOTE:
        if view["rejected_in_a_row"] == MAX_PROPOSALS - 1:
            return APPROVE
        weights = hidden_team_weights(view)
        best = max(clean_probability(weights, t) for t in itertools.combinations(range(view["num_players"]), size))
        mine = clean_probability(weights, view["proposed_team"])
        return APPROVE if mine >= APPROVE_RATIO * best else REJECT
    if phase == MISSION:
        return SUCCESS
    raise ValueError(f"a loyal player has no move in phase {phase!r}")


def hidden_move(view: dict[str, Any]) -> str:
    """The hidden-team bot's move at ``view`` (the viewer is to act)."""
    phase, mission, me = view["phase"], view["mission"], view["player"]
    hidden = set(view["known_hidden"])
    if phase == ASSASSINATE:
        return f"assassinate: {likely_seer(view)}"
    needed = view["fails_needed"][mission]
    if phase == PROPOSE:
        size = view["team_sizes"][mission]
        n = view["num_players"]
        loyal = [p for p in sorted(range(n), key=lambda p: (p - me) % n) if p not in hidden]
        mates = [p for p in sorted(hidden, key=lambda p: (p - me) % n) if p != me]
        crew = [me, *mates[: needed - 1]]
        return format_team(tuple(sorted(crew + loyal[: size - len(crew)])))
    if phase == DISCUSS:
        loyal = [p for p in range(view["num_players"]) if p not in hidden]
        return f"say: I am loyal and I suspect player {loyal[(me + mission) % len(loyal)]}"
    if phase == VOTE:
        enough = len(hidden.intersection(view["proposed_team"])) >= needed
        if view["rejected_in_a_row"] == MAX_PROPOSALS - 1:
            return APPROVE if enough else REJECT
        return APPROVE if enough or mission == 0 else REJECT
    if phase == MISSION:
        saboteurs = sorted(hidden.intersection(view["proposed_team"]))[:needed]
        return FAIL if me in saboteurs else SUCCESS
    raise ValueError(f"a hidden player has no move in phase {phase!r}")


def likely_seer(view: dict[str, Any]) -> int:
    """The loyal player whose votes agree most often with knowing the hidden team (approve a clean team,
    reject a team with a hidden player); the lowest seat among equals."""
    hidden = set(view["known_hidden"])
    loyal = [p for p in range(view["num_players"]) if p not in hidden]
    score = dict.fromkeys(loyal, 0)
    for record in view["votes"]:
        clean = not hidden.intersection(record["team"])
        for p in loyal:
            score[p] += record["approvals"][p] == clean
    return max(loyal, key=lambda p: (score[p], -p))


class HiddenRolesRules(ScriptedAgent):
    """Rule-based play for either team: :func:`loyal_move` for the seer and servants,
    :func:`hidden_move` for the assassin and minions."""

    name = "fixed:rules"

    def policy(self, view: dict[str, Any], legal: list[str]) -> dict[str, float]:
        move = hidden_move(view) if view["team"] == HIDDEN else loyal_move(view)
        return {move: 1.0}
