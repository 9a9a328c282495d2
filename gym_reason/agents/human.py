"""A person at the terminal: shows each observation and reads one answer per line."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, TextIO

from gym_reason.agents.base import Observation, register_agent_backend
from gym_reason.core import AnswerFormat


class HumanAgent:
    """Reads one line per move; a bare move (``bet``) is put in the answer format for the person."""

    name = "human"

    def __init__(
        self,
        answer_format: str | AnswerFormat = "bracket",
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
    ) -> None:
        self.answer_format = AnswerFormat.named(answer_format)
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout

    def act(self, batch: Sequence[Observation]) -> list[str]:
        answers = []
        for obs, _info in batch:
            print(f"\n{obs}\n> ", end="", file=self.stdout, flush=True)
            line = self.stdin.readline()
            if not line:
                raise EOFError("the human agent's input ended (stdin closed) before the game did")
            line = line.rstrip("\n")
            answers.append(line if self.answer_format.extract(line) is not None else self.answer_format.wrap(line))
        return answers


def _backend(rest: str, env: Any, seed: int | None) -> HumanAgent:
    if rest:
        raise ValueError(f"'human' takes no parameters, got 'human:{rest}'")
    return HumanAgent(getattr(env, "answer_format", "bracket"))


register_agent_backend("human", _backend)
