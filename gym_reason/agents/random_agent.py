"""The uniform random agent: a baseline every game supports."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from gym_reason.agents.base import Observation, register_agent_backend
from gym_reason.core import ACTION_GRAMMAR, GAME_OBSERVATION, LEGAL_ACTIONS, AnswerFormat


class RandomAgent:
    """Uniform over ``info["legal_actions"]``; for games whose moves cannot be listed, the game's own
    ``random_move`` from the player's view; elsewhere (a task: code, a final answer), with ``grammar``,
    a random string of the turn's action grammar (``info["action_grammar"]``, drawn by
    :func:`gym_reason.grammar.sample`), a valid reply that is almost never a good one: the floor a
    task's success rate is read against. The ``random`` agent spec samples grammars; the conformance
    checker builds its own without (it throws garbage at such envs instead)."""

    name = "random"

    def __init__(
        self,
        answer_format: str | AnswerFormat = "bracket",
        game: Any = None,
        seed: int | None = None,
        grammar: bool = False,
    ) -> None:
        self.answer_format = AnswerFormat.named(answer_format)
        self.grammar = grammar
        self.game = game
        self.rng = random.Random(seed)

    def act(self, batch: Sequence[Observation]) -> list[str]:
        answers = []
        for _obs, info in batch:
            legal = info.get(LEGAL_ACTIONS)
            if legal:
                answers.append(self.rng.choice(legal))
            elif self.game is not None and GAME_OBSERVATION in info:
                move = self.game.random_move(info[GAME_OBSERVATION], self.rng)
                answers.append(self.answer_format.wrap(move))
            elif self.grammar and info.get(ACTION_GRAMMAR) is not None:
                from gym_reason.grammar import sample  # llguidance: only where a grammar is the way to move

                answers.append(sample(info[ACTION_GRAMMAR], self.rng, 1)[0])
            else:
                raise ValueError(
                    "the random agent needs info['legal_actions'], info['action_grammar'] or a game that can "
                    "sample moves from info['game_observation']; this env provides none of them"
                )
        return answers

    def action_probabilities(self, batch: Sequence[Observation]) -> list[dict[str, float]]:
        """Uniform over each observation's legal answers."""
        out = []
        for _obs, info in batch:
            legal = list(info.get(LEGAL_ACTIONS) or [])
            if not legal:
                raise ValueError("the random agent's action probabilities need info['legal_actions']")
            out.append(dict.fromkeys(legal, 1 / len(legal)))
        return out


def _backend(rest: str, env: Any, seed: int | None) -> RandomAgent:
    if rest:
        raise ValueError(f"'random' takes no parameters, got 'random:{rest}'")
    return RandomAgent(getattr(env, "answer_format", "bracket"), getattr(env, "game", None), seed, grammar=True)


register_agent_backend("random", _backend)
