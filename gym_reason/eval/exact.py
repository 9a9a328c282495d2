"""Exact analysis over the pure rules: one game tree and one walk of it under a policy.

A *policy* is a callable ``(state, player) -> {move: probability}`` over the
canonical legal moves of ``state`` (moves left out have probability 0).
:class:`GameTree` holds a game's tree as parallel lists indexed by node, children
built on first visit, and :meth:`GameTree.values` is *the* walk: every chance
outcome with its probability and, at each player node, every move the acting
player's policy gives positive probability, so the result is exact (up to floating
point), with no sampling. Everything here and in
:mod:`gym_reason.eval.exploitability` (policy values, best responses, exact
advantages) runs on it.

>>> from gym_reason.envs.games.kuhn_poker.bots import KuhnNash
>>> from gym_reason.envs.games.kuhn_poker.rules import KuhnPoker
>>> nash = scripted_policy(KuhnNash(alpha=0.2))
>>> value = expected_returns(KuhnPoker(), [nash, nash])
>>> round(value[0] * 18, 9), round(value[1] * 18, 9)
(-1.0, 1.0)

:func:`exact_advantages` gives each decision's exact advantage under the policy,
``Q(h, a) - V(h)`` from the tree: the oracle that process-reward estimators
(:mod:`gym_reason.trainer.advantages`, :mod:`gym_reason.trainer.step_values`) are
measured against.

The tree is walked in full where the policy reaches, so this is for small games
(Kuhn Poker, a few hands of it, Leduc Hold'em, Liar's Dice, TicTacToe); its cost is
the number of nodes with positive probability, and a game's tree is kept while the
game object lives, so a second call costs one walk.
"""

from __future__ import annotations

import contextlib
import dataclasses
import weakref
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

from gym_reason.envs.games.base import CHANCE, TERMINAL, Game, State

Policy = Callable[[State, int], Mapping[str, float]]
"""``policy(state, player) -> {canonical move: probability}``."""

TOLERANCE = 1e-9
"""How far a policy's probabilities may sum from 1."""


def uniform_policy(state: State, player: int) -> dict[str, float]:
    """Every legal move with the same probability.

    >>> from gym_reason.envs.games.tic_tac_toe.rules import TicTacToe
    >>> probs = uniform_policy(TicTacToe().new_initial_state(), 0)
    >>> len(probs), probs["4"] == 1 / 9
    (9, True)
    """
    legal = state.legal_actions()
    return dict.fromkeys(legal, 1 / len(legal))


def scripted_policy(agent: Any) -> Policy:
    """The policy of a :class:`~gym_reason.agents.base.ScriptedAgent`.

    It reads ``agent.policy(view, legal)`` with ``view = state.observation(player)``
    and ``legal = state.legal_actions()``, the structured view the text env gives
    the agent in ``info["game_observation"]``.
    """
    if not callable(getattr(agent, "policy", None)):
        raise TypeError(
            f"scripted_policy needs a ScriptedAgent (an object with policy(view, legal)), got {type(agent).__name__}"
        )

    def policy(state: State, player: int) -> Mapping[str, float]:
        return agent.policy(state.observation(player), state.legal_actions())

    policy.__name__ = f"scripted_policy({getattr(agent, 'name', type(agent).__name__)})"
    return policy


def expected_returns(game: Game, policies: Sequence[Policy]) -> list[float]:
    """Each player's expected return when player ``p`` follows ``policies[p]``.

    A policy may read the whole state (it is asked at every history it reaches), so this also
    values policies that see what a player could not.

    Raises:
        ValueError: when the number of policies is not ``game.num_players``, when the
            game cannot list its moves, or when a policy gives probability to an
            illegal move, a negative probability, or probabilities whose sum is
            not 1 (within :data:`TOLERANCE`); the message names the state and player.
    """
    if len(policies) != game.num_players:
        raise ValueError(f"{game.name} has {game.num_players} players; got {len(policies)} policies")
    tree = game_tree(game, caller="expected_returns")
    return list(tree.values(tree.history_probabilities(policies))[0])


# --- exact advantages ------------------------------------------------------------------------------------
def history_key(state: State, num_players: int) -> Hashable:
    """What every player knows at ``state``, with the player to move: the key of :class:`ExactAdvantages`.

    Histories with the same key look the same to every player; in the games here (whose hidden cards
    and dice are each some player's) they are the same position, so their values agree.

    >>> from gym_reason.envs.games.kuhn_poker.rules import KuhnPoker
    >>> state = KuhnPoker().new_initial_state()
    >>> state.apply(state.chance_outcomes()[1][0])
    >>> history_key(state, 2)  # player 0 holds J, player 1 holds K, nobody has moved
    (0, ('0', '2'))
    """
    return state.current_player(), tuple(state.information_state(p) for p in range(num_players))


@dataclasses.dataclass(frozen=True)
class ExactAdvantages:
    """Exact values of every decision the policies reach: ``V(h)`` and ``Q(h, a)`` for the mover.

    ``V(h)`` is the mover's expected return from history ``h`` on, everyone following the policies;
    ``Q(h, a)`` the same after the mover plays ``a`` first; the advantage is ``Q(h, a) - V(h)``.
    Histories are looked up by :func:`history_key` (pass the env's game state); where several
    histories share a key their values are averaged, weighted by how often the policies reach each.
    :meth:`information_state_advantage` gives the same at the level of what the mover knows.
    """

    game_name: str
    num_players: int
    value_of: Mapping[Hashable, float]
    q_of: Mapping[Hashable, Mapping[str, float]]
    info_value_of: Mapping[tuple[int, str], float]
    info_q_of: Mapping[tuple[int, str], Mapping[str, float]]

    def value(self, state: State) -> float:
        """``V(h)`` of the player to move at ``state``."""
        return self.value_of[self._key(state)]

    def q(self, state: State, move: str) -> float:
        """``Q(h, move)`` of the player to move at ``state``."""
        return self._q(state)[move]

    def advantage(self, state: State, move: str) -> float:
        """``Q(h, move) - V(h)`` of the player to move at ``state``."""
        key = self._key(state)
        return self.q_of[key][self._move(key, move)] - self.value_of[key]

    def information_state_advantage(self, player: int, info: str, move: str) -> float:
        """``Q(I, move) - V(I)`` at information state ``info`` of ``player``: each history of ``I`` weighted
        by the probability that chance and the policies reach it."""
        key = (player, info)
        if key not in self.info_q_of:
            raise KeyError(f"information state {info!r} of player {player} is not reached by the policies")
        return self.info_q_of[key][move] - self.info_value_of[key]

    def _q(self, state: State) -> Mapping[str, float]:
        return self.q_of[self._key(state)]

    def _key(self, state: State) -> Hashable:
        key = history_key(state, self.num_players)
        if key not in self.value_of:
            raise KeyError(
                f"state {state} of {self.game_name} (key {key!r}) is not a decision the policies reach with "
                "positive probability; exact advantages exist where the policies play"
            )
        return key

    def _move(self, key: Hashable, move: str) -> str:
        if move not in self.q_of[key]:
            raise KeyError(f"{move!r} is not a legal move at {key!r}; legal: {list(self.q_of[key])}")
        return move


def exact_advantages(game: Game, policy: Policy | Sequence[Policy]) -> ExactAdvantages:
    """``Q(h, a)`` and ``V(h)`` at every decision the policies reach, for every legal move ``a`` there.

    ``policy`` is one policy for every seat (self-play) or one per player. ``Q`` of a move the
    policy never plays is still exact: its subtree is walked too.

    >>> from gym_reason.envs.games.kuhn_poker.rules import KuhnPoker
    >>> game = KuhnPoker()
    >>> exact = exact_advantages(game, uniform_policy)
    >>> state = game.new_initial_state()
    >>> state.apply("JK")  # player 0 holds J, player 1 holds K
    >>> state.apply("bet")  # player 1 calls or folds: calling wins 2, folding loses 1
    >>> exact.q(state, "call"), exact.q(state, "fold"), exact.value(state), exact.advantage(state, "call")
    (2.0, -1.0, 0.5, 1.5)
    >>> round(exact.information_state_advantage(1, "2b", "call"), 9)  # with K, whatever player 0 holds
    1.5

    Raises:
        ValueError: as :func:`expected_returns` does.
    """
    n = game.num_players
    tree = game_tree(game, caller="exact_advantages")
    policies = [policy] * n if callable(policy) else list(policy)
    if len(policies) != n or not all(callable(p) for p in policies):
        raise ValueError(
            f"exact_advantages: policy must be one policy (a callable (state, player) -> {{move: probability}}) "
            f"or a sequence of {n} of them, one per player of {game.name}; got {policy!r}"
        )
    probs = tree.history_probabilities(policies)
    values = tree.values(probs)
    reach = tree.reach(probs)
    sums: dict[Hashable, list[Any]] = {}  # key -> [weight, weighted V, {move: weighted Q}]
    info_sums: dict[tuple[int, str], list[Any]] = {}
    for node, weight in reach.items():
        mover = tree.player[node]
        if mover < 0 or weight == 0:
            continue
        state = tree.state[node]
        children = tree.children(node)
        q = {}
        for move, child in zip(tree.moves[node], children, strict=True):
            if child not in values:  # a move the policy never plays here: walk its subtree too
                values.update(tree.values(probs, start=child))
            q[move] = values[child][mover]
        for table, key in ((sums, history_key(state, n)), (info_sums, (mover, tree.info[node]))):
            entry = table.setdefault(key, [0.0, 0.0, dict.fromkeys(q, 0.0)])
            entry[0] += weight
            entry[1] += weight * values[node][mover]
            for move, value in q.items():
                entry[2][move] += weight * value
    return ExactAdvantages(
        game_name=game.name,
        num_players=n,
        value_of={k: v / w for k, (w, v, _) in sums.items()},
        q_of={k: {m: x / w for m, x in qs.items()} for k, (w, _, qs) in sums.items()},
        info_value_of={k: v / w for k, (w, v, _) in info_sums.items()},
        info_q_of={k: {m: x / w for m, x in qs.items()} for k, (w, _, qs) in info_sums.items()},
    )


# --- the tree ------------------------------------------------------------------------------------------
_TREES: weakref.WeakKeyDictionary[Game, GameTree] = weakref.WeakKeyDictionary()


def game_tree(game: Game, caller: str = "game_tree") -> GameTree:
    """The tree of ``game``, made once per game object and kept while the object lives.

    A tree depends on the rules only, never on a policy, and training measures the same game
    again and again (Liar's Dice: ~300,000 nodes, seconds to build). The tree's states are never
    handed out by the public functions: callers get clones.

    Raises:
        ValueError: when the game cannot list its legal moves (``caller`` names the function in the message).
    """
    try:
        return _TREES[game]
    except KeyError:
        pass
    except TypeError:  # an unhashable game: build each time
        return GameTree(game, caller)
    tree = GameTree(game, caller)
    with contextlib.suppress(TypeError):  # a game that cannot be weakly referenced is not kept
        _TREES[game] = tree
    return tree


BranchProbabilities = Callable[[int], Sequence[float]]
"""``probs(node) -> probability of each child of a player node``, in the order of ``tree.moves[node]``."""


class GameTree:
    """A game tree as parallel lists indexed by node; node 0 is the start; children are built on first visit.

    Zero-probability chance outcomes are left out: nothing below them counts. :meth:`full` builds the
    rest and groups the decision nodes by the mover's information state (what best responses need).
    """

    def __init__(self, game: Game, caller: str = "GameTree") -> None:
        if not game.finite_actions:
            raise ValueError(
                f"{caller} needs a game whose legal moves can be listed (finite_actions = True); "
                f"{game.name} has finite_actions = False, so its game tree cannot be enumerated. "
                "Use a game such as kuhn_poker"
            )
        self.game = game
        self.player: list[int] = []  # the mover, CHANCE or TERMINAL
        self.moves: list[list[str]] = []
        self._children: list[list[int] | None] = []  # None until built
        self.chance_probs: list[list[float]] = []  # empty except at chance nodes
        self.returns: list[list[float]] = []  # empty except at terminal nodes
        self.chance_reach: list[float] = []
        self.state: dict[int, State] = {}  # decision nodes, and chance nodes until their children are built
        self.info: dict[int, str] = {}  # decision nodes only: the mover's information state
        self._infosets: dict[int, dict[str, list[int]]] | None = None
        self.preorder: list[int] = []  # after full(): parents before children
        self._add(game.new_initial_state(), 1.0)

    def __len__(self) -> int:
        return len(self.player)

    def _add(self, state: State, chance_reach: float) -> int:
        node = len(self.player)
        self.chance_reach.append(chance_reach)
        self._children.append(None)
        if state.is_terminal():
            self.player.append(TERMINAL)
            self.moves.append([])
            self.chance_probs.append([])
            self.returns.append([float(r) for r in state.returns()])
            self._children[node] = []
            return node
        mover = state.current_player()
        self.player.append(mover)
        self.returns.append([])
        self.state[node] = state
        if mover == CHANCE:
            outcomes = [(move, p) for move, p in state.chance_outcomes() if p > 0]
            self.moves.append([move for move, _ in outcomes])
            self.chance_probs.append([p for _, p in outcomes])
        else:
            self.moves.append(list(state.legal_actions()))
            self.chance_probs.append([])
            self.info[node] = state.information_state(mover)
        return node

    def children(self, node: int) -> list[int]:
        """The children of ``node``, in the order of ``moves[node]``, built on first call."""
        children = self._children[node]
        if children is None:
            state = self.state[node]
            chance = self.player[node] == CHANCE
            children = []
            for k, move in enumerate(self.moves[node]):
                child = state.clone()
                child.apply(move)
                reach = self.chance_reach[node] * (self.chance_probs[node][k] if chance else 1.0)
                children.append(self._add(child, reach))
            self._children[node] = children
            if chance:
                del self.state[node]  # only decision nodes keep a state: policies are asked there
        return children

    def full(self) -> GameTree:
        """Build every node (once) and list them in preorder; returns the tree."""
        if self._infosets is not None:
            return self
        infosets: dict[int, dict[str, list[int]]] = {p: {} for p in range(self.game.num_players)}
        preorder = []
        stack = [0]
        while stack:
            node = stack.pop()
            preorder.append(node)
            mover = self.player[node]
            if mover >= 0:
                members = infosets[mover].setdefault(self.info[node], [])
                if members and self.moves[members[0]] != self.moves[node]:
                    raise ValueError(
                        f"{self.game.name} gives information state {self.info[node]!r} of player {mover} two "
                        f"different lists of legal moves ({self.moves[members[0]]} and {self.moves[node]}), so it "
                        "is not a valid information state; information_state() must hold everything that decides "
                        "the legal moves"
                    )
                members.append(node)
            stack.extend(reversed(self.children(node)))
        self.preorder = preorder
        self._infosets = infosets
        return self

    @property
    def infosets(self) -> dict[int, dict[str, list[int]]]:
        """``{player: {information state: [decision nodes]}}``, in the order a depth-first walk meets them."""
        return self.full()._infosets  # type: ignore[return-value]

    # --- policies as branch probabilities --------------------------------------------------------
    def history_probabilities(self, policies: Sequence[Policy]) -> BranchProbabilities:
        """Branch probabilities that ask ``policies[mover]`` at each decision node reached (once per node)."""
        asked: dict[int, list[float]] = {}

        def probs(node: int) -> list[float]:
            known = asked.get(node)
            if known is None:
                mover, state = self.player[node], self.state[node]
                given = dict(_checked(policies[mover](state, mover), state, mover))
                known = asked[node] = [given.get(move, 0.0) for move in self.moves[node]]
            return known

        return probs

    def policy_probabilities(self, policy: Policy, player: int) -> dict[str, list[float]]:
        """``{information state: probabilities in the order of its legal moves}``, asking ``policy`` once each."""
        table = {}
        for info, members in self.infosets[player].items():
            state = self.state[members[0]]
            probs = dict(_checked(policy(state, player), state, player))
            table[info] = [probs.get(move, 0.0) for move in self.moves[members[0]]]
        return table

    def information_state_probabilities(self, tables: Mapping[int, Mapping[str, list[float]]]) -> BranchProbabilities:
        """Branch probabilities from ``{player: {information state: probabilities}}`` (:meth:`policy_probabilities`)."""
        return lambda node: tables[self.player[node]][self.info[node]]

    def _branch(self, node: int, probs: BranchProbabilities) -> Sequence[float]:
        return self.chance_probs[node] if self.player[node] == CHANCE else probs(node)

    # --- the walk --------------------------------------------------------------------------------
    def values(self, probs: BranchProbabilities, start: int = 0) -> dict[int, list[float]]:
        """Every player's expected return at every node the walk reaches from ``start``.

        Branches of probability 0 are not entered, so a policy is asked only where it can be.
        """
        out: dict[int, list[float]] = {}
        self._value(start, probs, out)
        return out

    def _value(self, node: int, probs: BranchProbabilities, out: dict[int, list[float]]) -> list[float]:
        if self.player[node] == TERMINAL:
            value = self.returns[node]
        else:
            value = [0.0] * self.game.num_players
            for child, p in zip(self.children(node), self._branch(node, probs), strict=True):
                if p:
                    for i, v in enumerate(self._value(child, probs, out)):
                        value[i] += p * v
        out[node] = value
        return value

    def reach(self, probs: BranchProbabilities) -> dict[int, float]:
        """``{node: probability that chance and every player reach it}`` for the nodes of positive reach."""
        reach = {0: 1.0}
        stack = [0]
        while stack:
            node = stack.pop()
            if self.player[node] == TERMINAL:
                continue
            for child, p in zip(self.children(node), self._branch(node, probs), strict=True):
                if p:
                    reach[child] = reach[node] * p
                    stack.append(child)
        return reach


def _checked(probs: Mapping[str, float], state: State, player: int) -> list[tuple[str, float]]:
    legal = state.legal_actions()
    items = list(probs.items())
    illegal = [m for m, p in items if p != 0 and m not in legal]
    if illegal:
        raise ValueError(
            f"the policy of player {player} puts probability on illegal move(s) {illegal} in state {state}; "
            f"legal: {legal}"
        )
    negative = {m: p for m, p in items if p < 0}
    if negative:
        raise ValueError(f"the policy of player {player} gives negative probabilities {negative} in state {state}")
    total = sum(p for _, p in items)
    if abs(total - 1) > TOLERANCE:
        raise ValueError(
            f"the policy of player {player} has probabilities summing to {total!r}, not 1 "
            f"(tolerance {TOLERANCE}), in state {state}: {dict(items)}"
        )
    return items
