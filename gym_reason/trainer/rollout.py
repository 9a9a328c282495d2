"""Self-play rollouts: the learning policy's episodes of a step, on the episode engine.

:func:`play_episodes` plays the requests with the :class:`~gym_reason.eval.engine.Learner` (the
policy and the step's generator) in every seat a request leaves open, all episodes in flight, one
batched ``LMPolicy.sample`` per round (:mod:`gym_reason.eval.engine` does the playing, for
evaluation too). The records and their token-level :class:`Turn` objects are the engine's.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from gym_reason.eval.engine import Episode, EpisodeRequest, Learner, Turn
from gym_reason.eval.engine import play_episodes as play
from gym_reason.policy import LMPolicy

__all__ = ["Episode", "EpisodeRequest", "Turn", "play_episodes"]


def play_episodes(
    policy: LMPolicy,
    requests: Sequence[EpisodeRequest],
    generator: torch.Generator,
    max_rounds: int = 100_000,
    transcripts: bool = False,
    episode_timeout: float | None = None,
) -> list[Episode]:
    """Play every request to its end, the policy in the open seats; episodes whose env raised carry ``error``.

    ``transcripts`` keeps every move (Monte-Carlo step values replay episodes that had fixed opponents from them);
    ``episode_timeout`` cuts an episode after that many seconds (the engine's *Timeouts*)."""
    return play(
        requests,
        learner=Learner(policy, generator),
        max_rounds=max_rounds,
        transcripts=transcripts,
        episode_timeout=episode_timeout,
    )
