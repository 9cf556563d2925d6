"""A real threaded HTTP/1.1 server on 127.0.0.1 for tests, driven by a route table.

    with serve({"/a": Route(body=b"<html>..</html>")}) as server:
        client.fetch(server.url("/a"))
        server.set("/b", Route(status=302, location="/a"))   # routes change while it runs
        assert server.requests_for("/a")[0].headers["user-agent"].startswith("newsflow")

A route is matched on the full request target first (path and query), then on the path alone;
anything else is a 404. ``handler`` makes a response per request (e.g. 503 then 200).
"""

from __future__ import annotations

import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


@dataclass
class Request:
    """One request the server received."""

    method: str
    path: str          # the full request target as sent (path and query)
    headers: dict[str, str]  # lower-case names
    at: float          # time.monotonic() when the request line was read
    thread: str


@dataclass
class Route:
    """A canned response. ``body`` is sent as is (compress it yourself and set Content-Encoding)."""

    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=lambda: {"Content-Type": "text/html; charset=utf-8"})
    location: str | None = None      # sets Location (relative values are sent verbatim)
    header_delay_s: float = 0.0      # sleep before the status line (a slow server)
    chunk_size: int | None = None    # send the body in pieces of this size ...
    chunk_delay_s: float = 0.0       # ... with this pause before each piece (a trickle)
    content_length: bool = True      # False: no Content-Length, close the connection at the end
    handler: Callable[[Request], Route] | None = None  # dynamic: called per request


def html(body: str, status: int = 200, charset: str = "utf-8", **kwargs: object) -> Route:
    """A text/html route with the body encoded in ``charset``."""
    return Route(status=status, body=body.encode(charset),
                 headers={"Content-Type": f"text/html; charset={charset}"}, **kwargs)  # type: ignore[arg-type]


def redirect(location: str, status: int = 302) -> Route:
    return Route(status=status, location=location, headers={})


def sequence(*routes: Route) -> Callable[[Request], Route]:
    """A handler answering with each route in turn, repeating the last one."""
    lock = threading.Lock()
    served = [0]

    def handler(_: Request) -> Route:
        with lock:
            index = min(served[0], len(routes) - 1)
            served[0] += 1
        return routes[index]

    return handler


class FixtureServer:
    """The running server: ``url(path)``, ``set(path, route)``, ``requests`` (in arrival order)."""

    def __init__(self, routes: Mapping[str, Route], ssl_context: ssl.SSLContext | None = None) -> None:
        self._routes: dict[str, Route] = dict(routes)
        self._lock = threading.Lock()
        self._requests: list[Request] = []
        self._httpd = _QuietServer(("127.0.0.1", 0), _handler_class(self))
        self._httpd.daemon_threads = True
        if ssl_context is not None:
            self._httpd.socket = ssl_context.wrap_socket(self._httpd.socket, server_side=True)
        self.port: int = self._httpd.server_address[1]
        self.base_url = f"{'https' if ssl_context else 'http'}://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,),
                                        name="fixture-server", daemon=True)

    def url(self, path: str = "/") -> str:
        return self.base_url + path

    def set(self, path: str, route: Route) -> None:
        with self._lock:
            self._routes[path] = route

    def remove(self, path: str) -> None:
        with self._lock:
            self._routes.pop(path, None)

    @property
    def requests(self) -> list[Request]:
        with self._lock:
            return list(self._requests)

    def requests_for(self, path: str) -> list[Request]:
        return [request for request in self.requests if request.path == path]

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def _record(self, request: Request) -> Route | None:
        with self._lock:
            self._requests.append(request)
            route = self._routes.get(request.path)
            if route is None:
                route = self._routes.get(urlsplit(request.path).path)
        if route is not None and route.handler is not None:
            route = route.handler(request)
        return route

    def start(self) -> FixtureServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients hanging up (timeouts, size limits, pooled connections closed) are expected."""
        error = sys.exc_info()[1]
        if not isinstance(error, (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


def _handler_class(server: FixtureServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # keep test output clean
            pass

        def _respond(self) -> None:
            request = Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                              time.monotonic(), threading.current_thread().name)
            route = server._record(request) or Route(status=404, body=b"not found",
                                                     headers={"Content-Type": "text/plain"})
            if route.header_delay_s:
                time.sleep(route.header_delay_s)
            body = b"" if self.command == "HEAD" else route.body
            self.send_response(route.status)
            for name, value in route.headers.items():
                self.send_header(name, value)
            if route.location is not None:
                self.send_header("Location", route.location)
            if route.content_length:
                self.send_header("Content-Length", str(len(route.body)))
            else:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            size = route.chunk_size or max(len(body), 1)
            for start in range(0, len(body), size):
                if route.chunk_delay_s:
                    time.sleep(route.chunk_delay_s)
                self.wfile.write(body[start:start + size])
                self.wfile.flush()

        def do_GET(self) -> None:
            try:
                self._respond()
            except (BrokenPipeError, ConnectionResetError):  # the client cut us off: that is the test
                self.close_connection = True

        do_HEAD = do_GET

    return Handler


@contextmanager
def serve(routes: Mapping[str, Route] | None = None,
          ssl_context: ssl.SSLContext | None = None) -> Iterator[FixtureServer]:
    """Run a FixtureServer for the duration of the block (HTTPS when given a server SSL context)."""
    server = FixtureServer(routes or {}, ssl_context).start()
    try:
        yield server
    finally:
        server.stop()
