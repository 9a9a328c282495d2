"""The OpenAI-compatible agent over real HTTP, against the scripted server of ``openai_server.py``."""

from __future__ import annotations

import asyncio
import re
import socket
import time
from typing import Any

import pytest

import gym_reason
from gym_reason.agents import AgentError, make_agent
from gym_reason.agents.openai_agent import OpenAIAgent, OpenAIConfigError, OpenAIUnreachableError
from gym_reason.core import ACTION_FORMAT, INVALID_ACTION, PARSED_ACTION
from tests.agents.openai_server import Reply, ScriptedServer

FAST = {"backoff_base": 0.01, "backoff_max": 0.05, "timeout": 2.0}
"""Retry settings that keep the failure tests quick."""


def _agent(server: ScriptedServer, **kwargs: Any) -> OpenAIAgent:
    return OpenAIAgent("test-model", server.url, **{**FAST, **kwargs})


def _batch(n: int) -> list[tuple[str, dict[str, Any]]]:
    return [(f"obs {i}", {ACTION_FORMAT: "Write your move in square brackets, e.g. [move]."}) for i in range(n)]


def _first_legal_move(body: dict[str, Any]) -> str:
    user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    match = re.search(r"Your legal moves: (\[\w+\])", user)
    return f"Thinking it over, I will play {match[1]}" if match else "no idea"


def _play_hand(env: Any, agents: dict[str, Any], seed: int) -> list[tuple[str, str, dict[str, Any]]]:
    """One game; returns ``(player, answer, info after the move)`` for every move."""
    env.reset(seed=seed)
    moves = []
    for player in env.agent_iter():
        obs, _reward, terminated, truncated, info = env.last()
        if terminated or truncated:
            env.step(None)
            continue
        answer = agents[player].act([(obs, info)])[0]
        env.step(answer)
        moves.append((player, answer, env.infos[player]))
    return moves


# --- replies and real games ------------------------------------------------------------------------
def test_plays_kuhn_poker_with_replies_verbatim(openai_server: ScriptedServer, monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    openai_server.responder = _first_legal_move
    env = gym_reason.make("kuhn_poker")
    spec = f"openai:test-model@{openai_server.url}"
    with make_agent(spec, env, seed=1) as first, make_agent(spec, env, seed=2) as second:
        moves = _play_hand(env, {"player_0": first, "player_1": second}, seed=0)
    assert [answer for _, answer, _ in moves] == ["Thinking it over, I will play [check]"] * 2
    assert all(info[INVALID_ACTION] is False and info[PARSED_ACTION] == "check" for _, _, info in moves)
    assert first.last_tokens == [len(moves[0][1].split())]

    request = openai_server.requests[0]
    assert request.path == "/v1/chat/completions"
    assert "authorization" not in request.headers  # no key set: none sent
    body = request.body
    assert body["model"] == "test-model"
    assert body["temperature"] == 1.0 and body["max_tokens"] == 1024 and isinstance(body["seed"], int)
    system, user = body["messages"]
    assert system["role"] == "system" and "Write your move in square brackets" in system["content"]
    assert user["role"] == "user" and "You are Player 0 in Kuhn Poker" in user["content"]


def test_unparseable_reply_is_an_invalid_move_not_an_exception(openai_server: ScriptedServer) -> None:
    openai_server.default = Reply("I would rather not say.")
    env = gym_reason.make("kuhn_poker")
    with make_agent(f"openai:test-model@{openai_server.url}", env) as agent:
        moves = _play_hand(env, {"player_0": agent, "player_1": agent}, seed=0)
    player, answer, info = moves[0]
    assert (player, answer) == ("player_0", "I would rather not say.")
    assert info[INVALID_ACTION] is True and info[PARSED_ACTION] is None


def test_missing_content_is_an_empty_answer(openai_server: ScriptedServer) -> None:
    openai_server.push(Reply(content=None, usage=False))
    with _agent(openai_server) as agent:
        assert agent.act(_batch(1)) == [""]
        assert agent.last_tokens == [None]
        assert agent.stats["failures"] == 0


def test_batch_keeps_order_sends_key_and_counts_usage(openai_server: ScriptedServer, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    openai_server.responder = lambda body: f"answer to {body['messages'][-1]['content']} [bet]"
    with _agent(openai_server, seed=7, system_prompt=None) as agent:
        answers = agent.act(_batch(5))
    assert answers == [f"answer to obs {i} [bet]" for i in range(5)]
    assert agent.last_tokens == [5] * 5
    assert agent.stats == {"requests": 5, "retries": 0, "failures": 0, "prompt_tokens": 10, "completion_tokens": 25}
    assert {r.headers["authorization"] for r in openai_server.requests} == {"Bearer sk-test"}
    assert all(len(r.body["messages"]) == 1 for r in openai_server.requests)  # system_prompt=None: none sent
    assert len({r.body["seed"] for r in openai_server.requests}) == 5  # each request its own seed


def test_empty_batch(openai_server: ScriptedServer) -> None:
    with _agent(openai_server) as agent:
        assert agent.act([]) == []
    assert openai_server.requests == []


# --- retries -------------------------------------------------------------------------------------------
def test_server_error_is_retried(openai_server: ScriptedServer) -> None:
    openai_server.push(Reply(status=500), "[bet]")
    with _agent(openai_server) as agent:
        assert agent.act(_batch(1)) == ["[bet]"]
    assert len(openai_server.requests) == 2
    assert agent.stats["retries"] == 1 and agent.stats["requests"] == 2


def test_persistent_failure_keeps_the_other_answers(openai_server: ScriptedServer) -> None:
    def responder(body: dict[str, Any]) -> Reply | str:
        obs = body["messages"][-1]["content"]
        return Reply(status=503, error="overloaded") if obs == "obs 1" else f"[{obs}]"

    openai_server.responder = responder
    with _agent(openai_server, retries=2) as agent, pytest.raises(AgentError) as caught:
        agent.act(_batch(3))
    assert caught.value.answers == ["[obs 0]", None, "[obs 2]"]
    assert list(caught.value.errors) == [1]
    assert "HTTP 503: overloaded" in caught.value.errors[1] and "2 retries" in caught.value.errors[1]
    assert sum(r.user_message == "obs 1" for r in openai_server.requests) == 3
    assert agent.stats["failures"] == 1 and agent.stats["retries"] == 2
    assert agent.last_tokens[1] is None and agent.last_tokens[0] == 2  # "[obs 0]": two words


def test_timeout_is_retried_then_reported(openai_server: ScriptedServer) -> None:
    openai_server.default = Reply(delay=1.0)
    start = time.monotonic()
    with _agent(openai_server, timeout=0.2, retries=1) as agent, pytest.raises(AgentError) as caught:
        agent.act(_batch(1))
    assert time.monotonic() - start < 1.0
    assert "no reply within 0.2 s" in caught.value.errors[0]
    assert caught.value.answers == [None]
    assert len(openai_server.requests) == 2


def test_malformed_json_is_retried(openai_server: ScriptedServer) -> None:
    openai_server.push(Reply(body="{not json"), "[call]")
    with _agent(openai_server) as agent:
        assert agent.act(_batch(1)) == ["[call]"]
    openai_server.default = Reply(body="{not json")
    with _agent(openai_server, retries=1) as agent, pytest.raises(AgentError, match="malformed reply"):
        agent.act(_batch(1))


@pytest.mark.parametrize(("retry_after", "cap", "least", "most"), [("0.3", 30.0, 0.3, 1.5), ("100", 0.3, 0.3, 1.5)])
def test_retry_after_is_honoured_and_capped(
    openai_server: ScriptedServer, retry_after: str, cap: float, least: float, most: float
) -> None:
    openai_server.push(Reply(status=429, headers={"Retry-After": retry_after}), "[fold]")
    with _agent(openai_server, backoff_base=0.001, max_retry_after=cap) as agent:
        start = time.monotonic()
        assert agent.act(_batch(1)) == ["[fold]"]
        assert least <= time.monotonic() - start < most
    assert len(openai_server.requests) == 2


def test_other_client_errors_are_not_retried(openai_server: ScriptedServer) -> None:
    openai_server.default = Reply(status=400, error="prompt is longer than the context")
    with _agent(openai_server) as agent, pytest.raises(AgentError, match="longer than the context"):
        agent.act(_batch(1))
    assert len(openai_server.requests) == 1


def test_concurrency_limit(openai_server: ScriptedServer) -> None:
    openai_server.default = Reply("[check]", delay=0.15)
    with _agent(openai_server, max_concurrency=4) as agent:
        assert agent.act(_batch(20)) == ["[check]"] * 20
    assert len(openai_server.requests) == 20
    assert 2 <= openai_server.max_in_flight <= 4


# --- errors the user must fix: raised at once ------------------------------------------------------
def test_refused_key_names_the_variable(openai_server: ScriptedServer, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong")
    openai_server.default = Reply(status=401, error="Incorrect API key provided")
    with _agent(openai_server) as agent, pytest.raises(OpenAIConfigError) as caught:
        agent.act(_batch(3))
    message = str(caught.value)
    assert "OPENAI_API_KEY" in message and "refused the API key" in message and "Incorrect API key" in message
    assert "sk-wrong" not in message
    assert isinstance(caught.value, ValueError) and caught.value.status == 401
    assert len(openai_server.requests) <= 3  # no retries


@pytest.mark.parametrize("case", ["missing /v1", "unknown model"])
def test_not_found_explains_url_or_model(case: str) -> None:
    with ScriptedServer(known_models={"test-model"}) as server:
        url, model = (server.root, "test-model") if case == "missing /v1" else (server.url, "no-such-model")
        with OpenAIAgent(model, url, **FAST) as agent, pytest.raises(OpenAIConfigError) as caught:
            agent.act(_batch(1))
        assert len(server.requests) == 1
    message = str(caught.value)
    assert "/v1" in message and repr(model) in message
    assert ("Not found" if case == "missing /v1" else "`no-such-model` does not exist") in message


def test_nothing_listening_names_the_url() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    with OpenAIAgent("test-model", url, retries=1, **FAST) as agent, pytest.raises(OpenAIUnreachableError) as caught:
        agent.act(_batch(2))
    message = str(caught.value)
    assert f"nothing is listening at {url}" in message and "vllm serve" in message
    assert isinstance(caught.value, ConnectionError)


def test_server_gone_mid_run_fails_the_batch_not_the_run() -> None:
    server = ScriptedServer().start()
    agent = _agent(server, retries=1)
    assert agent.act(_batch(1)) == ["[check]"]
    server.stop()  # it answered once, so a refusal now is trouble to report per game, not a wrong URL
    with agent, pytest.raises(AgentError, match="could not connect") as caught:
        agent.act(_batch(2))
    assert caught.value.answers == [None, None]


def test_act_inside_a_running_event_loop(openai_server: ScriptedServer) -> None:
    async def play() -> list[str]:
        return agent.act(_batch(2))

    with _agent(openai_server) as agent:
        assert asyncio.run(play()) == ["[check]", "[check]"]


def test_closed_agent_says_so(openai_server: ScriptedServer) -> None:
    with _agent(openai_server) as agent:
        pass
    with pytest.raises(RuntimeError, match="was closed"):
        agent.act(_batch(1))


@pytest.mark.parametrize(
    "spec", ["openai:gpt-4o-mini", "openai:gpt-4o-mini@127.0.0.1:8000/v1", "openai:@http://127.0.0.1:8000/v1"]
)
def test_bad_spec(spec: str) -> None:
    with pytest.raises(ValueError) as caught:
        make_agent(spec, gym_reason.make("kuhn_poker"))
    message = str(caught.value)
    assert spec in message and "openai:MODEL@http://host:port/v1" in message and "e.g. openai:gpt-4o-mini@" in message


def test_model_name_may_contain_at() -> None:
    with make_agent("openai:claude@2024@http://127.0.0.1:9/v1", gym_reason.make("kuhn_poker")) as agent:
        assert (agent.model, agent.base_url) == ("claude@2024", "http://127.0.0.1:9/v1")
