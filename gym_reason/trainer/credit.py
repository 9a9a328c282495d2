"""Credit assignment for one step: each learning turn's return, then its advantage by the configured estimator.

:func:`assign_advantages` turns the episodes of a step into the turns the update trains on; the
estimators themselves are pure functions in :mod:`gym_reason.trainer.advantages` (Monte-Carlo
step values play their continuations in :mod:`gym_reason.trainer.step_values`).

``advantage`` picks the estimator:

* ``rae`` (default), ``grpo``, ``none``: one return per turn (``returns: episode`` gives every turn
  the episode's return, ``turn`` the discounted reward-to-go), then a baseline per (env, role);
* ``state_grouped``: the turn's reward-to-go against the other turns of the batch from the same
  ``state_key`` (GiGPO-style);
* ``turn_grouped``: the turn's reward-to-go against the other episodes' at the same turn index
  (``turn_normalization: baseline``, unbiased, the default; ``per_turn`` is MT-GRPO's biased one);
* ``monte_carlo``: value after the move minus value before, each the mean of ``mc_continuations``
  continuations with the current policy.

Rewards are re-weighted by ``reward_weights`` (process rewards from ``reward_components``) first.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING

import torch

from gym_reason.core import derive_seed
from gym_reason.trainer import advantages as adv
from gym_reason.trainer.rollout import Episode, Turn
from gym_reason.trainer.step_values import monte_carlo_advantages, monte_carlo_step_values

if TYPE_CHECKING:
    from gym_reason.trainer.loop import Trainer


def assign_advantages(trainer: Trainer, episodes: list[Episode]) -> list[Turn]:
    """Returns per turn, then advantages by the configured estimator; turns with zero advantage are dropped."""
    config = trainer.config
    played = [e for e in episodes if e.error is None]
    values: list[float]
    if config.advantage == "monte_carlo":
        generator = torch.Generator().manual_seed(derive_seed(config.seed, trainer.step, 8))
        step_values = monte_carlo_step_values(
            trainer.policy,
            played,
            config.mc_continuations,
            trainer.make_env,
            generator,
            seed=derive_seed(config.seed, trainer.step, 9),
        )
        turns = [t for e in played for t in e.turns]
        # A turn with a failed continuation has no value: 0 drops it from the update below (never a guessed value).
        values = [0.0 if a is None else a for row in monte_carlo_advantages(step_values) for a in row]
    else:
        sequences = agent_turns(played)
        turns = [t for _, seq in sequences for t in seq]
        rewards = [
            [adv.process_reward(t.components, t.reward, config.reward_weights) for t in seq] for _, seq in sequences
        ]
        keys = [(seq[0].env_id, seq[0].role) for _, seq in sequences]
        if config.advantage == "turn_grouped":
            per_episode = (
                adv.turn_baseline_advantages(keys, rewards, config.gamma)
                if config.turn_normalization == "baseline"
                else adv.per_turn_normalized_advantages(keys, rewards)
            )
            values = [a for row in per_episode for a in row]
        else:
            to_go = config.returns == "turn" or config.advantage == "state_grouped"
            returns = [
                g for r in rewards for g in (adv.turn_returns(r, config.gamma) if to_go else adv.episode_returns(r))
            ]
            turn_keys = [(t.env_id, t.role) for t in turns]
            if config.advantage == "rae":
                values, trainer.baselines = adv.role_conditioned_advantages(
                    turn_keys, returns, trainer.baselines, config.rae_decay
                )
            elif config.advantage == "grpo":
                values = adv.group_normalized_advantages(turn_keys, returns)
            elif config.advantage == "state_grouped":
                states: list[Hashable] = [(t.env_id, t.role, t.state_key) for t in turns]
                values = adv.state_grouped_advantages(states, returns, turn_keys)
            else:
                values = adv.no_baseline(returns)
    kept = []
    for turn, value in zip(turns, values, strict=True):
        turn.advantage = value
        if value != 0.0 and turn.completion.decisions:
            kept.append(turn)
    return kept


def agent_turns(episodes: list[Episode]) -> list[tuple[Episode, list[Turn]]]:
    """Each episode's learning turns split by the seat (role) that played them, in the order played."""
    out = []
    for episode in episodes:
        by_role: dict[str, list[Turn]] = {}
        for turn in episode.turns:
            by_role.setdefault(turn.agent or turn.role, []).append(turn)  # per seat: seats may share a role
        out.extend((episode, seq) for seq in by_role.values())
    return out
