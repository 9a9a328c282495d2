"""Playing games between agents and tallying what happened.

:func:`play_game` runs one episode of a multi-agent env with one agent per seat;
:func:`play_games` runs many with per-game seeds (optionally alternating seats)
and returns a :class:`Tally` per agent spec: outcomes and the mean reward with
a 95% confidence interval.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from gym_reason.agents.base import Agent
from gym_reason.core import INVALID_ACTION, OUTCOME, Outcome


@dataclass
class GameRecord:
    seed: int
    seats: list[str]
    """Agent label for each seat, player_0 first."""
    rewards: list[float]
    outcomes: list[Outcome]
    invalid_moves: list[int]
    turns: int


@dataclass
class Tally:
    label: str
    games: int = 0
    outcomes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(map(str, Outcome), 0))
    rewards: list[float] = field(default_factory=list)
    invalid_moves: int = 0

    @property
    def mean_reward(self) -> float:
        return sum(self.rewards) / len(self.rewards) if self.rewards else 0.0

    def reward_interval(self, z: float = 1.959964) -> tuple[float, float]:
        """Normal-approximation confidence interval of the mean reward (95% by default)."""
        n = len(self.rewards)
        if n < 2:
            return (-math.inf, math.inf)
        mean = self.mean_reward
        var = sum((r - mean) ** 2 for r in self.rewards) / (n - 1)
        half = z * math.sqrt(var / n)
        return (mean - half, mean + half)


def play_game(
    env: Any,
    agents: Sequence[Agent],
    seed: int,
    on_step: Callable[[str, str, dict[str, Any], str | None], None] | None = None,
) -> tuple[list[float], list[Outcome], list[int], int]:
    """One episode; returns each seat's total reward, outcome, invalid-move count, and the number of moves."""
    env.reset(seed=seed)
    index = {a: i for i, a in enumerate(env.possible_agents)}
    totals = [0.0] * len(index)
    outcomes: list[Outcome] = [Outcome.TRUNCATED] * len(index)
    invalid = [0] * len(index)
    moves = 0
    for agent in env.agent_iter():
        obs, reward, terminated, truncated, info = env.last()
        i = index[agent]
        totals[i] += reward
        if terminated or truncated:
            outcomes[i] = Outcome(info[OUTCOME])
            action = None
        else:
            action = agents[i].act([(obs, info)])[0]
            moves += 1
        if on_step is not None:
            on_step(agent, obs, info, action)
        env.step(action)
        if action is not None and env.infos.get(agent, {}).get(INVALID_ACTION):
            invalid[i] += 1
    return totals, outcomes, invalid, moves


def play_games(
    env: Any,
    agents: Sequence[Agent],
    labels: Sequence[str],
    games: int,
    seed: int = 0,
    alternate_seats: bool = False,
    on_game: Callable[[GameRecord], None] | None = None,
    on_step: Callable[[str, str, dict[str, Any], str | None], None] | None = None,
) -> dict[str, Tally]:
    """Play ``games`` episodes (seed ``seed + g``); with ``alternate_seats`` game ``g`` rotates the seats by ``g``.

    Agents that share a label share a tally (a bot against itself counts once per seat).
    """
    if len(agents) != len(env.possible_agents) or len(labels) != len(agents):
        raise ValueError(
            f"{len(agents)} agents / {len(labels)} labels for an env with {len(env.possible_agents)} seats "
            f"({env.possible_agents}); give exactly one agent per seat"
        )
    tallies: dict[str, Tally] = {}
    for label in labels:
        tallies.setdefault(label, Tally(label))
    n = len(agents)
    for g in range(games):
        shift = g % n if alternate_seats else 0
        order = [(k + shift) % n for k in range(n)]  # order[seat] = index into agents
        seated = [agents[k] for k in order]
        rewards, outcomes, invalid, moves = play_game(env, seated, seed + g, on_step)
        for seat, k in enumerate(order):
            tally = tallies[labels[k]]
            tally.games += 1
            tally.outcomes[str(outcomes[seat])] += 1
            tally.rewards.append(rewards[seat])
            tally.invalid_moves += invalid[seat]
        if on_game is not None:
            on_game(GameRecord(seed + g, [labels[k] for k in order], rewards, outcomes, invalid, moves))
    return tallies
