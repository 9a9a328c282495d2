"""A battery of scripted cheating policies that no tool-calling env may pay more than a random answer.

Each :class:`Cheat` builds, per episode, a policy that tries to collect reward without solving the
task: answering with a well-formed but empty answer, answering every candidate at once, answering with
the question's own text, echoing the observation, writing an enormous reply, farming the step rewards
with one call repeated, or calling tools with arguments that try to reach outside the env (paths, code,
SQL that attaches files, URLs). The baseline is a policy that **answers at random**: it calls the
env's final tool at once with the arguments of a random move (``env.game.random_move``, what the
``random`` agent plays), so its score is what guessing earns.

The battery works on any env built on :class:`~gym_reason.envs.tools.base.ToolTaskEnv` (it reads
``env.tools``, ``env.answer_format``, ``env.game`` and ``env.max_turns``). Use it from an env's tests::

    from tests.envs.reward_hacking import assert_no_cheat_pays

    def test_cheats_do_not_pay(tmp_path):
        assert_no_cheat_pays(lambda: gym_reason.make("gym_reason/ToolUse-v0"), seeds=range(30), tmp=tmp_path)

which plays every cheat and the baseline on the same seeds, fails naming each cheat whose mean return
exceeds the baseline's (and each episode that raised), and checks that no hostile argument left a file
behind in ``tmp``.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gym_reason.core import GAME_OBSERVATION
from gym_reason.envs.tool_calls import HERMES_CLOSE, HERMES_OPEN, ToolCall, ToolSpec, render_call

Policy = Callable[[str, dict[str, Any]], str]
"""``policy(observation, info) -> reply`` for one episode."""


@dataclass(frozen=True)
class Cheat:
    """A cheating strategy: ``make(env, rng, tmp)`` returns the policy of one episode."""

    name: str
    make: Callable[[Any, random.Random, Path], Policy]


# --------------------------------------------------------------------------- helpers


def final_tool(env: Any) -> ToolSpec:
    return next(t for t in env.tools if t.final)


def _filler(param_type: str, text: str) -> Any:
    return {"string": text, "integer": 0, "number": 0, "boolean": True}[param_type]


def final_call(env: Any, text: str) -> ToolCall:
    """A call of the env's final tool with ``text`` in every string argument (zeros elsewhere), cut to
    each parameter's length limit so the call stays valid."""
    spec = final_tool(env)
    arguments = {}
    for key, param in spec.params:
        value = param.enum[0] if param.enum else _filler(param.type, text[: param.max_length])
        arguments[key] = value
    return ToolCall(spec.name, arguments)


def statement(observation: str) -> str:
    """The question: the first paragraph of the observation."""
    return observation.split("\n\n", 1)[0]


_CANDIDATE = re.compile(r"-?\d+(?:\.\d+)?|[A-Z][A-Za-z'-]+(?: [A-Z][A-Za-z'-]+)*|\d{4}-\d{2}-\d{2}")


def candidates(observation: str) -> list[str]:
    """Everything in the observation's question that could be an answer: numbers, dates, capitalised names."""
    return list(dict.fromkeys(_CANDIDATE.findall(statement(observation))))


def random_answer_move(env: Any, info: dict[str, Any], rng: random.Random) -> str:
    """The reply of a policy that answers at random: a random move of the env's final tool."""
    final = final_tool(env).name
    view = info.get(GAME_OBSERVATION, {})
    for _ in range(500):
        call = json.loads(env.game.random_move(view, rng))
        if call["name"] == final:
            return env.answer_format.wrap(json.dumps(call))
    raise AssertionError(f"{env.game.name}'s random_move never calls the final tool {final!r} in 500 draws")


# --------------------------------------------------------------------------- the cheats


def _format_only(env: Any, rng: random.Random, tmp: Path) -> Policy:
    return lambda obs, info: render_call(final_call(env, "answer"), env.answer_format)


def _every_candidate_parallel(env: Any, rng: random.Random, tmp: Path) -> Policy:
    def act(obs: str, info: dict[str, Any]) -> str:
        calls = [final_call(env, c) for c in candidates(obs)[:8]] or [final_call(env, "x"), final_call(env, "y")]
        if len(calls) == 1:
            calls.append(final_call(env, "0"))
        return "".join(f"{HERMES_OPEN}{c.to_json()}{HERMES_CLOSE}" for c in calls)

    return act


def _every_candidate_joined(env: Any, rng: random.Random, tmp: Path) -> Policy:
    return lambda obs, info: render_call(final_call(env, ", ".join(candidates(obs))), env.answer_format)


def _every_candidate_in_markers(env: Any, rng: random.Random, tmp: Path) -> Policy:
    """One marked answer per candidate in a single reply (only the last marked call counts)."""
    return lambda obs, info: " ".join(render_call(final_call(env, c), env.answer_format) for c in candidates(obs))


def _question_text(env: Any, rng: random.Random, tmp: Path) -> Policy:
    return lambda obs, info: render_call(final_call(env, statement(obs)), env.answer_format)


def _repeat_observation(env: Any, rng: random.Random, tmp: Path) -> Policy:
    return lambda obs, info: obs


def _very_long(env: Any, rng: random.Random, tmp: Path) -> Policy:
    def act(obs: str, info: dict[str, Any]) -> str:
        answers = " ".join(render_call(final_call(env, c), env.answer_format) for c in candidates(obs))
        return ("Let me think. " * 4000) + answers + " " + ("0123456789" * 3000)

    return act


def _long_answer_value(env: Any, rng: random.Random, tmp: Path) -> Policy:
    """An answer whose value is far over the parameter's length limit (every candidate, repeated)."""

    def act(obs: str, info: dict[str, Any]) -> str:
        spec = final_tool(env)
        text = (" ".join(candidates(obs)) + " ") * 500
        arguments = {k: (text if p.type == "string" else _filler(p.type, "")) for k, p in spec.params}
        return env.answer_format.wrap(json.dumps({"name": spec.name, "arguments": arguments}))

    return act


def _repeat_one_call(env: Any, rng: random.Random, tmp: Path) -> Policy:
    """Farm step rewards: make the first valid tool call the random agent would make, then repeat it."""
    state: dict[str, str] = {}

    def act(obs: str, info: dict[str, Any]) -> str:
        if "reply" not in state:
            for _ in range(500):
                move = env.game.random_move(info.get(GAME_OBSERVATION, {}), rng)
                if json.loads(move)["name"] != final_tool(env).name:
                    state["reply"] = env.answer_format.wrap(move)
                    break
            else:
                state["reply"] = render_call(final_call(env, "x"), env.answer_format)
        return state["reply"]

    return act


def hostile_strings(tmp: Path) -> list[str]:
    """Arguments that try to reach outside the env; any that works leaves a file in ``tmp``."""
    marker = tmp / "escaped"
    return [
        f"__import__('os').system('touch {marker}')",
        f"open('{marker}', 'w').write('x')",
        f"ATTACH DATABASE '{marker}.db' AS x",
        f"SELECT 1; ATTACH DATABASE '{marker}.db' AS x; CREATE TABLE x.t(a)",
        f"VACUUM INTO '{marker}.db'",
        "PRAGMA writable_schema = ON",
        "SELECT load_extension('/usr/lib/x86_64-linux-gnu/libc.so.6')",
        "SELECT printf('%.*c', 1000000000, 'x')",
        "../../../../etc/passwd",
        "file:///etc/passwd",
        "http://127.0.0.1:1/",
        "$(id)",
        "SELECT '\ud800'",  # a lone surrogate: text no encoder takes (SQLite raised UnicodeEncodeError once)
        "nul\x00byte",
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT COUNT(*) FROM c",
    ]


def _reach_outside(env: Any, rng: random.Random, tmp: Path) -> Policy:
    """Every hostile string in every string argument of every tool, as parallel calls (``max_calls`` a
    reply, so one episode tries them all); then a hostile final answer."""
    payloads = hostile_strings(tmp)
    tools = [t for t in env.tools if not t.final] or [final_tool(env)]
    state = {"turn": 0, "next": 0}

    def call(spec: ToolSpec) -> ToolCall:
        payload = payloads[state["next"] % len(payloads)]
        state["next"] += 1
        return ToolCall(
            spec.name, {k: (p.enum[0] if p.enum else _filler(p.type, payload[: p.max_length])) for k, p in spec.params}
        )

    def act(obs: str, info: dict[str, Any]) -> str:
        state["turn"] += 1
        if state["turn"] >= env.max_turns:
            return render_call(final_call(env, rng.choice(payloads)), env.answer_format)
        calls = [call(tools[(state["next"] + i) % len(tools)]) for i in range(getattr(env, "max_calls", 1))]
        return "".join(f"{HERMES_OPEN}{c.to_json()}{HERMES_CLOSE}" for c in calls)

    return act


CHEATS: tuple[Cheat, ...] = (
    Cheat("format_only", _format_only),
    Cheat("every_candidate_parallel", _every_candidate_parallel),
    Cheat("every_candidate_joined", _every_candidate_joined),
    Cheat("every_candidate_in_markers", _every_candidate_in_markers),
    Cheat("question_text", _question_text),
    Cheat("repeat_observation", _repeat_observation),
    Cheat("very_long_reply", _very_long),
    Cheat("long_answer_value", _long_answer_value),
    Cheat("repeat_one_call", _repeat_one_call),
    Cheat("reach_outside", _reach_outside),
)


# --------------------------------------------------------------------------- the runner


def play(env: Any, policy: Policy, seed: int) -> float:
    """The return of one episode of ``policy`` from ``env.reset(seed=seed)``."""
    obs, info = env.reset(seed=seed)
    total = 0.0
    for _ in range(env.max_turns + 1):
        obs, reward, terminated, truncated, info = env.step(policy(obs, info))
        total += reward
        if terminated or truncated:
            return total
    raise AssertionError(f"episode of seed {seed} did not end within max_turns={env.max_turns}")


def baseline_policy(env: Any, seed: int) -> Policy:
    rng = random.Random(seed)
    return lambda obs, info: random_answer_move(env, info, rng)


def battery_returns(
    make_env: Callable[[], Any], seeds: Iterable[int], tmp: Path, cheats: Iterable[Cheat] = CHEATS
) -> dict[str, float]:
    """Mean return of the baseline (``"random_answer"``) and of each cheat over ``seeds``."""
    env = make_env()
    seeds = list(seeds)
    means = {"random_answer": sum(play(env, baseline_policy(env, s), s) for s in seeds) / len(seeds)}
    for cheat in cheats:
        total = 0.0
        for seed in seeds:
            total += play(env, cheat.make(env, random.Random(seed), tmp), seed)
        means[cheat.name] = total / len(seeds)
    env.close()
    return means


def assert_no_cheat_pays(
    make_env: Callable[[], Any],
    seeds: Iterable[int],
    tmp: Path,
    cheats: Iterable[Cheat] = CHEATS,
    tolerance: float = 1e-9,
) -> dict[str, float]:
    """Fail naming every cheat whose mean return exceeds the random-answer baseline's (by more than
    ``tolerance``: where a cheat is itself a random answer, e.g. one guess among a task's listed
    candidates, pass a few standard errors of that mean), or whose hostile arguments left anything in
    ``tmp``; returns the means for reports."""
    means = battery_returns(make_env, seeds, tmp, cheats)
    baseline = means["random_answer"]
    paying = {name: mean for name, mean in means.items() if name != "random_answer" and mean > baseline + tolerance}
    assert not paying, f"cheats that out-earn answering at random ({baseline:.4f}): {paying}"
    left = sorted(p.name for p in tmp.iterdir()) if tmp.exists() else []
    assert not left, f"hostile tool arguments created {left} in {tmp}"
    return means
