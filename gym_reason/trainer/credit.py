"""Credit assignment for one step: each learning turn's return, then its advantage by the configured estimator.

:func:`assign_advantages` turns the episodes of a step into the turns the update trains on; the
estimators themselves are pure functions in :mod:`gym_reason.trainer.advantages`.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from gym_reason.trainer import advantages as adv
from gym_reason.trainer.rollout import Episode, Turn

if TYPE_CHECKING:
    from gym_reason.trainer.loop import Trainer


def assign_advantages(trainer: Trainer, episodes: list[Episode]) -> list[Turn]:
    """Returns per turn, then advantages by the configured estimator; turns with zero advantage are dropped."""
    config = trainer.config
    turns: list[Turn] = []
    returns: list[float] = []
    for episode in episodes:
        by_agent: dict[str, list[Turn]] = defaultdict(list)
        for turn in episode.turns:
            by_agent[turn.role].append(turn)
        for agent_turns in by_agent.values():
            rewards = [adv.process_reward(t.components, t.reward, config.reward_weights) for t in agent_turns]
            if config.returns == "turn":
                values = adv.turn_returns(rewards, config.gamma)
            else:
                values = adv.episode_returns(rewards)
            turns.extend(agent_turns)
            returns.extend(values)
    keys = [(t.env_id, t.role) for t in turns]
    if config.advantage == "rae":
        values, trainer.baselines = adv.role_conditioned_advantages(keys, returns, trainer.baselines, config.rae_decay)
    elif config.advantage == "grpo":
        values = adv.group_normalized_advantages(keys, returns)
    else:
        values = adv.no_baseline(returns)
    kept = []
    for turn, value in zip(turns, values, strict=True):
        turn.advantage = value
        if value != 0.0 and turn.completion.decisions:
            kept.append(turn)
    return kept
