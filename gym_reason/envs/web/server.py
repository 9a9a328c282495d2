"""The shop served over HTTP on 127.0.0.1, on a free port, for the browser backend.

One server per process, shared like the browser: :func:`acquire` starts it (a
:class:`~http.server.ThreadingHTTPServer` on a daemon thread) with its first user and :func:`release`
stops it with the last. Sessions are keyed by the ``sid`` cookie, which each env sets in its own
browser context; the env reads and replaces its session in :attr:`ShopServer.app` directly (same
process) for snapshots and sub-goal rewards.
"""

from __future__ import annotations

import threading
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from gym_reason.envs.web.page import to_html
from gym_reason.envs.web.shop import ShopApp


class ShopServer:
    def __init__(self) -> None:
        self.app = ShopApp()
        app = self.app

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass  # no request log on stderr

            def _answer(self, method: str, params: dict[str, str]) -> None:
                cookie = SimpleCookie(self.headers.get("Cookie", ""))
                sid = cookie["sid"].value if "sid" in cookie else ""
                path = urlsplit(self.path).path
                response = app.handle(sid, method, path, params)
                if response.location is not None:
                    self.send_response(response.status)
                    self.send_header("Location", response.location)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                assert response.page is not None
                body = to_html(response.page).encode("utf-8")
                self.send_response(response.status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Cache-Control", "no-store")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                self._answer("GET", dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True)))

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8", "replace")
                self._answer("POST", dict(parse_qsl(body, keep_blank_values=True)))

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="gym-reason-shop", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


class _Shared:
    server: ShopServer | None = None
    users = 0


def acquire() -> ShopServer:
    """The shared shop server, started if this is its first user; pair with :func:`release`."""
    if _Shared.server is None:
        _Shared.server = ShopServer()
    _Shared.users += 1
    return _Shared.server


def release() -> None:
    _Shared.users = max(0, _Shared.users - 1)
    if _Shared.users == 0 and _Shared.server is not None:
        server, _Shared.server = _Shared.server, None
        server.stop()


def running() -> bool:
    return _Shared.server is not None
