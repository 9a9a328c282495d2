"""Prompts: how one turn of an env (``observation``, ``info``) becomes the text a language model reads.

>>> render_prompt("state", None, None, "gym_reason/KuhnPoker-v0", "You hold K.", {"role": "player_0", "state_key": "2"})
'KuhnPoker-v0|player_0|2|'
>>> legal_answers({"legal_actions": ("[check]", "[bet]")}), legal_answers({})
(['[check]', '[bet]'], None)
>>> action_grammar({"legal_actions": ("[check]", "[bet]")}).choices, action_grammar({})
(('[check]', '[bet]'), None)
"""

from __future__ import annotations

from typing import Any

from gym_reason.core import ACTION_GRAMMAR, LEGAL_ACTIONS, ROLE, STATE_KEY, ActionGrammar

PROMPT_LAYOUTS = ("state", "observation")
"""How a prompt is built from a turn (see :func:`render_prompt`)."""


def render_prompt(
    layout: str, tokenizer: Any, system_prompt: str | None, env_id: str, observation: str, info: dict[str, Any]
) -> str:
    """The prompt text of one turn.

    ``"state"``: ``env | role | information-state key``, a compact prompt for models that
    cannot read English (the tiny model); the role and the observation's text where the env
    gives no readable state key (e.g. a hashed TextArena key). ``"observation"``: the env's
    text observation, inside the tokenizer's chat template (with ``system_prompt``) when it
    has one.
    """
    if layout == "state" and isinstance(info.get(STATE_KEY), str):
        return f"{env_id.rpartition('/')[2]}|{info.get(ROLE, '')}|{info[STATE_KEY]}|"
    if layout == "state":
        return f"{info.get(ROLE, '')}|{observation}|"
    if getattr(tokenizer, "chat_template", None):
        messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
        messages.append({"role": "user", "content": observation})
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return observation


def legal_answers(info: dict[str, Any]) -> list[str] | None:
    """The env's legal answers for this turn, or ``None`` when it lists none."""
    legal = info.get(LEGAL_ACTIONS)
    return list(legal) if legal else None


def action_grammar(info: dict[str, Any]) -> ActionGrammar | None:
    """The language of this turn's valid replies, which decoding holds the model to: the env's
    ``info["action_grammar"]``, else the choice of its legal answers, else ``None`` (decoded free)."""
    grammar = info.get(ACTION_GRAMMAR)
    if grammar is not None:
        return grammar
    legal = info.get(LEGAL_ACTIONS)
    return ActionGrammar.choice(legal) if legal else None
