"""A model behind any OpenAI-compatible chat-completions server as a player (OpenAI, vLLM, llama.cpp, SGLang, ...).

Spec: ``openai:MODEL@BASE_URL``, e.g. ``openai:gpt-4o-mini@https://api.openai.com/v1`` or
``openai:Qwen/Qwen2.5-7B-Instruct@http://127.0.0.1:8000/v1``. The API key comes from
``OPENAI_API_KEY`` (sent as a Bearer token when set; local servers usually need none).

Each observation of a batch is one request (system prompt + the observation as the
user message), sent from a thread pool of ``max_concurrency`` workers, so ``act``
is an ordinary blocking call that works anywhere, including inside a running event
loop. The reply text is returned as is: the env parses it, and a reply it cannot
parse is an invalid move it scores.

Failures come in two kinds (STYLE.md, rule 6):

* a refused API key (401/403), an unknown URL or model (404), or a server that was
  never reachable raise at once (:class:`OpenAIConfigError`, :class:`OpenAIUnreachableError`):
  they are the user's to fix, and no game can be played until they are;
* transient trouble (timeouts, dropped connections, 408/429/5xx, a garbled body) is
  retried with exponential backoff and jitter, honouring ``Retry-After``; what still
  fails after the retries, and any other 4xx (a prompt too long for the context,
  say), ends in :class:`~gym_reason.agents.base.AgentError`, which carries the
  answers that did arrive so that only the failed games are marked failed.
"""

from __future__ import annotations

import email.utils
import json
import os
import random
import re
import threading
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import httpx

from gym_reason.agents.base import AgentError, Observation, register_agent_backend
from gym_reason.core import ACTION_FORMAT, derive_seed

API_KEY_ENV = "OPENAI_API_KEY"

DEFAULT_SYSTEM_PROMPT = (
    "You are a player in a text game. Read the situation you are given, think it through if that helps, "
    "then give your move. {action_format}"
)
"""``{action_format}`` is replaced by the env's ``info["action_format"]`` (or nothing when it has none)."""

SPEC_FORM = "openai:MODEL@http://host:port/v1"
SPEC_EXAMPLE = "openai:gpt-4o-mini@https://api.openai.com/v1"

_RETRIED_STATUSES = frozenset({408, 429})


class OpenAIConfigError(ValueError):
    """The server rejected the configuration (API key, URL, model): fix it and run again."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class OpenAIUnreachableError(ConnectionError):
    """No server ever answered at the base URL."""


@dataclass(slots=True)
class _Reply:
    """The outcome of one observation: its answer, or what went wrong."""

    answer: str | None = None
    completion_tokens: int | None = None
    error: str | None = None


class _Aborted(Exception):
    """Another request of the batch hit a configuration error; this one stops quietly."""


class OpenAIAgent:
    """Plays by asking a chat model on an OpenAI-compatible server, one request per observation.

    ``timeout`` bounds each network wait of a request (connect, send, each read) in seconds;
    ``retries`` is how many times a transiently failed request is sent again, after
    ``backoff_base * 2**attempt`` seconds (capped at ``backoff_max``, with jitter), or after
    the server's ``Retry-After`` (capped at ``max_retry_after``). With a ``seed``, each
    request carries its own seed derived from it, for servers that honour one.

    After each :meth:`act`, :attr:`last_tokens` holds the completion tokens of each answer
    (``None`` where the server reported no usage or the request failed) and :attr:`stats`
    the running totals: ``requests`` (HTTP attempts), ``retries``, ``failures``
    (observations left unanswered), ``prompt_tokens`` and ``completion_tokens``. While :meth:`act`
    runs (from any thread), :attr:`requests_in_flight` is the number of HTTP requests awaiting a reply
    and ``stats`` grows reply by reply: progress displays read both.
    """

    def __init__(
        self,
        model: str,
        base_url: str,
        *,
        api_key: str | None = None,
        system_prompt: str | None = DEFAULT_SYSTEM_PROMPT,
        temperature: float = 1.0,
        max_tokens: int = 1024,
        seed: int | None = None,
        max_concurrency: int = 8,
        timeout: float = 60.0,
        retries: int = 3,
        backoff_base: float = 0.5,
        backoff_max: float = 8.0,
        max_retry_after: float = 30.0,
    ) -> None:
        if not model:
            raise ValueError(f"the model name is empty; give one as in {SPEC_EXAMPLE}")
        if not re.match(r"https?://", base_url):
            raise ValueError(
                f"base URL {base_url!r} must start with http:// or https://, e.g. http://127.0.0.1:8000/v1"
            )
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")
        if retries < 0:
            raise ValueError(f"retries must be 0 or more, got {retries}")
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.url = f"{self.base_url}/chat/completions"
        self.name = f"openai:{model}"
        self.system_prompt = system_prompt
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.seed = seed
        self.max_concurrency = max_concurrency
        self.timeout = timeout
        self.retries = retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_retry_after = max_retry_after
        api_key = api_key if api_key is not None else os.environ.get(API_KEY_ENV) or None
        self._has_key = bool(api_key)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=max_concurrency, max_keepalive_connections=max_concurrency),
        )
        self._pool: ThreadPoolExecutor | None = None
        self._closed = False
        self._jitter = random.Random(seed)  # timing only: never touches what the model is asked
        self._lock = threading.Lock()
        self._server_answered = False
        self._calls = 0
        self._in_flight = 0
        self.last_tokens: list[int | None] = []
        self.stats: dict[str, int] = dict.fromkeys(
            ("requests", "retries", "failures", "prompt_tokens", "completion_tokens"), 0
        )

    @property
    def requests_in_flight(self) -> int:
        """HTTP requests sent and not yet answered (at most ``max_concurrency``)."""
        with self._lock:
            return self._in_flight

    # --- the protocol ------------------------------------------------------------------------------
    def act(self, batch: Sequence[Observation]) -> list[str]:
        if self._closed:
            raise RuntimeError(f"{self.name} at {self.base_url} was closed; make a new agent to play on")
        if not batch:
            self.last_tokens = []
            return []
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.max_concurrency, thread_name_prefix="openai-agent")
        call = self._calls
        self._calls += 1
        abort = threading.Event()
        futures: list[Future[_Reply]] = [
            self._pool.submit(self._complete, self._body(obs, info, call, i), abort)
            for i, (obs, info) in enumerate(batch)
        ]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failed = next((f for f in futures if f in done and f.exception() is not None), None)
        if failed is not None:
            abort.set()  # the others stop before their next attempt
            for future in futures:
                future.cancel()
            failed.result()  # raises the worker's exception
        replies = [f.result() for f in futures]
        self.last_tokens = [r.completion_tokens for r in replies]
        errors = {i: r.error for i, r in enumerate(replies) if r.error is not None}
        if errors:
            with self._lock:
                self.stats["failures"] += len(errors)
            raise AgentError([r.answer for r in replies], errors)
        return [r.answer or "" for r in replies]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        self._client.close()
        self._closed = True

    def __enter__(self) -> OpenAIAgent:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- one request ---------------------------------------------------------------------------------
    def _body(self, obs: str, info: dict[str, Any], call: int, index: int) -> dict[str, Any]:
        messages = []
        if self.system_prompt is not None:
            action_format = str(info.get(ACTION_FORMAT) or "").strip()
            messages.append(
                {"role": "system", "content": self.system_prompt.replace("{action_format}", action_format).strip()}
            )
        messages.append({"role": "user", "content": obs})
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }
        if self.seed is not None:
            body["seed"] = derive_seed(self.seed, call, index)
        return body

    def _complete(self, body: dict[str, Any], abort: threading.Event) -> _Reply:
        """Send one request until it succeeds, fails for good, or runs out of retries."""
        error = ""
        refused = False
        for attempt in range(self.retries + 1):
            if abort.is_set():
                raise _Aborted
            self._count("requests")
            delay: float | None = None  # None: the usual backoff
            try:
                with self._lock:
                    self._in_flight += 1
                try:
                    response = self._client.post(self.url, json=body)
                finally:
                    with self._lock:
                        self._in_flight -= 1
            except httpx.TimeoutException as exc:
                error, refused = f"no reply within {self.timeout:g} s ({type(exc).__name__})", False
            except httpx.ConnectError as exc:
                error, refused = f"could not connect to {self.base_url}: {exc}", True
            except httpx.TransportError as exc:  # the connection dropped mid-request, a garbled response
                error, refused = f"{type(exc).__name__}: {exc}", False
            else:
                refused = False
                with self._lock:
                    self._server_answered = True
                reply, error, retry, delay = self._read(response)
                if reply is not None:
                    return reply
                if not retry:  # a 4xx that no retry will fix
                    return _Reply(error=error)
            if attempt == self.retries:
                break
            self._count("retries")
            if abort.wait(self._backoff(attempt) if delay is None else delay):
                raise _Aborted
        with self._lock:
            never_answered = not self._server_answered
        if refused and never_answered:
            raise OpenAIUnreachableError(self._unreachable_message(error))
        return _Reply(error=f"{error} (gave up after {self.retries} retries)")

    def _read(self, response: httpx.Response) -> tuple[_Reply | None, str, bool, float | None]:
        """``(reply, error, retry, retry_after)`` of one HTTP response: a reply on success, else what
        went wrong, whether a retry may help and the server's ``Retry-After`` if it gave one.

        Raises :class:`OpenAIConfigError` for a refused key or an unknown URL or model.
        """
        status = response.status_code
        if status in (401, 403):
            raise OpenAIConfigError(
                f"the server at {self.base_url} refused the API key (HTTP {status}: {_server_message(response)}). "
                f"Set {API_KEY_ENV} to a key this server accepts"
                + (
                    " (it is set now, so the key is wrong or lacks access to the model)."
                    if self._has_key
                    else " (it is not set now)."
                ),
                status,
            )
        if status == 404:
            raise OpenAIConfigError(
                f"HTTP 404 from {self.url}: {_server_message(response)}. Either the base URL lacks /v1 "
                f"(it should look like http://host:port/v1) or the server does not know the model {self.model!r} "
                f"(GET {self.base_url}/models lists the ones it serves).",
                status,
            )
        if status in _RETRIED_STATUSES or status >= 500:
            return None, f"HTTP {status}: {_server_message(response)}", True, self._retry_after(response)
        if not 200 <= status < 300:
            return None, f"HTTP {status} from {self.url}: {_server_message(response)}", False, None
        try:
            payload = response.json()
            message = payload["choices"][0]["message"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            return None, f"malformed reply from the server ({type(exc).__name__}): {response.text[:200]!r}", True, None
        content = message.get("content") if isinstance(message, dict) else None
        usage = payload.get("usage") if isinstance(payload.get("usage"), dict) else {}
        prompt_tokens, completion_tokens = usage.get("prompt_tokens"), usage.get("completion_tokens")
        with self._lock:
            self.stats["prompt_tokens"] += prompt_tokens if isinstance(prompt_tokens, int) else 0
            self.stats["completion_tokens"] += completion_tokens if isinstance(completion_tokens, int) else 0
        answer = content if isinstance(content, str) else ""  # no text is an answer too: an invalid move
        return _Reply(answer, completion_tokens if isinstance(completion_tokens, int) else None), "", False, None

    def _retry_after(self, response: httpx.Response) -> float | None:
        value = response.headers.get("Retry-After")
        if value is None:
            return None
        try:
            seconds = float(value)
        except ValueError:
            try:
                seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
            except (TypeError, ValueError):
                return None
        return min(max(seconds, 0.0), self.max_retry_after)

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.backoff_max, self.backoff_base * 2**attempt)
        with self._lock:
            return ceiling / 2 + self._jitter.uniform(0, ceiling / 2)

    def _count(self, key: str) -> None:
        with self._lock:
            self.stats[key] += 1

    def _unreachable_message(self, error: str) -> str:
        return (
            f"nothing is listening at {self.base_url} ({error}, {self.retries + 1} attempts). "
            "Start an OpenAI-compatible server there (e.g. `vllm serve MODEL --port 8000`, or "
            "`llama-server -m model.gguf --port 8000`) or check the host, port and scheme of the URL; "
            f"the spec looks like {SPEC_FORM}."
        )


def _server_message(response: httpx.Response) -> str:
    """The error message of an OpenAI-style error body, or the start of the body."""
    try:
        payload = response.json()
    except ValueError:
        return response.text[:300].strip() or response.reason_phrase
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    if isinstance(error, str):
        return error
    return json.dumps(payload)[:300]


_SPEC = re.compile(r"(?P<model>.+)@(?P<url>https?://\S+)")


def parse_spec(rest: str) -> tuple[str, str]:
    """``MODEL@BASE_URL`` -> ``(model, base_url)``; the model name may itself contain ``@``.

    >>> parse_spec("gpt-4o-mini@http://127.0.0.1:8000/v1")
    ('gpt-4o-mini', 'http://127.0.0.1:8000/v1')
    """
    match = _SPEC.fullmatch(rest)
    if match is None:
        raise ValueError(
            f"bad agent spec 'openai:{rest}': expected {SPEC_FORM} (the model name, '@', then the server's "
            f"base URL with its scheme), e.g. {SPEC_EXAMPLE} or openai:Qwen/Qwen2.5-7B-Instruct@http://127.0.0.1:8000/v1"
        )
    return match["model"], match["url"]


def _backend(rest: str, env: Any, seed: int | None) -> OpenAIAgent:
    model, url = parse_spec(rest)
    return OpenAIAgent(model, url, seed=seed)


register_agent_backend("openai", _backend)
