"""A person at the terminal: shows each observation and reads one answer per line."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, TextIO

from gym_reason.agents.base import Observation, register_agent_backend


class HumanAgent:
    name = "human"

    def __init__(self, stdin: TextIO | None = None, stdout: TextIO | None = None) -> None:
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout

    def act(self, batch: Sequence[Observation]) -> list[str]:
        answers = []
        for obs, _info in batch:
            print(f"\n{obs}\n> ", end="", file=self.stdout, flush=True)
            line = self.stdin.readline()
            if not line:
                raise EOFError("the human agent's input ended (stdin closed) before the game did")
            answers.append(line.rstrip("\n"))
        return answers


def _backend(rest: str, env: Any, seed: int | None) -> HumanAgent:
    if rest:
        raise ValueError(f"'human' takes no parameters, got 'human:{rest}'")
    return HumanAgent()


register_agent_backend("human", _backend)
