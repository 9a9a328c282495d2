"""A scripted OpenAI-compatible chat-completions server for tests, on 127.0.0.1 in a background thread.

Each ``POST /v1/chat/completions`` is answered by the first queued :class:`Reply`
(see :meth:`ScriptedServer.push`), else by ``responder(body)`` when one is set, else
by ``default``. A reply may be a plain string (the message content) or a
:class:`Reply` that injects a failure: an HTTP status, a delay, headers such as
``Retry-After``, or a raw body (malformed JSON). Every request is recorded, with
its headers and JSON body, and so is the largest number of requests in flight at once.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CHAT_PATH = "/v1/chat/completions"


@dataclass
class Reply:
    """What the server sends back for one request."""

    content: str | None = "[check]"
    """The message content (``None``: a message without content)."""
    status: int = 200
    delay: float = 0.0
    """Seconds to wait before answering (longer than the client's timeout: a timeout)."""
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    """A raw body sent instead of the usual JSON (e.g. malformed JSON)."""
    usage: bool = True
    error: str = "scripted failure"
    """The error message of a non-2xx reply."""


@dataclass
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: Any

    @property
    def user_message(self) -> str:
        return next(m["content"] for m in self.body["messages"] if m["role"] == "user")


Responder = Callable[[dict[str, Any]], "Reply | str"]


class ScriptedServer:
    def __init__(self, known_models: set[str] | None = None) -> None:
        self.known_models = known_models
        """When set, requests for other models get the 404 OpenAI sends for an unknown model."""
        self.default = Reply()
        self.responder: Responder | None = None
        self.requests: list[RecordedRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._queue: deque[Reply | str] = deque()
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False  # a handler still sleeping out a delay must not hold up the test
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="openai-test-server", daemon=True
        )

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The base URL to give an agent (``.../v1``)."""
        return f"{self.root}/v1"

    def push(self, *replies: Reply | str) -> None:
        """Queue replies, sent in order to the next requests (before ``responder`` or ``default``)."""
        with self._lock:
            self._queue.extend(replies)

    def start(self) -> ScriptedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and drop the open keep-alive connections, as a server that goes down does."""
        self._httpd.shutdown()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- called from the handler threads ---------------------------------------------------------
    def _next_reply(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            queued = self._queue.popleft() if self._queue else None
        reply = queued if queued is not None else self.responder(body) if self.responder else self.default
        return Reply(content=reply) if isinstance(reply, str) else reply

    def _enter(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1


def _completion(model: str, reply: Reply, body: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant"}
    if reply.content is not None:
        message["content"] = reply.content
    payload: dict[str, Any] = {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
    }
    if reply.usage:
        prompt = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
        completion = len((reply.content or "").split())
        payload["usage"] = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
    return payload


def _handler_for(server: ScriptedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real servers do

        def setup(self) -> None:
            super().setup()
            with server._lock:
                server._connections.add(self.connection)

        def finish(self) -> None:
            with server._lock:
                server._connections.discard(self.connection)
            with contextlib.suppress(OSError):
                super().finish()

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            try:
                body = json.loads(raw)
            except ValueError:
                self._send(400, json.dumps({"error": {"message": "request body is not JSON"}}))
                return
            request = RecordedRequest(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            server._enter(request)
            try:
                self._answer(request)
            finally:
                server._leave()

        def _answer(self, request: RecordedRequest) -> None:
            if request.path != CHAT_PATH:
                self._send(404, _error(f"Not found: {request.path}", "not_found"))
                return
            model = request.body.get("model", "")
            if server.known_models is not None and model not in server.known_models:
                self._send(404, _error(f"The model `{model}` does not exist.", "model_not_found"))
                return
            reply = server._next_reply(request.body)
            if reply.delay:
                time.sleep(reply.delay)
            if reply.body is not None:
                text = reply.body
            elif reply.status >= 400:
                text = _error(reply.error, "scripted")
            else:
                text = json.dumps(_completion(model, reply, request.body))
            self._send(reply.status, text, reply.headers)

        def _send(self, status: int, text: str, headers: dict[str, str] | None = None) -> None:
            data = text.encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
                self.close_connection = True

    return Handler


def _error(message: str, code: str) -> str:
    return json.dumps({"error": {"message": message, "type": "invalid_request_error", "code": code}})
