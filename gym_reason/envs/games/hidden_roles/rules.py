"""Hidden Roles: an Avalon-like social-deduction game for 5-7 players, two teams, one of them hidden.

Rules:

* **Roles** (one chance node deals them, uniformly over every arrangement): a hidden minority
  team of 2 (5-6 players) or 3 (7 players) players, the *assassin* and one or two *minions*;
  the rest are loyal, one *seer* and the *servants*. Every player knows its own role. The
  hidden team knows each other (and who is the assassin); the seer knows who is hidden (not
  which of them is the assassin); servants know nothing but their own role.
* **Missions.** At most five missions with team sizes by player count (The Resistance):
  5 players 2-3-2-3-3, 6 players 2-3-4-3-4, 7 players 2-3-3-4-4. Three successful
  missions win for the loyal team (subject to the assassination), three failed missions win
  for the hidden team.
* **A proposal** is made by the leader (player 0 first, then the next seat after every
  proposal): ``team: 0, 3`` names exactly the mission's team size of distinct players.
* **Discussion** (when ``chat_length > 0``): after each proposal every player, the leader
  first and then in seat order, says one public message ``say: <text>``; whitespace runs
  become single spaces and at most ``chat_length`` characters are kept.
* **Vote**: every player, the leader first and then in seat order, votes ``approve`` or
  ``reject``. Votes are secret until all are cast, then every vote is shown. A strict
  majority of approvals sends the team; otherwise the lead passes on. A fifth rejected
  proposal in a row for the same mission wins the game for the hidden team.
* **Mission**: each team member, in seat order, plays ``success`` or ``fail`` in secret
  (loyal players may only play ``success``). Only the number of fails is shown. The mission
  fails on one fail (two on the fourth mission of a 7-player game).
* **Assassination**: when the loyal team completes its third success, the assassin names
  one loyal-looking player, ``assassinate: 2``; naming the seer wins for the hidden team.
* **Returns** (team zero-sum): every member of the winning team gets +1, every member of the
  losing team -1. At the end every role is revealed.

Information states hold exactly what a player knows: its seat and role, the teammates its role
reveals, every public event (proposals, messages, cast votes, mission fail counts, the
assassination and at the end the roles), its own secret vote while a vote is open and its own
mission cards, and whose turn it is.
"""

from __future__ import annotations

import functools
import itertools
import random
import re
from typing import Any

from gym_reason.core import lark_literal, to_charset, word_char_regex
from gym_reason.envs.games.base import CHANCE, TERMINAL, Game, State

SEER, SERVANT, ASSASSIN, MINION = "seer", "servant", "assassin", "minion"
ROLES: tuple[str, ...] = (SEER, SERVANT, ASSASSIN, MINION)
"""Every role; the first two are loyal, the last two hidden."""
LOYAL, HIDDEN = "loyal", "hidden"
TEAM_OF: dict[str, str] = {SEER: LOYAL, SERVANT: LOYAL, ASSASSIN: HIDDEN, MINION: HIDDEN}
_LETTER = {SEER: "s", SERVANT: "v", ASSASSIN: "a", MINION: "m"}
_ROLE_OF_LETTER = {letter: role for role, letter in _LETTER.items()}

TEAM_SIZES: dict[int, tuple[int, ...]] = {5: (2, 3, 2, 3, 3), 6: (2, 3, 4, 3, 4), 7: (2, 3, 3, 4, 4)}
HIDDEN_COUNT: dict[int, int] = {5: 2, 6: 2, 7: 3}
MAX_PROPOSALS = 5
"""Rejected proposals in a row for one mission after which the hidden team wins."""
WINS_NEEDED = 3
APPROVE, REJECT, SUCCESS, FAIL = "approve", "reject", "success", "fail"
PROPOSE, DISCUSS, VOTE, MISSION, ASSASSINATE, OVER = "propose", "discuss", "vote", "mission", "assassinate", "over"

_TEAM = re.compile(r"^team\s*:?\s*(.*)$", re.IGNORECASE | re.DOTALL)
_SAY = re.compile(r"^say\s*:\s*(.*)$", re.IGNORECASE | re.DOTALL)
_ASSASSINATE = re.compile(r"^assassinate\s*:?\s*(?:player\s*)?(\d{1,2})\s*[.!]?$", re.IGNORECASE)
_SEAT_SEPARATORS = re.compile(r"\s*(?:,|\band\b|\s)\s*", re.IGNORECASE)


def fails_needed(num_players: int, mission: int) -> int:
    """Fails that make mission ``mission`` (0-based) fail: two on the fourth mission of 7 players.

    >>> fails_needed(7, 3), fails_needed(7, 2), fails_needed(5, 3)
    (2, 1, 1)
    """
    return 2 if num_players >= 7 and mission == 3 else 1


@functools.cache
def deals(num_players: int) -> tuple[str, ...]:
    """Every arrangement of roles, one letter per seat (``s`` seer, ``v`` servant, ``a`` assassin,
    ``m`` minion), in a fixed order: the chance outcomes of the deal.

    >>> len(deals(5)), deals(5)[0]
    (60, 'amsvv')
    """
    hidden = HIDDEN_COUNT[num_players]
    out = []
    for team in itertools.combinations(range(num_players), hidden):
        for assassin in team:
            for seer in (p for p in range(num_players) if p not in team):
                letters = ["v"] * num_players
                for p in team:
                    letters[p] = "m"
                letters[assassin] = "a"
                letters[seer] = "s"
                out.append("".join(letters))
    return tuple(out)


def parse_team(text: str, size: int, num_players: int) -> tuple[int, ...] | None:
    """The sorted seats that ``text`` (after ``team:``) names, if it names exactly ``size`` distinct
    seats of the game, else ``None``.

    >>> parse_team("3, 0", 2, 5), parse_team("0 and 1", 2, 5), parse_team("0, 0", 2, 5), parse_team("1, 9", 2, 5)
    ((0, 3), (0, 1), None, None)
    """
    body = text.strip().rstrip(".!").strip()
    parts = [p for p in _SEAT_SEPARATORS.split(body) if p and p.lower() != "player"]
    if len(parts) != size or not all(p.isdigit() and len(p) <= 2 for p in parts):
        return None
    seats = tuple(sorted(int(p) for p in parts))
    if len(set(seats)) != size or seats[-1] >= num_players:
        return None
    return seats


def format_team(seats: tuple[int, ...]) -> str:
    """The canonical proposal move.

    >>> format_team((0, 3))
    'team: 0, 3'
    """
    return "team: " + ", ".join(map(str, seats))


def message_regex(chat_length: int, reserved: str) -> str:
    """A regex of the messages the grammar allows: printable characters outside ``reserved``, single spaces
    between them, at most ``chat_length`` characters besides the spaces (the parser keeps ``chat_length``
    characters of a longer message)."""
    char = word_char_regex(reserved)
    return f"{char}( ?{char}){{0,{chat_length - 1}}}"


class HiddenRolesState(State):
    __slots__ = (
        "_cards",
        "_fails",
        "_game",
        "_hidden",
        "_leader",
        "_log",
        "_log_text",
        "_mission",
        "_mission_teams",
        "_missions_view",
        "_own",
        "_phase",
        "_player",
        "_proposals",
        "_queue",
        "_results",
        "_roles",
        "_team",
        "_vote_records",
        "_votes",
        "_votes_view",
        "_winner",
    )

    def __init__(self, game: HiddenRoles) -> None:
        n = game.num_players
        self._game = game
        self._roles = ""  # one letter per seat once dealt
        self._phase = CHANCE
        self._player = CHANCE
        self._leader = 0
        self._mission = 0  # index of the current mission
        self._proposals = 0  # rejected proposals in a row for the current mission
        self._team: tuple[int, ...] = ()
        self._queue: list[int] = []  # who acts next in the current phase, in order
        self._votes: dict[int, bool] = {}  # secret votes of the open vote
        self._cards: dict[int, bool] = {}  # secret mission cards of the current mission (True: success)
        self._results: list[bool] = []  # per finished mission, True for a success
        self._fails: list[int] = []  # fails per finished mission
        self._mission_teams: list[tuple[int, ...]] = []  # the team of each finished mission
        self._vote_records: list[tuple[tuple[int, ...], tuple[bool, ...]]] = []  # (team, each seat's approval)
        self._log: tuple[str, ...] = ()  # public events, one line each (tuples: views share them, clones too)
        self._log_text = ""  # the same lines, each after a newline (the information states' public part)
        self._missions_view: tuple[dict[str, Any], ...] = ()  # the views' "missions"
        self._votes_view: tuple[dict[str, Any], ...] = ()  # the views' "votes"
        self._hidden: tuple[int, ...] = ()  # the hidden team's seats, once dealt
        self._own: list[list[str]] = [[] for _ in range(n)]  # each player's private events, one line each
        self._winner: str | None = None

    # --- rules ---------------------------------------------------------------------------------
    def current_player(self) -> int:
        return self._player

    def chance_outcomes(self) -> list[tuple[str, float]]:
        if self._player != CHANCE:
            return super().chance_outcomes()
        return self._game._deal_outcomes

    def role(self, player: int) -> str:
        """The role of ``player`` (``seer``, ``servant``, ``assassin`` or ``minion``)."""
        return _ROLE_OF_LETTER[self._roles[player]]

    def team_of(self, player: int) -> str:
        return TEAM_OF[self.role(player)]

    def hidden_team(self) -> tuple[int, ...]:
        return self._hidden

    def _event(self, line: str) -> None:
        """Record a public event."""
        self._log = (*self._log, line)
        self._log_text += "\n" + line

    def _mission_size(self) -> int:
        return TEAM_SIZES[self._game.num_players][self._mission]

    def _moves(self) -> list[str]:
        """The legal moves where they can be listed (every phase but discussion)."""
        phase, player, game = self._phase, self._player, self._game
        if player < 0:
            return []
        if phase == PROPOSE:
            return game._proposals[self._mission_size()]
        if phase == VOTE:
            return [APPROVE, REJECT]
        if phase == MISSION:
            return [SUCCESS, FAIL] if self._roles[player] in "am" else [SUCCESS]
        if phase == ASSASSINATE:
            return [f"assassinate: {p}" for p in range(game.num_players) if self._roles[p] not in "am"]
        return []

    def legal_actions(self) -> list[str]:
        return self._moves() if self._game.finite_actions else []

    def move_grammar(self, reserved: str) -> str:
        """Lark rules (rule ``move``) of the canonical moves legal here: the listed moves, or in a
        discussion ``say: `` and a message of :func:`message_regex`."""
        if self._phase == DISCUSS:
            return f'move: "say: " /{message_regex(self._game.chat_length, reserved)}/\n'
        return "move: " + " | ".join(lark_literal(m) for m in self._moves()) + "\n"

    def parse_move(self, text: str) -> str | None:
        phase, game = self._phase, self._game
        if self._player < 0:
            return None
        text = " ".join(text.split())
        if phase == DISCUSS:
            said = _SAY.match(text)
            message = said.group(1)[: game.chat_length].rstrip() if said else ""
            return f"say: {message}" if message else None
        if phase == PROPOSE:
            match = _TEAM.match(text)
            seats = parse_team(match.group(1), self._mission_size(), game.num_players) if match else None
            return None if seats is None else format_team(seats)
        if phase == ASSASSINATE:
            match = _ASSASSINATE.match(text)
            move = f"assassinate: {int(match.group(1))}" if match else None
            return move if move in self._moves() else None
        word = text.lower().rstrip(".! ")
        return word if word in self._moves() else None

    def apply(self, move: str) -> None:
        if self._player == CHANCE:
            if move not in self._game._deal_set:
                raise ValueError(f"{move!r} is not a deal of {self._game.num_players} players")
            self._roles = move
            self._hidden = tuple(p for p, r in enumerate(move) if r in "am")
            self._start_proposal()
            return
        if self._player == TERMINAL or self.parse_move(move) != move:
            raise ValueError(f"{move!r} is not a legal canonical move for player {self._player} in {self}")
        player, phase = self._player, self._phase
        if phase == PROPOSE:
            self._team = parse_team(move[len("team:") :], self._mission_size(), self._game.num_players)
            self._event(f"proposal {self._proposals + 1} of mission {self._mission + 1}: {move}")
            self._begin(DISCUSS if self._game.chat_length else VOTE, self._from_leader())
        elif phase == DISCUSS:
            self._event(f"{player} says: {to_charset(move[len('say: ') :])}")
            self._advance(VOTE, self._from_leader())
        elif phase == VOTE:
            self._votes[player] = move == APPROVE
            self._own[player].append(f"my vote: {move}")
            self._advance(None, [])
        elif phase == MISSION:
            self._cards[player] = move == SUCCESS
            self._own[player].append(f"my card on mission {self._mission + 1}: {move}")
            self._advance(None, [])
        elif phase == ASSASSINATE:
            target = int(move.split(":")[1])
            hit = self._roles[target] == "s"
            self._event(f"{move} ({'the seer' if hit else 'not the seer'})")
            self._finish(HIDDEN if hit else LOYAL)

    def _from_leader(self) -> list[int]:
        n = self._game.num_players
        return [(self._leader + k) % n for k in range(n)]

    def _begin(self, phase: str, queue: list[int]) -> None:
        self._phase = phase
        self._queue = queue
        self._player = queue[0]

    def _advance(self, next_phase: str | None, next_queue: list[int]) -> None:
        """The mover is done; the next in the queue moves, or the phase ends."""
        self._queue = self._queue[1:]
        if self._queue:
            self._player = self._queue[0]
        elif self._phase == DISCUSS:
            self._begin(next_phase, next_queue)
        elif self._phase == VOTE:
            self._close_vote()
        else:
            self._close_mission()

    def _start_proposal(self) -> None:
        self._team = ()
        self._votes = {}
        self._begin(PROPOSE, [self._leader])

    def _close_vote(self) -> None:
        n = self._game.num_players
        approvals = sum(self._votes.values())
        approved = 2 * approvals > n
        approvals = tuple(self._votes[p] for p in range(n))
        self._vote_records.append((self._team, approvals))
        self._votes_view = (*self._votes_view, {"team": self._team, "approvals": approvals})
        votes = ", ".join(f"{p} {'approve' if self._votes[p] else 'reject'}" for p in range(n))
        self._event(f"votes on {format_team(self._team)}: {votes}; {'approved' if approved else 'rejected'}")
        for own in self._own:  # the secret vote is public now
            if own and own[-1].startswith("my vote"):
                own.pop()
        self._leader = (self._leader + 1) % n
        if approved:
            self._proposals = 0
            self._cards = {}
            self._begin(MISSION, list(self._team))
            return
        self._proposals += 1
        if self._proposals >= MAX_PROPOSALS:
            self._event(f"{MAX_PROPOSALS} proposals in a row were rejected")
            self._finish(HIDDEN)
        else:
            self._start_proposal()

    def _close_mission(self) -> None:
        fails = sum(not c for c in self._cards.values())
        success = fails < fails_needed(self._game.num_players, self._mission)
        self._results.append(success)
        self._fails.append(fails)
        self._mission_teams.append(self._team)
        self._missions_view = (*self._missions_view, {"team": self._team, "fails": fails, "success": success})
        self._event(
            f"mission {self._mission + 1} ({format_team(self._team)}): {fails} fail(s); "
            f"{'success' if success else 'failed'}"
        )
        self._mission += 1
        if self._results.count(False) >= WINS_NEEDED:
            self._finish(HIDDEN)
        elif self._results.count(True) >= WINS_NEEDED:
            assassin = self._roles.index("a")
            self._team = ()
            self._begin(ASSASSINATE, [assassin])
        else:
            self._start_proposal()

    def _finish(self, winner: str) -> None:
        self._winner = winner
        self._phase = OVER
        self._player = TERMINAL
        self._queue = []
        roles = ", ".join(f"{p} {self.role(p)}" for p in range(self._game.num_players))
        self._event(f"the {winner} team wins; roles: {roles}")

    def is_terminal(self) -> bool:
        return self._player == TERMINAL

    def winner(self) -> str | None:
        """``loyal`` or ``hidden`` once the game is over."""
        return self._winner

    def returns(self) -> list[float]:
        if self._winner is None:
            return [0.0] * self._game.num_players
        return [1.0 if TEAM_OF[_ROLE_OF_LETTER[r]] == self._winner else -1.0 for r in self._roles]

    def metrics(self, player: int) -> dict[str, float]:
        """Role and team, missions, and the votes behind the deception measure: how often this player
        voted on a team holding a hidden player, and how often it rejected such a team."""
        hidden = set(self.hidden_team())
        on_hidden = [votes[player] for team, votes in self._vote_records if hidden.intersection(team)]
        role = self.role(player)
        return {
            "hidden_team": float(TEAM_OF[role] == HIDDEN),
            **{f"role_{r}": float(role == r) for r in ROLES},
            "missions_succeeded": float(self._results.count(True)),
            "missions_failed": float(self._results.count(False)),
            "votes_on_hidden_teams": float(len(on_hidden)),
            "rejected_hidden_teams": float(on_hidden.count(False)),
        }

    # --- views ---------------------------------------------------------------------------------
    def _known_hidden(self, player: int) -> tuple[int, ...] | None:
        return self.hidden_team() if self._roles[player] in "sam" else None

    def observation(self, player: int) -> dict[str, Any]:
        game = self._game
        n = game.num_players
        role = self.role(player)
        over = self._player == TERMINAL
        assassin = self._roles.index("a") if role in (ASSASSIN, MINION) else None
        return {
            "player": player,
            "num_players": n,
            "role": role,
            "team": TEAM_OF[role],
            "known_hidden": self._known_hidden(player),
            "assassin": assassin,
            "hidden_count": HIDDEN_COUNT[n],
            "team_sizes": TEAM_SIZES[n],
            "fails_needed": tuple(fails_needed(n, m) for m in range(len(TEAM_SIZES[n]))),
            "mission": self._mission,
            "leader": self._leader,
            "rejected_in_a_row": self._proposals,
            "phase": self._phase,
            "proposed_team": self._team,
            "to_move": self._player,
            "to_act": self._player == player,
            "missions": self._missions_view,
            "votes": self._votes_view,
            "events": self._log,
            "private": tuple(self._own[player]),
            "chat_length": game.chat_length,
            "finished": over,
            "winner": self._winner,
            "roles": tuple(self.role(p) for p in range(n)) if over else None,
        }

    def information_state(self, player: int) -> str:
        role = self.role(player)
        known = self._known_hidden(player)
        head = f"p{player} {role}"
        if known is not None:
            head += " hidden=" + ",".join(map(str, known))
        if role in (ASSASSIN, MINION):
            head += f" assassin={self._roles.index('a')}"
        own = "".join("\n" + line for line in self._own[player])
        return f"{head}{self._log_text}{own}\nto move: {self._player} ({self._phase})"

    def clone(self) -> HiddenRolesState:
        other = HiddenRolesState.__new__(HiddenRolesState)
        for name in self.__slots__:
            setattr(other, name, getattr(self, name))
        other._queue = self._queue[:]
        other._votes = dict(self._votes)
        other._cards = dict(self._cards)
        other._results = self._results[:]
        other._fails = self._fails[:]
        other._mission_teams = self._mission_teams[:]
        other._vote_records = self._vote_records[:]
        other._own = [own[:] for own in self._own]
        return other

    def __str__(self) -> str:
        return (
            f"roles={self._roles or '-'} mission={self._mission + 1} results={self._results} phase={self._phase} "
            f"leader={self._leader} team={self._team} to_move={self._player} winner={self._winner}"
        )


class HiddenRoles(Game):
    """Hidden Roles: Avalon-like social deduction, a hidden minority team, proposals, votes, missions, talk."""

    name = "hidden_roles"
    num_players = 5
    zero_sum = False  # team zero-sum: the teams' payoffs are opposite, the sum over players is not zero
    teams = ("loyal", "hidden")
    """The teams a deal assigns (``view["team"]``); team evaluation (``eval/teams.py``) seats one agent per team."""

    def __init__(self, num_players: int = 5, chat_length: int = 160) -> None:
        if isinstance(num_players, bool) or num_players not in TEAM_SIZES:
            raise ValueError(f"num_players must be one of {sorted(TEAM_SIZES)}, got {num_players!r}")
        if isinstance(chat_length, bool) or not isinstance(chat_length, int) or not 0 <= chat_length <= 1000:
            raise ValueError(
                f"chat_length must be an integer from 0 to 1000 (characters kept of a message; 0 turns the "
                f"discussion off), got {chat_length!r}"
            )
        self.num_players = num_players
        self.chat_length = chat_length
        # Without discussion every move can be listed, so decoders constrained to a list can play it.
        self.finite_actions = chat_length == 0
        every_deal = deals(num_players)
        self._deal_outcomes = [(d, 1 / len(every_deal)) for d in every_deal]
        self._deal_set = frozenset(d for d, _ in self._deal_outcomes)
        self._proposals = {
            k: [format_team(t) for t in itertools.combinations(range(num_players), k)]
            for k in set(TEAM_SIZES[num_players])
        }

    def new_initial_state(self) -> HiddenRolesState:
        return HiddenRolesState(self)

    @property
    def max_game_length(self) -> int:
        n = self.num_players
        per_proposal = 1 + n * (2 if self.chat_length else 1)
        missions = len(TEAM_SIZES[n])
        return missions * (MAX_PROPOSALS * per_proposal + max(TEAM_SIZES[n])) + 1

    def random_move(self, observation: dict[str, Any], rng: random.Random) -> str:
        """A random legal move from a player's view: a listed move, or in a discussion a short message."""
        if observation["phase"] == DISCUSS:  # a canonical message: cut to the length the game keeps
            message = rng.choice(_CHAT).format(rng.randrange(observation["num_players"]))
            return f"say: {message[: self.chat_length].rstrip()}"
        return rng.choice(_listed_moves(observation, self._proposals))


def _listed_moves(view: dict[str, Any], proposals: dict[int, list[str]]) -> list[str]:
    """The legal moves of the player to act at ``view`` outside a discussion."""
    phase = view["phase"]
    if phase == PROPOSE:
        return proposals[view["team_sizes"][view["mission"]]]
    if phase == VOTE:
        return [APPROVE, REJECT]
    if phase == MISSION:
        return [SUCCESS, FAIL] if view["team"] == HIDDEN else [SUCCESS]
    if phase == ASSASSINATE:
        hidden = set(view["known_hidden"])
        return [f"assassinate: {p}" for p in range(view["num_players"]) if p not in hidden]
    raise ValueError(f"no listed moves in phase {phase!r}")


def listed_moves(view: dict[str, Any]) -> list[str]:
    """The legal moves of the player to act at ``view`` (a view of a player to act, outside a discussion)."""
    n = view["num_players"]
    sizes = set(view["team_sizes"])
    return _listed_moves(view, {k: [format_team(t) for t in itertools.combinations(range(n), k)] for k in sizes})


_CHAT = (
    "I am loyal",
    "I trust this team",
    "player {} worries me",
    "I would rather see player {} on the team",
    "let us approve and see",
    "this team looks wrong to me",
)
