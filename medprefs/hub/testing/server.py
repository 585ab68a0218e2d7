"""A local Hub-compatible HTTP server (stdlib) on 127.0.0.1: point HF_ENDPOINT at it to test or demo Hub flows."""

from __future__ import annotations

import argparse
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from medprefs.hub.testing.api import HubApi, Request, Response
from medprefs.hub.testing.store import HubError, HubStore, Token

MAX_BODY_BYTES = 256 * 1024 * 1024
SOCKET_TIMEOUT_S = 30


@dataclass
class Fault:
    """Answer the next `times` matching requests with `status`; `after=True` applies the request first (a lost
    response)."""

    method: str
    pattern: re.Pattern
    status: int
    times: int
    after: bool


class LocalHub:
    """Start with `with LocalHub() as hub:`; `hub.url` is the endpoint. Every commit is kept, so old revisions stay
    readable. Tokens are registered with `add_token`; an unknown token gets 401 on any request."""

    def __init__(self, *, lfs: bool = True, port: int = 0):
        self.store = HubStore(lfs=lfs)
        self.api = HubApi(self.store)
        self.requests: list[tuple[str, str]] = []
        self.faults: list[Fault] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler_class(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def add_token(self, token: str, user: str, *, write: bool = True) -> None:
        self.store.tokens[token] = Token(user=user, write=write)

    def fail_next(
        self, method: str, path_regex: str, *, status: int = 503, times: int = 1, after: bool = False
    ) -> None:
        self.faults.append(Fault(method, re.compile(path_regex), status, times, after))

    def before_next_commit(self, action: Callable[[HubStore], None]) -> None:
        """Run `action` just before the next commit is applied: how a test lands a concurrent writer's commit."""
        self.api.before_commit.append(action)

    def count(self, method: str, path_regex: str) -> int:
        pattern = re.compile(path_regex)
        return sum(1 for seen_method, path in self.requests if seen_method == method and pattern.search(path))

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.method == method and fault.pattern.search(path) and fault.times > 0:
                    fault.times -= 1
                    return fault
        return None

    def start(self) -> LocalHub:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> LocalHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _handler_class(hub: LocalHub) -> type[BaseHTTPRequestHandler]:
    class Handler(_HubHandler):
        pass

    Handler.hub = hub
    return Handler


class _HubHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the client expects; every response carries Content-Length
    timeout = SOCKET_TIMEOUT_S
    hub: LocalHub

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's signature
        pass  # the request log is `hub.requests`; never print headers (they carry the token)

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        self.hub.requests.append((method, url.path))
        try:
            body = self._read_body()
            request = Request(
                method,
                url.path,
                parse_qs(url.query),
                self.headers,
                body,
                None,
                f"http://{self.server.server_address[0]}:{self.server.server_address[1]}",
            )
            request.token = self.hub.store.user_for(_bearer(self.headers.get("Authorization")))
            fault = self.hub.take_fault(method, url.path)
            if fault and not fault.after:
                raise HubError(fault.status, "injected failure")
            response = self.hub.api.route(request)
            if fault:
                raise HubError(fault.status, "injected failure after the request was applied")
        except HubError as error:
            headers = {"X-Error-Message": error.message, **error.headers}
            if error.code:
                headers["X-Error-Code"] = error.code
            response = Response(error.status, {"error": error.message}, headers)
        except Exception as error:  # a server bug must answer 500, not hang the client
            response = Response(500, {"error": f"{type(error).__name__}: {error}"})
        self._send(method, response)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            raise HubError(413, f"request body over {MAX_BODY_BYTES} bytes")
        return self.rfile.read(length) if length else b""

    def _read_chunked(self) -> bytes:
        chunks, total = [], 0
        while True:
            size = int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailers
                    pass
                return b"".join(chunks)
            total += size
            if total > MAX_BODY_BYTES:
                self.close_connection = True
                raise HubError(413, f"request body over {MAX_BODY_BYTES} bytes")
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _send(self, method: str, response: Response) -> None:
        if isinstance(response.payload, bytes):
            body, content_type = response.payload, response.headers.get("Content-Type", "application/octet-stream")
        else:
            body, content_type = json.dumps(response.payload).encode(), "application/json"
        self.send_response(response.status)
        for name, value in {**response.headers, "Content-Type": content_type}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(body)


def _bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise HubError(401, "Invalid credentials in Authorization header")
    return value.strip()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a local Hub-compatible endpoint (in memory) for HF_ENDPOINT.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--user", default="local")
    parser.add_argument("--token", required=True, help="the token clients must send (HF_TOKEN)")
    args = parser.parse_args(argv)
    hub = LocalHub(port=args.port)
    hub.add_token(args.token, args.user)
    print(f"HF_ENDPOINT={hub.url} HF_HUB_DISABLE_XET=1 (namespace {args.user}); Ctrl-C to stop", flush=True)
    try:
        hub._server.serve_forever()
    except KeyboardInterrupt:
        pass
