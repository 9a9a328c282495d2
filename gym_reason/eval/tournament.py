"""Tournaments: every pair of a pool plays, ratings are fitted, and a leaderboard is built.

:func:`tournament` plays ``games`` games for every unordered pair of agent specs
(paired seeds, as in :mod:`gym_reason.eval.evaluation`: each deal from both
seats), all pairs in flight together so batched agents answer many games per
call, then fits Bradley–Terry and openskill ratings
(:mod:`gym_reason.eval.ratings`) and returns a
:class:`~gym_reason.eval.leaderboard.Leaderboard`.

With paired seeds the rated unit is the deal, as in duplicate poker: whoever
won more reward over the deal's two games (one per seat) wins it, so chip sizes
count and the cards' luck cancels (see :func:`pair_results`). Failed games (an
agent that could not answer) are left out.

:func:`default_pool` is the pool ``gym-reason leaderboard`` uses: ``random``,
every fixed opponent of the game, and the self-play checkpoints shipped in
``leaderboards/agents/<game>/``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import gym_reason
from gym_reason import registry
from gym_reason.agents.base import Agent, fixed_agent_names, make_agent
from gym_reason.core import Outcome, derive_seed
from gym_reason.eval.agent_policy import agent_exploitability, exploitability_unsupported_reason
from gym_reason.eval.engine import Episode, ProgressHook
from gym_reason.eval.evaluation import play_matchups
from gym_reason.eval.leaderboard import Leaderboard, build_leaderboard
from gym_reason.eval.ratings import PairResult, rate_tournament

SHIPPED_AGENTS = Path("leaderboards") / "agents"
"""Checkpoints that take part in the committed leaderboards, one folder per game alias."""


def default_pool(env: Any, alias: str, agents_dir: str | Path = SHIPPED_AGENTS) -> list[str]:
    """``random``, every ``fixed:`` opponent of ``env``'s game, and each checkpoint in ``agents_dir/<alias>/``."""
    game = getattr(getattr(env, "game", None), "name", None)
    pool = ["random"] + [f"fixed:{name}" for name in (fixed_agent_names(game) if game else [])]
    shipped = Path(agents_dir) / alias
    if shipped.is_dir():
        pool += sorted(str(p) for p in shipped.iterdir() if p.is_dir())
    return pool


def pair_results(records: Sequence[Episode], a: str, b: str, *, by_deal: bool = True) -> PairResult:
    """``a``'s wins, losses and draws against ``b`` over the played (not failed) games.

    With ``by_deal`` (paired seeds) the unit is the deal, as in duplicate poker: ``a`` wins a deal
    when its rewards summed over the deal's games (one per seat) exceed ``b``'s, so chip sizes count
    and the luck of the cards cancels. A deal with a failed game is left out. Otherwise each game
    counts by its outcome: an invalid move is a loss for the one who made it, a game cut by the
    turn limit a draw.
    """
    wins = losses = draws = 0
    rewards: list[float] = []
    if by_deal:
        deals: dict[int, list[Episode]] = {}
        for record in records:
            deals.setdefault(record.seed, []).append(record)
        for deal in deals.values():
            if any(r.failed for r in deal):
                continue
            margin = sum(r.rewards[r.seats.index(a)] - r.rewards[r.seats.index(b)] for r in deal)
            wins += margin > 0
            losses += margin < 0
            draws += margin == 0
            rewards += [r.rewards[r.seats.index(a)] for r in deal]
    else:
        for record in records:
            if record.failed:
                continue
            seat = record.seats.index(a)
            outcome = record.outcomes[seat]
            wins += outcome == Outcome.WIN
            losses += outcome in (Outcome.LOSS, Outcome.FORFEIT)
            draws += outcome in (Outcome.DRAW, Outcome.TRUNCATED)
            rewards.append(record.rewards[seat])
    return PairResult(
        a=a, b=b, wins=wins, losses=losses, draws=draws, mean_reward=sum(rewards) / len(rewards) if rewards else None
    )


def tournament(
    env_id: str,
    pool: Sequence[str],
    games: int,
    seed: int = 0,
    *,
    env_kwargs: dict[str, Any] | None = None,
    paired: bool = True,
    concurrency: int = 256,
    name: str | None = None,
    command: Sequence[str] | None = None,
    agents: dict[str, Agent] | None = None,
    on_game: Callable[[Episode], None] | None = None,
    progress: ProgressHook | None = None,
) -> Leaderboard:
    """Play every pair of ``pool`` (agent specs) ``games`` times on ``env_id`` and rate them.

    ``agents`` may supply ready agents for some specs (keyed by spec); the others are built
    with :func:`~gym_reason.agents.base.make_agent`, each with its own seed. ``progress`` hears of every game
    (:class:`~gym_reason.eval.engine.ProgressHook`).
    """
    specs = list(dict.fromkeys(pool))
    if len(specs) < 2:
        raise ValueError(f"a tournament needs at least two different agents, got pool {list(pool)}")
    env_kwargs = dict(env_kwargs or {})

    def make_env() -> Any:
        return gym_reason.make(env_id, **env_kwargs)

    probe = make_env()
    if not hasattr(probe, "agent_iter") or len(probe.possible_agents) != 2:
        raise ValueError(f"tournaments are for two-player games; {env_id!r} is not one")
    built = dict(agents or {})
    for k, spec in enumerate(specs):
        if spec not in built:
            built[spec] = make_agent(spec, probe, seed=derive_seed(seed, 3, k))
    pairs = list(itertools.combinations(specs, 2))
    groups = play_matchups(make_env, pairs, built, 2, games, seed, paired=paired, concurrency=concurrency,
                           on_game=on_game, progress=progress)  # fmt: skip
    records = [r for group in groups for r in group]
    results = [pair_results(group, a, b, by_deal=paired) for group, (a, b) in zip(groups, pairs, strict=True)]
    played = [r for r in results if r.games]
    failed_records = [r for r in records if r.failed]
    if not played:
        raise ValueError(
            f"every game of the tournament failed, so nothing can be rated; first error: {failed_records[0].error}"
        )
    ratings = rate_tournament(played, seed=seed)
    full_id = registry.env_id_of(probe, env_id)
    provenance: dict[str, Any] = {
        "pool": specs,
        "games_per_pair": len(groups[0]),
        "paired_seeds": paired,
        "rated_unit": "deal (one game per seat, rewards summed)" if paired else "game",
        "seed": seed,
        "env_kwargs": env_kwargs,
        "failed_games": len(failed_records),
        "command": list(command) if command is not None else None,
    }
    exploitability = pool_exploitability(probe, {spec: built[spec] for spec in specs})
    return build_leaderboard(
        full_id, played, ratings, name=name, provenance=provenance, exploitability=exploitability or None
    )


def pool_exploitability(env: Any, agents: dict[str, Agent]) -> dict[str, float | None]:
    """Each agent's exact exploitability on ``env``'s game (the leaderboard's column): empty when the game
    cannot be solved exactly, ``None`` for an agent that cannot report move probabilities (a served model)."""
    if exploitability_unsupported_reason(env) is not None:
        return {}
    return {
        spec: agent_exploitability(agent, env, spec).exploitability
        if callable(getattr(agent, "action_probabilities", None))
        else None
        for spec, agent in agents.items()
    }
