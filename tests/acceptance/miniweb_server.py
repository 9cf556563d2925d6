"""A manifest-driven replay server for a "miniweb" folder (offline copy of part of the news web).

The folder holds ``manifest.json`` and the bodies it names. The server answers the project's replay
convention, ``GET /replay/<original URL>`` (see ``newsflow.pipelines.demo_server``), and nothing in it
knows a particular URL: every behaviour comes from the manifest entries.

* Lookup: ``(host, path, query)``, then ``(host, path)``; anything else is 404.
* An entry's ``response`` (or the Nth element of its ``sequence`` for the Nth request to that URL,
  the last element repeating) gives ``status``, ``content_type``, ``headers``, ``delay_s`` (sleep
  before answering), ``chunked`` (no Content-Length) and ``compress`` (encodings applied when the
  request's Accept-Encoding allows; ``br`` falls back to gzip without the brotli module). A step's
  ``file`` overrides the entry's.
* Redirect ``Location``s are original URLs; they are returned under the replay prefix.
* Conditional GET: a 200 step with an ETag or Last-Modified answers 304 to a matching
  ``If-None-Match``, or (without one) to an ``If-Modified-Since`` not older than Last-Modified.
* Every request is logged (original URL, host, status, monotonic and wall time), so tests can check
  per-host spacing; ``reset()`` clears the log and the per-URL request counts.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from newsflow.pipelines.demo_server import REPLAY_PATH, original_url

try:  # optional: without it "br" is served as gzip
    import brotli
except ImportError:  # pragma: no cover - brotli is installed in the project venv
    brotli = None

_CHUNK = 64 * 1024


@dataclass(frozen=True)
class LoggedRequest:
    """One request the server answered."""

    method: str
    url: str | None        # the original URL (None: not a replay request)
    host: str              # original host name, lower case ("" when not a replay request)
    status: int
    request_headers: dict[str, str]
    at: float              # time.monotonic() when the request arrived
    wall: datetime         # UTC wall time when the request arrived
    entry_url: str | None  # the manifest entry that answered (None: 404 unlisted)


def url_parts(url: str) -> tuple[str, str, str]:
    """``(host, path, query)`` of an original URL, as the manifest keys them."""
    parts = urlsplit(url)
    return (parts.hostname or "").lower(), parts.path or "/", parts.query


def parse_http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def is_not_modified(request_headers: Mapping[str, str], etag: str | None, last_modified: str | None) -> bool:
    """RFC 9110 §13.2.2: If-None-Match decides when present, else If-Modified-Since."""
    if_none_match = request_headers.get("if-none-match")
    if if_none_match is not None:
        if etag is None:
            return False
        tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
        return "*" in tags or etag.removeprefix("W/") in tags
    since = parse_http_date(request_headers.get("if-modified-since"))
    modified = parse_http_date(last_modified)
    return since is not None and modified is not None and since >= modified


def accepted_encodings(accept_encoding: str | None) -> set[str]:
    """Codings the request allows (q=0 excluded)."""
    allowed = set()
    for item in (accept_encoding or "").split(","):
        name, _, params = item.strip().partition(";")
        name = name.strip().lower()
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if name and q > 0:
            allowed.add(name)
    return allowed


def compress(body: bytes, offered: list[str], accept_encoding: str | None) -> tuple[bytes, str | None]:
    """``body`` encoded with the first of ``offered`` the request accepts, and that coding's name."""
    allowed = accepted_encodings(accept_encoding)
    for coding in offered:
        if coding not in allowed:
            continue
        if coding == "br" and brotli is not None:
            return brotli.compress(body), "br"
        if coding == "gzip" or (coding == "br" and "gzip" in allowed):
            return gzip.compress(body, mtime=0), "gzip"
    return body, None


class Manifest:
    """The entries of ``<folder>/manifest.json`` indexed for lookup."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.data: dict[str, Any] = json.loads((self.folder / "manifest.json").read_text(encoding="utf-8"))
        self.entries: list[dict[str, Any]] = list(self.data["entries"])
        self._exact: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._by_path: dict[tuple[str, str], dict[str, Any]] = {}
        for entry in self.entries:
            host, path, query = entry["host"].lower(), entry["path"] or "/", entry.get("query") or ""
            self._exact.setdefault((host, path, query), entry)
            self._by_path.setdefault((host, path), entry)

    def lookup(self, url: str) -> dict[str, Any] | None:
        host, path, query = url_parts(url)
        return self._exact.get((host, path, query)) or self._by_path.get((host, path))

    def body(self, file: str | None) -> bytes | None:
        if not file:
            return None
        root = self.folder.resolve()
        path = (root / file).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            return None
        return path.read_bytes()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.server.owner.handle(self, send_body=True)

    def do_HEAD(self) -> None:
        self.server.owner.handle(self, send_body=False)

    def log_message(self, format: str, *args: Any) -> None:
        """Requests go to ``MiniwebServer.log``, not to stderr."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], owner: MiniwebServer) -> None:
        self.owner = owner
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (timeout, body cap) is expected here, not an error to print."""


class MiniwebServer:
    """Threaded replay server on 127.0.0.1 for a miniweb folder; a context manager."""

    def __init__(self, folder: str | Path, host: str = "127.0.0.1", port: int = 0,
                 sleep: Any = time.sleep) -> None:
        self.manifest = Manifest(folder)
        self.host, self.port = host, port
        self._sleep = sleep
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self.log: list[LoggedRequest] = []
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def replay_prefix(self) -> str:
        return f"http://{self.host}:{self.port}{REPLAY_PATH}"

    def start(self) -> MiniwebServer:
        if self._httpd is None:
            self._httpd = _Server((self.host, self.port), self)
            self.port = self._httpd.server_address[1]
            self._thread = threading.Thread(target=self._httpd.serve_forever, name="miniweb", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> MiniwebServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget request counts (sequences start over) and the log."""
        with self._lock:
            self._counts.clear()
            self.log.clear()

    def requests(self, url: str | None = None, host: str | None = None) -> list[LoggedRequest]:
        with self._lock:
            return [r for r in self.log if (url is None or r.url == url) and (host is None or r.host == host)]

    # -- answering

    def _step(self, entry: dict[str, Any]) -> dict[str, Any]:
        """The response step for this request of ``entry`` (counts the request)."""
        with self._lock:
            index = self._counts.get(entry["url"], 0)
            self._counts[entry["url"]] = index + 1
        sequence = entry.get("sequence")
        if sequence:
            step = dict(sequence[min(index, len(sequence) - 1)])
            return {**{k: v for k, v in entry["response"].items() if k not in step}, **step}
        return {**entry["response"], "file": entry.get("file")}

    def respond(self, url: str | None, request_headers: Mapping[str, str]
                ) -> tuple[int, dict[str, str], bytes, dict[str, Any], dict[str, Any] | None]:
        """Status, headers, body, the step's options (delay_s, chunked) and the entry that answered."""
        if url is None:
            return 400, {"Content-Type": "text/plain"}, b"not a replay URL\n", {}, None
        entry = self.manifest.lookup(url)
        if entry is None:
            return 404, {"Content-Type": "text/plain; charset=utf-8"}, b"not in the miniweb\n", {}, None
        step = self._step(entry)
        status = int(step.get("status", 200))
        headers = {k: str(v) for k, v in (step.get("headers") or {}).items()}
        if step.get("content_type"):
            headers["Content-Type"] = step["content_type"]
        if "Location" in headers:
            headers["Location"] = self.replay_prefix + urljoin(url, headers["Location"])
        body = self.manifest.body(step.get("file"))
        if body is None:
            body = f"{status} for {url}\n".encode()
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        if status == 200 and ("ETag" in headers or "Last-Modified" in headers) and is_not_modified(
                request_headers, headers.get("ETag"), headers.get("Last-Modified")):
            return 304, {k: v for k, v in headers.items() if k != "Content-Type"}, b"", step, entry
        if step.get("compress"):
            body, coding = compress(body, list(step["compress"]), request_headers.get("accept-encoding"))
            if coding:
                headers["Content-Encoding"] = coding
                headers["Vary"] = "Accept-Encoding"
        return status, headers, body, step, entry

    def handle(self, handler: _Handler, send_body: bool) -> None:
        arrived, wall = time.monotonic(), datetime.now(UTC)
        url = original_url(handler.path)
        request_headers = {k.lower(): v for k, v in handler.headers.items()}
        status, headers, body, step, entry = self.respond(url, request_headers)
        with self._lock:
            self.log.append(LoggedRequest(handler.command, url, url_parts(url)[0] if url else "", status,
                                          request_headers, arrived, wall, entry["url"] if entry else None))
        if step.get("delay_s"):
            self._sleep(float(step["delay_s"]))
        chunked = bool(step.get("chunked")) and status not in (204, 304) and send_body
        try:
            handler.send_response(status)
            for name, value in headers.items():
                handler.send_header(name, value)
            if chunked:
                handler.send_header("Transfer-Encoding", "chunked")
            elif status != 304:
                handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            if not send_body or status in (204, 304):
                return
            if chunked:
                for start in range(0, len(body), _CHUNK):
                    piece = body[start:start + _CHUNK]
                    handler.wfile.write(f"{len(piece):X}\r\n".encode() + piece + b"\r\n")
                handler.wfile.write(b"0\r\n\r\n")
            else:
                handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            handler.close_connection = True
