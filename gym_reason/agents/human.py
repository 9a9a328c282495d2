"""A person at the terminal: shows each observation and reads one answer per line."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, TextIO

from gym_reason.agents.base import Observation, register_agent_backend
from gym_reason.core import LEGAL_ACTIONS, AnswerFormat


class HumanAgent:
    """Reads one line per move; a bare move (``bet``) is put in the answer format for the person.

    A person is not a model being trained: where the env lists the legal answers
    (``info["legal_actions"]``), an answer outside them (a typo, ``call`` when facing a check)
    is not sent to the env as an invalid move; the agent says what is legal and asks again.
    Case and surrounding spaces are forgiven (``Bet`` is ``[bet]``). Envs that list no legal
    answers (free-form negotiation, TextArena games) get the line as typed.
    """

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
        for obs, info in batch:
            print(f"\n{obs}\n> ", end="", file=self.stdout, flush=True)
            legal = list(info.get(LEGAL_ACTIONS) or [])
            while True:
                typed = self._read()
                answer = typed if self.answer_format.extract(typed) is not None else self.answer_format.wrap(typed)
                if not legal or answer in legal:
                    break
                match = self._legal_match(answer, legal)
                if match is not None:
                    answer = match
                    break
                moves = [self.answer_format.extract(a) or a for a in legal]
                print(
                    f"{typed!r} is not a legal move here; legal: {', '.join(moves)}. Type one of them (e.g. {moves[0]}).\n> ",
                    end="",
                    file=self.stdout,
                    flush=True,
                )
            answers.append(answer)
        return answers

    def _read(self) -> str:
        line = self.stdin.readline()
        if not line:
            raise EOFError("the human agent's input ended (stdin closed) before the game did")
        return line.strip()

    def _legal_match(self, answer: str, legal: list[str]) -> str | None:
        """The legal answer that ``answer`` names up to case and spaces, if exactly one does."""
        move = self.answer_format.extract(answer)
        key = " ".join((move if move is not None else answer).split()).lower()
        matches = [a for a in legal if " ".join((self.answer_format.extract(a) or a).split()).lower() == key]
        return matches[0] if len(matches) == 1 else None


def _backend(rest: str, env: Any, seed: int | None) -> HumanAgent:
    if rest:
        raise ValueError(f"'human' takes no parameters, got 'human:{rest}'")
    return HumanAgent(getattr(env, "answer_format", "bracket"))


register_agent_backend("human", _backend)
