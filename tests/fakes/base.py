"""A tiny real HTTP server for end-to-end tests: stand-ins for Cobot and the lock vendors.

Each stand-in subclasses FakeServer, registers routes, keeps its state in memory and records every
request it receives, so a test can assert on what AccessBridge actually sent over the wire.
Tests can force the next answers (status, headers, delay) to exercise retries and timeouts.
"""

from __future__ import annotations

import json
import re
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(self.body.decode(), keep_blank_values=True).items()}


@dataclass
class Response:
    status: int = 200
    body: object = None  # dict/list → JSON; bytes/str → as is; None → empty
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to sleep before answering (to provoke client timeouts)

    def encode(self) -> tuple[bytes, dict[str, str]]:
        headers = dict(self.headers)
        if self.body is None:
            return b"", headers
        if isinstance(self.body, bytes):
            return self.body, headers
        if isinstance(self.body, str):
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
            return self.body.encode(), headers
        headers.setdefault("Content-Type", "application/json")
        return json.dumps(self.body).encode(), headers


Handler = Callable[[RecordedRequest, re.Match], Response]


class FakeServer:
    """Start with `with Server() as s:` (or start()/stop()); `s.url` is its base URL.

    Set `bind_host` (another loopback address, e.g. 127.0.0.2) or `ssl_context` (https) before starting.
    """

    bind_host = "127.0.0.1"
    ssl_context = None

    def __init__(self, *, tls: ssl.SSLContext | None = None):
        if tls is not None:
            self.ssl_context = tls  # serve https with this context; plain http without
        self.requests: list[RecordedRequest] = []
        self._routes: list[tuple[str, re.Pattern, Handler]] = []
        self._forced: list[tuple[re.Pattern | None, Response]] = []
        self.lock = threading.RLock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- routes and faults -------------------------------------------------------------------
    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self._routes.append((method.upper(), re.compile(f"^{pattern}$"), handler))

    def force(self, response: Response, *, times: int = 1, path: str | None = None) -> None:
        """The next `times` requests (matching `path` regex, if given) get `response`."""
        with self.lock:
            for _ in range(times):
                self._forced.append((re.compile(path) if path else None, response))

    def clear_forced(self) -> None:
        with self.lock:
            self._forced.clear()

    def requests_to(self, method: str, path_regex: str) -> list[RecordedRequest]:
        rx = re.compile(f"^{path_regex}$")
        return [r for r in self.requests if r.method == method.upper() and rx.match(r.path)]

    # --- lifecycle ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"{'https' if self.ssl_context else 'http'}://{host}:{port}"

    def start(self) -> FakeServer:
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out as two writes: without TCP_NODELAY, Nagle + delayed ACK adds ~40 ms.
            disable_nagle_algorithm = True

            def log_message(self, *args):  # keep test output quiet
                pass

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = RecordedRequest(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query, keep_blank_values=True),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                response, payload, headers = server._dispatch(request)
                if response.delay:
                    time.sleep(response.delay)
                try:
                    self.send_response(response.status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    if payload and self.command != "HEAD":
                        self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test); nothing to do

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

        server_class = ThreadingHTTPServer
        if self.ssl_context is not None:
            # The handshake runs in each connection's thread, not in accept(): one slow client blocks no other.
            from .tls import TLSServerMixin

            server_class = type(
                "TLSThreadingHTTPServer", (TLSServerMixin, ThreadingHTTPServer), {"tls_context": self.ssl_context}
            )
        self._httpd = server_class((self.bind_host, 0), _Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # --- dispatch ----------------------------------------------------------------------------
    def _dispatch(self, request: RecordedRequest) -> tuple[Response, bytes, dict[str, str]]:
        # Encode under the lock: a handler may return live state that a test helper changes.
        with self.lock:
            response = self._respond(request)
            return (response, *response.encode())

    def _respond(self, request: RecordedRequest) -> Response:
        with self.lock:
            self.requests.append(request)
            for i, (rx, forced) in enumerate(self._forced):
                if rx is None or rx.search(request.path):
                    del self._forced[i]
                    return forced
        allowed = False
        for method, rx, handler in self._routes:
            match = rx.match(request.path)
            if not match:
                continue
            allowed = True
            if method == request.method:
                try:
                    with self.lock:
                        return handler(request, match)
                except Exception as exc:  # a bug in the stand-in must show, not hang the client
                    return Response(500, {"error": f"stand-in crashed: {exc!r}"})
        return Response(405 if allowed else 404, {"error": "not found" if not allowed else "method"})
