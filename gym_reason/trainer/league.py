"""Population (league) self-play: a pool of opponents, how to draw from it, and a gate that keeps it honest.

Self-play against the latest self can cycle (rock beats scissors beats paper ...) and a new
checkpoint may be only *different*, not better. A :class:`League` keeps a pool of opponents and
draws the opponent of each training game from it:

* **entries** (:class:`PoolEntry`): past checkpoints of the run (snapshotted every
  ``snapshot_every`` steps), fixed bots, and exact best responses to a policy (for games whose tree
  is walked in full, :func:`~gym_reason.eval.exploitability.best_response_table`);
* **the payoff matrix** of the pool, entry against entry, estimated from **paired deals** (one chance
  seed played from both seats, so the luck of the deal cancels; :func:`paired_results`), and each
  entry's results against the current policy;
* **samplers**: ``uniform``; ``pfsp``, prioritized fictitious self-play (AlphaStar): an entry is
  drawn with weight ``(1 - s) ** power``, ``s`` the current policy's score rate against it, so the
  opponents that still beat it are played most; ``psro``: the meta-Nash equilibrium of the pool's
  payoff matrix (PSRO's meta-solver, :func:`meta_nash`), so the opponents are a mixture no entry of the
  pool exploits;
* **the gate**: for games solved exactly, a checkpoint enters the pool only if its exact
  exploitability is at most the best accepted checkpoint's plus ``gate_tolerance``; a refused one is
  logged with the reason.

Every event (an entry added or refused, the payoff matrix with the sampling distribution and the
meta-strategy) goes to ``log`` as a dict, e.g. a JSONL writer. Policies are exact-analysis policies
(:data:`~gym_reason.eval.exact.Policy`: ``(state, player) -> {move: probability}``), so a tabular
policy, a fixed bot (:func:`~gym_reason.eval.exact.scripted_policy`) or a language model tabulated
over the game (:func:`~gym_reason.eval.agent_policy.agent_policy_table`) all enter the same way; an
entry may also carry the agent ``spec`` a trainer seats for it (a checkpoint folder, ``fixed:nash``).

>>> from gym_reason.envs.games.kuhn_poker.rules import KuhnPoker
>>> from gym_reason.eval.exact import uniform_policy
>>> league = League(KuhnPoker(), sampler="uniform", payoff_deals=8, seed=0)
>>> league.add_checkpoint(0, uniform_policy).accepted, len(league.entries)
(True, 1)
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gym_reason.core import derive_seed
from gym_reason.envs.games.base import CHANCE, Game, State
from gym_reason.eval.exact import Policy
from gym_reason.eval.exploitability import best_response_table, exploitability, policy_table, tabular_policy
from gym_reason.trainer.logs import keep_records

SAMPLERS = ("uniform", "pfsp", "psro")
"""The ways a :class:`League` draws opponents."""
CHECKPOINT, BOT, BEST_RESPONSE = "checkpoint", "bot", "best_response"


@dataclasses.dataclass
class PoolEntry:
    """One opponent of the pool."""

    name: str
    kind: str
    """``checkpoint``, ``bot`` or ``best_response``."""
    policy: Policy
    step: int | None = None
    """The training step a checkpoint (or a best response to it) was taken at."""
    exploitability: float | None = None
    """Exact exploitability, for games solved exactly."""
    spec: str | None = None
    """The agent spec a trainer seats for this entry (a checkpoint folder, ``fixed:<name>``), if any."""


@dataclasses.dataclass(frozen=True)
class GateDecision:
    accepted: bool
    reason: str
    exploitability: float | None


def _sample(probs: Mapping[str, float], rng: random.Random) -> str:
    x = rng.random() * sum(probs.values())
    chosen = None
    for move, p in probs.items():
        if p > 0:
            chosen = move
            x -= p
            if x < 0:
                return move
    if chosen is None:
        raise ValueError(f"a policy gave no move positive probability: {dict(probs)}")
    return chosen


def play_game(game: Game, policies: Sequence[Policy], chance: random.Random, moves: random.Random) -> list[float]:
    """One game on the pure rules: chance from ``chance``, each player's moves drawn from its policy with ``moves``."""
    state: State = game.new_initial_state()
    while not state.is_terminal():
        player = state.current_player()
        if player == CHANCE:
            outcomes = state.chance_outcomes()
            state.apply(_sample(dict(outcomes), chance))
        else:
            state.apply(_sample(policies[player](state, player), moves))
    return state.returns()


def paired_results(game: Game, a: Policy, b: Policy, deals: int, seed: int) -> list[float]:
    """``a``'s total reward over each of ``deals`` paired deals against ``b``: the deal's chance seed is
    played with ``a`` in seat 0, then in seat 1 (two-player games)."""
    if game.num_players != 2:
        raise ValueError(f"paired results are for two-player games; {game.name} has {game.num_players} players")
    out = []
    for k in range(deals):
        deal_seed = derive_seed(seed, k)
        moves = random.Random(derive_seed(seed, k, 1))
        first = play_game(game, [a, b], random.Random(deal_seed), moves)[0]
        second = play_game(game, [b, a], random.Random(deal_seed), moves)[1]
        out.append(first + second)
    return out


def score_rate(results: Sequence[float]) -> float:
    """Deals won plus half the tied ones, over all deals.

    >>> score_rate([2.0, -1.0, 0.0, 1.0])
    0.625
    """
    if not results:
        raise ValueError("score_rate needs at least one deal")
    return sum(1.0 if r > 0 else 0.5 if r == 0 else 0.0 for r in results) / len(results)


def meta_nash(payoff: np.ndarray, iterations: int = 5000) -> np.ndarray:
    """A Nash equilibrium mixture of the symmetric zero-sum game ``payoff`` (``payoff[i][j]``: what entry
    ``i`` wins against ``j``; antisymmetric), by regret matching: the average of the iterates converges to
    an equilibrium. PSRO's meta-solver.

    >>> rock_paper_scissors = np.array([[0, -1, 1], [1, 0, -1], [-1, 1, 0]], dtype=float)
    >>> [round(float(p), 2) for p in meta_nash(rock_paper_scissors)]
    [0.33, 0.33, 0.33]
    >>> [round(float(p), 3) for p in meta_nash(np.array([[0.0, 1.0], [-1.0, 0.0]]))]  # a dominant entry
    [1.0, 0.0]
    """
    payoff = np.asarray(payoff, dtype=float)
    n = payoff.shape[0]
    if payoff.shape != (n, n) or n == 0:
        raise ValueError(f"payoff must be a non-empty square matrix, got shape {payoff.shape}")
    regrets = np.zeros(n)
    total = np.zeros(n)
    strategy = np.full(n, 1 / n)
    for _ in range(iterations):
        positive = np.maximum(regrets, 0)
        strategy = positive / positive.sum() if positive.sum() > 0 else np.full(n, 1 / n)
        total += strategy
        values = payoff @ strategy  # what each pure entry wins against the mixture
        regrets += values - strategy @ values
    average = total / iterations
    average[average < 1e-3] = 0.0  # regret matching leaves dust on dominated entries
    return average / average.sum()


class League:
    """A pool of opponents for one two-player game (see the module docstring).

    Args:
        game: the rules (two players).
        sampler: ``uniform``, ``pfsp`` or ``psro`` (:data:`SAMPLERS`).
        snapshot_every: steps between checkpoints offered to the pool (:meth:`due`).
        gate_tolerance: how much a checkpoint's exact exploitability may exceed the best accepted one's;
            ``None`` turns the gate off. Games without exact analysis have no gate.
        payoff_deals: paired deals per pair of entries in the payoff matrix.
        pfsp_power: the exponent of PFSP's weighting ``(1 - score rate) ** power``.
        seed: seeds the paired deals and the draws.
        log: called with one dict per event.
    """

    def __init__(
        self,
        game: Game,
        *,
        sampler: str = "pfsp",
        snapshot_every: int = 10,
        gate_tolerance: float | None = 0.0,
        payoff_deals: int = 64,
        pfsp_power: float = 2.0,
        seed: int = 0,
        log: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        if sampler not in SAMPLERS:
            raise ValueError(f"unknown league sampler {sampler!r}; valid: {list(SAMPLERS)}")
        if snapshot_every < 1 or payoff_deals < 1:
            raise ValueError(
                f"snapshot_every and payoff_deals must be at least 1, got {snapshot_every} and {payoff_deals}"
            )
        if gate_tolerance is not None and gate_tolerance < 0:
            raise ValueError(f"gate_tolerance must be >= 0 or None (no gate), got {gate_tolerance!r}")
        if game.num_players != 2:
            raise ValueError(f"a league is for two-player games; {game.name} has {game.num_players} players")
        self.game = game
        self.sampler = sampler
        self.snapshot_every = snapshot_every
        self.gate_tolerance = gate_tolerance
        self.payoff_deals = payoff_deals
        self.pfsp_power = pfsp_power
        self.seed = seed
        self.entries: list[PoolEntry] = []
        self.refused: list[tuple[int, str]] = []
        """``(step, reason)`` of every checkpoint the gate refused."""
        self.gate_history: list[dict[str, Any]] = []
        """Every gate decision: ``{"step", "accepted", "reason", "exploitability"}``."""
        self._log = log
        self._exact = game.exact_analysis
        self._pairs: dict[tuple[str, str], list[float]] = {}  # paired results between entries (they never change)
        self._against_current: list[list[float]] = []  # each entry's paired results against the current policy
        self._rng = random.Random(derive_seed(seed, 7))
        self._distribution: np.ndarray | None = None  # cached until the pool or the measurements change

    # --- entries ---------------------------------------------------------------------------------
    def due(self, step: int) -> bool:
        """Whether ``step`` is a snapshot step (every ``snapshot_every`` steps)."""
        return step % self.snapshot_every == 0

    def _emit(self, event: dict[str, Any]) -> None:
        if self._log is not None:
            self._log(event)

    def _add(self, entry: PoolEntry) -> None:
        if any(e.name == entry.name for e in self.entries):
            raise ValueError(f"the pool already has an entry named {entry.name!r}; give each entry its own name")
        self.entries.append(entry)
        self._against_current = []  # stale: the pool changed
        self._distribution = None
        self._emit({"event": "pool_add", "name": entry.name, "kind": entry.kind, "step": entry.step,
                    "exploitability": entry.exploitability, "pool_size": len(self.entries)})  # fmt: skip

    def add_bot(self, name: str, policy: Policy, spec: str | None = None) -> PoolEntry:
        """A fixed opponent (never gated)."""
        entry = PoolEntry(name, BOT, policy, exploitability=self._exploitability(policy), spec=spec)
        self._add(entry)
        return entry

    def add_best_response(self, policy: Policy, step: int | None = None, name: str | None = None) -> PoolEntry:
        """The exact best response to ``policy`` in both seats (games solved exactly): the opponent that
        takes the most from it."""
        if not self._exact:
            raise ValueError(f"exact best responses need a game solved exactly; {self.game.name} is not one")
        table = {**best_response_table(self.game, policy, 0), **best_response_table(self.game, policy, 1)}
        response = tabular_policy(table)
        entry = PoolEntry(
            name or f"best_response@{step}", BEST_RESPONSE, response, step, self._exploitability(response)
        )
        self._add(entry)
        return entry

    def add_checkpoint(self, step: int, policy: Policy, spec: str | None = None) -> GateDecision:
        """Offer the policy at ``step``: it enters unless the gate refuses it (the decision is logged either way).

        The policy is tabulated first where the game is solved exactly, so later changes to the learner do
        not change the entry."""
        if self._exact:
            policy = tabular_policy(policy_table(self.game, policy))
        value = self._exploitability(policy)
        accepted = [e.exploitability for e in self.entries if e.kind == CHECKPOINT and e.exploitability is not None]
        best = min(accepted) if accepted else None
        if value is None or self.gate_tolerance is None or best is None:
            reason = (
                "no exact exploitability"
                if value is None
                else "gate off"
                if self.gate_tolerance is None
                else ("first checkpoint")
            )
            decision = GateDecision(True, reason, value)
        elif value <= best + self.gate_tolerance:
            decision = GateDecision(
                True, f"exploitability {value:.4f} <= best {best:.4f} + {self.gate_tolerance}", value
            )
        else:
            decision = GateDecision(
                False, f"exploitability {value:.4f} regressed beyond best {best:.4f} + tolerance {self.gate_tolerance}",
                value,
            )  # fmt: skip
        record = {"step": step, "accepted": decision.accepted, "reason": decision.reason, "exploitability": value}
        self.gate_history.append(record)
        self._emit({"event": "gate", **record})
        if decision.accepted:
            self._add(PoolEntry(f"checkpoint@{step}", CHECKPOINT, policy, step, value, spec))
        else:
            self.refused.append((step, decision.reason))
        return decision

    def _exploitability(self, policy: Policy) -> float | None:
        return exploitability(self.game, policy) if self._exact else None

    # --- payoffs and sampling --------------------------------------------------------------------
    def payoff_matrix(self) -> np.ndarray:
        """``matrix[i][j]``: entry ``i``'s mean reward per game against entry ``j`` over paired deals
        (antisymmetric; pairs are played once and remembered, since entries never change)."""
        n = len(self.entries)
        matrix = np.zeros((n, n))
        for i in range(n):
            for j in range(i + 1, n):
                key = (self.entries[i].name, self.entries[j].name)
                if key not in self._pairs:
                    seed = derive_seed(self.seed, 11, i, j)
                    self._pairs[key] = paired_results(
                        self.game, self.entries[i].policy, self.entries[j].policy, self.payoff_deals, seed
                    )
                matrix[i, j] = sum(self._pairs[key]) / (2 * len(self._pairs[key]))
                matrix[j, i] = -matrix[i, j]
        return matrix

    def measure(self, current: Policy, step: int | None = None) -> None:
        """Play the current policy against every entry (paired deals), for PFSP's weights and the log."""
        self._distribution = None
        self._against_current = [
            paired_results(self.game, current, e.policy, self.payoff_deals, derive_seed(self.seed, 13, step or 0, k))
            for k, e in enumerate(self.entries)
        ]

    def distribution(self) -> np.ndarray:
        """The probability of drawing each entry under the league's sampler (computed once per pool and
        measurement)."""
        if self._distribution is None:
            self._distribution = self._compute_distribution()
        return self._distribution

    def _compute_distribution(self) -> np.ndarray:
        n = len(self.entries)
        if n == 0:
            raise ValueError("the pool is empty; add a checkpoint, a bot or a best response first")
        if self.sampler == "uniform":
            return np.full(n, 1 / n)
        if self.sampler == "psro":
            return meta_nash(self.payoff_matrix())
        if len(self._against_current) != n:
            raise ValueError("PFSP needs the current policy's results against the pool: call measure(current) first")
        weights = np.array([(1 - score_rate(r)) ** self.pfsp_power for r in self._against_current])
        weights = np.maximum(weights, 1e-3)  # an entry the policy always beats is still drawn now and then
        return weights / weights.sum()

    def sample(self, rng: random.Random | None = None) -> PoolEntry:
        """One opponent, drawn from :meth:`distribution`."""
        probs = self.distribution()
        x = (rng or self._rng).random()
        for entry, p in zip(self.entries, probs, strict=True):
            x -= p
            if x < 0:
                return entry
        return self.entries[int(np.argmax(probs))]

    def log_state(self, step: int) -> dict[str, Any]:
        """Log (and return) the pool's payoff matrix, its meta-Nash strategy and the sampling distribution."""
        matrix = self.payoff_matrix()
        event = {
            "event": "payoffs",
            "step": step,
            "names": [e.name for e in self.entries],
            "payoff_matrix": [[round(float(x), 4) for x in row] for row in matrix],
            "meta_strategy": [round(float(p), 4) for p in meta_nash(matrix)] if len(self.entries) else [],
            "sampling": self.sampler,
            "distribution": [round(float(p), 4) for p in self.distribution()] if self._ready() else None,
            "score_vs_current": [round(score_rate(r), 4) for r in self._against_current] or None,
        }
        self._emit(event)
        return event

    def _ready(self) -> bool:
        return bool(self.entries) and (self.sampler != "pfsp" or len(self._against_current) == len(self.entries))

    # --- state (a trainer's checkpoint carries it, so a resumed run repeats an uninterrupted one) -------
    def state_dict(self, root: Path | None = None) -> dict[str, Any]:
        """Everything the league has learned, as plain data (JSON-able): the entries with their policies
        tabulated exactly, the paired results already played, the results against the current policy, the
        gate history and the draw generator. An entry's ``spec`` under ``root`` (the run folder) is also
        kept relative to it (``run_path``), so a run folder that moved still finds its pool checkpoints.

        Raises:
            ValueError: for a game without exact analysis (its policies cannot be tabulated).
        """
        if not self._exact:
            raise ValueError(
                f"a league's state holds its policies as exact tables; {self.game.name} has no exact analysis"
            )
        return {
            "entries": [self._entry_state(e, root) for e in self.entries],
            "refused": [[step, reason] for step, reason in self.refused],
            "gate_history": [dict(record) for record in self.gate_history],
            "pairs": [[a, b, list(results)] for (a, b), results in self._pairs.items()],
            "against_current": [list(results) for results in self._against_current],
            "rng": _rng_state(self._rng),
        }

    def _entry_state(self, entry: PoolEntry, root: Path | None) -> dict[str, Any]:
        return {
            "name": entry.name,
            "kind": entry.kind,
            "step": entry.step,
            "exploitability": entry.exploitability,
            "spec": entry.spec,
            "run_path": _under(entry.spec, root),
            "table": policy_table(self.game, entry.policy),
        }

    def load_state_dict(self, state: Mapping[str, Any], root: Path | None = None) -> None:
        """Put back what :meth:`state_dict` saved (``run_path`` resolved against the run folder ``root``).

        Raises:
            FileNotFoundError: a pool checkpoint of the run folder is missing.
        """
        self.entries = [
            PoolEntry(
                e["name"], e["kind"], tabular_policy(e["table"]), e["step"], e["exploitability"], _seat_spec(e, root)
            )
            for e in state["entries"]
        ]
        self.refused = [(int(step), str(reason)) for step, reason in state["refused"]]
        self.gate_history = [dict(record) for record in state["gate_history"]]
        self._pairs = {(a, b): list(results) for a, b, results in state["pairs"]}
        self._against_current = [list(results) for results in state["against_current"]]
        version, internal, gauss = state["rng"]
        self._rng.setstate((version, tuple(internal), gauss))
        self._distribution = None


def _rng_state(rng: random.Random) -> list[Any]:
    version, internal, gauss = rng.getstate()
    return [version, list(internal), gauss]


def _under(spec: str | None, root: Path | None) -> str | None:
    """``spec``'s path relative to the run folder ``root``, if it is a folder under it."""
    if spec is None or root is None:
        return None
    try:
        return Path(spec).resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:  # not under the run folder (a fixed bot, a model elsewhere)
        return None


def _seat_spec(entry: Mapping[str, Any], root: Path | None) -> str | None:
    if entry.get("run_path") is None or root is None:
        return entry["spec"]
    folder = Path(root) / entry["run_path"]
    if not folder.is_dir():
        raise FileNotFoundError(
            f"the league's pool checkpoint {str(folder)!r} (entry {entry['name']!r}) is missing from the run folder; "
            f"the pool's checkpoints live in <run>/league/: restore that folder, or start a new run"
        )
    return str(folder)


# --- the trainer's hooks (``league: pfsp`` etc. in a self-play config) -----------------------------------
class TabularAgent:
    """Seats a tabular policy (a best response) in a text game: reads ``info["state_key"]`` (the information
    state), draws a canonical move from the table and writes it in the env's answer format."""

    def __init__(self, name: str, table: Mapping[str, Mapping[str, float]], answer_format: Any, seed: int) -> None:
        self.name = name
        self.table = {info: dict(probs) for info, probs in table.items()}
        self.answer_format = answer_format
        self.rng = random.Random(seed)

    def act(self, batch: Sequence[tuple[str, dict[str, Any]]]) -> list[str]:
        from gym_reason.core import STATE_KEY

        answers = []
        for _obs, info in batch:
            probs = self.table.get(info.get(STATE_KEY))
            if probs is None:
                raise ValueError(f"{self.name} has no entry for information state {info.get(STATE_KEY)!r}")
            answers.append(self.answer_format.wrap(_sample(probs, self.rng)))
        return answers


def build_league(trainer: Any) -> League | None:
    """The trainer's league (``None`` when ``league: off``), logging to ``<run>/league.jsonl``.

    Raises:
        ValueError: for several games, or a game that is not two-player and solved exactly.
    """
    config = trainer.config
    if config.league == "off":
        return None
    if len(trainer.env_ids) != 1:
        raise ValueError(f"league self-play trains on one game, got games {config.games}; run one league per game")
    game = getattr(trainer.eval_envs[trainer.env_ids[0]], "game", None)
    if game is None or game.num_players != 2 or not game.exact_analysis:
        raise ValueError(
            f"league self-play needs a two-player game solved exactly (its gate and best responses are exact), "
            f"got {config.games[0]}; use kuhn_poker, leduc_holdem or liars_dice, or league: off"
        )
    path = trainer.run_dir / "league.jsonl"

    def log(event: dict[str, Any]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as f:
            f.write(json.dumps(event) + "\n")

    return League(game, sampler=config.league, snapshot_every=config.league_snapshot_every,
                  gate_tolerance=config.league_gate_tolerance, seed=config.seed, log=log)  # fmt: skip


def league_snapshot(trainer: Any, step: int) -> GateDecision:
    """Offer the trainer's policy at ``step`` to its league: saved to ``<run>/league/step_N`` (kept apart from
    the rolling checkpoints), tabulated exactly, gated; if it enters, the exact best response to it enters too.
    The pool's payoffs and sampling distribution are logged."""
    import shutil

    from gym_reason.agents import make_agent
    from gym_reason.eval.agent_policy import agent_policy_table

    league: League = trainer.league
    env = trainer.eval_envs[trainer.env_ids[0]]
    target = trainer.run_dir / "league" / f"step_{step:07d}"
    if not target.exists():
        trainer.save(target)
    agent = make_agent(str(target), env, seed=derive_seed(trainer.config.seed, step, 21))
    policy = tabular_policy(agent_policy_table(agent, env))
    decision = league.add_checkpoint(step, policy, spec=str(target))
    if decision.accepted:
        league.add_best_response(policy, step=step)
    else:
        shutil.rmtree(target, ignore_errors=True)
    if league.sampler == "pfsp":
        league.measure(policy, step)
    league.log_state(step)
    return decision


def league_opponent(trainer: Any, entry: PoolEntry, env: Any) -> Any:
    """The agent that plays ``entry`` in the trainer's games: built once per entry, its random stream reseeded
    from ``(seed, step, entry)`` at each step it plays, so a resumed run draws the same moves as an
    uninterrupted one."""
    from gym_reason.agents import make_agent

    cache = trainer.__dict__.setdefault("_league_agents", {})
    if entry.name not in cache:
        seed = derive_seed(trainer.config.seed, 22, len(cache))
        if entry.spec is not None:
            agent = make_agent(entry.spec, env, seed=seed)
        else:
            agent = TabularAgent(entry.name, policy_table(trainer.league.game, entry.policy), env.answer_format, seed)
        cache[entry.name] = [agent, None]
    agent, seeded_at = cache[entry.name]
    if seeded_at != trainer.step:
        index = next(k for k, e in enumerate(trainer.league.entries) if e.name == entry.name)
        _reseed(agent, derive_seed(trainer.config.seed, 22, trainer.step, index))
        cache[entry.name][1] = trainer.step
    return agent


def _reseed(agent: Any, seed: int) -> None:
    """Restart an agent's random stream: a torch generator (LM agents) or a ``random.Random`` (bots, tables)."""
    generator = getattr(agent, "generator", None)
    if generator is not None and hasattr(generator, "manual_seed"):
        generator.manual_seed(seed)
    rng = getattr(agent, "rng", None)
    if isinstance(rng, random.Random):
        rng.seed(seed)


def league_state(trainer: Any) -> dict[str, Any] | None:
    """What a trainer checkpoint keeps of its league (``None`` without one)."""
    return None if trainer.league is None else trainer.league.state_dict(trainer.run_dir)


def restore_league(trainer: Any, state: Mapping[str, Any] | None) -> None:
    """Put the league of a checkpoint back (after ``trainer.step`` is set): the pool, payoffs, gate history and
    draws as they were at that step; ``<run>/league.jsonl`` loses the events of later steps (they will be logged
    again). A checkpoint without league state (taken with ``league: off``) starts an empty pool."""
    if trainer.league is None:
        return
    trainer.__dict__.pop("_league_agents", None)
    if state is None:
        trainer.league = build_league(trainer)
    else:
        trainer.league.load_state_dict(state, trainer.run_dir)
    keep_records(
        trainer.run_dir / "league.jsonl", lambda event: event.get("step") is None or event["step"] < trainer.step
    )
