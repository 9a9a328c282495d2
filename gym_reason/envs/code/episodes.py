"""What the code envs share about their episode state: it exists only after ``reset`` and ends once."""

from __future__ import annotations

from typing import Any


class EpisodeGuard:
    """Mixin for an env that keeps its episode in ``self._episode`` (``None`` before ``reset``; ``.done`` at the end)."""

    _episode: Any

    def _require_started(self) -> Any:
        if self._episode is None:
            raise RuntimeError("call reset() before using the env")
        return self._episode

    def _require_live(self) -> Any:
        episode = self._require_started()
        if episode.done:
            raise RuntimeError("the episode is over; call reset() to start a new one")
        return episode
