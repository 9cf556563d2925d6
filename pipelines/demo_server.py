"""A local replay server for captured sites, so the demo and the end-to-end tests run offline.

It follows the pywb replay convention: ``GET <prefix><original absolute URL>`` answers with the capture
of that URL, where ``<prefix>`` is ``http://127.0.0.1:PORT/replay/``. Captures live in
``<site_dir>/sites/<host>/<path>`` (a path ending in ``/`` is ``index.html``); ``<site_dir>/routes.json``
adds per-URL behaviour::

    {"https://a.example/old": {"status": 301, "location": "https://a.example/new.html"},
     "https://a.example/gone.html": {"status": 404},
     "https://a.example/p?id=7": {"file": "p-7.html", "headers": {"Content-Type": "text/plain"},
                                  "last_modified": "Tue, 30 Jul 2024 08:00:00 GMT"}}

A route is looked up by the exact URL, then by the URL without its query. Without a route a query string
is ignored (the path's file is served). Redirect targets are original URLs; the server prefixes them, as
pywb rewrites them. Every file gets a strong ETag (sha256 of its bytes) and a Last-Modified, and
conditional requests (If-None-Match, else If-Modified-Since) get 304.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import os
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

REPLAY_PATH = "/replay/"
DEFAULT_LAST_MODIFIED = "Wed, 31 Jul 2024 12:00:00 GMT"
"""Last-Modified of every capture that routes.json gives no date: fixed, so runs are reproducible."""

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".xml": "application/rss+xml",
    ".rss": "application/rss+xml",
    ".atom": "application/atom+xml",
    ".opml": "text/x-opml",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".yaml": "text/yaml; charset=utf-8",
}
_TIMESTAMP = re.compile(r"^\d{1,14}(?:[a-z]{2}_)?/")
_SCHEME_SLASHES = re.compile(r"^(https?):/+", re.IGNORECASE)
_HOST = re.compile(r"^[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?(?::\d{1,5})?$")


def bundled_site() -> Path:
    """The demo news site shipped in the package."""
    return Path(str(importlib.resources.files("newsflow.pipelines") / "demo_site"))


def content_type_for(path: Path) -> str:
    return CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream")


def original_url(request_target: str) -> str | None:
    """The original URL a replay request asks for, or None when the target is not a replay URL.

    Accepts ``/replay/<url>`` and pywb's ``/replay/<timestamp>[mod_]/<url>``; a scheme whose slashes a
    client collapsed (``https:/host``) is repaired.
    """
    if not request_target.startswith(REPLAY_PATH):
        return None
    rest = _TIMESTAMP.sub("", request_target[len(REPLAY_PATH):], count=1)
    rest = _SCHEME_SLASHES.sub(lambda m: m.group(1).lower() + "://", rest, count=1)
    parts = urlsplit(rest)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return rest


def capture_path(sites_root: Path, url: str, file: str | None = None) -> Path | None:
    """The file that holds ``url``'s capture, or None when it would lie outside ``sites_root``."""
    parts = urlsplit(url)
    host = (parts.netloc or "").lower()
    if not _HOST.match(host) or ".." in host:
        return None
    relative = file if file is not None else unquote(parts.path or "/")
    if relative.endswith("/") or not relative:
        relative += "index.html"
    # Checked lexically, not with resolve(): an editable install links each packaged file from
    # elsewhere, and those links are inside the site even though their targets are not.
    root = Path(os.path.normpath(sites_root.absolute()))
    candidate = Path(os.path.normpath(root / host / relative.lstrip("/")))
    if not candidate.is_relative_to(root / host):
        return None
    return candidate


def strong_etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest() + '"'


def not_modified(headers: Any, etag: str, last_modified: str) -> bool:
    """RFC 9110 §13.2.2: If-None-Match decides when present; else If-Modified-Since."""
    if_none_match = headers.get("If-None-Match")
    if if_none_match is not None:
        tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
        return "*" in tags or etag in tags
    if_modified_since = headers.get("If-Modified-Since")
    if if_modified_since is None:
        return False
    try:
        since = parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError):
        return False
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return parsedate_to_datetime(last_modified) <= since


def load_routes(site_dir: Path) -> dict[str, dict[str, Any]]:
    """routes.json of a site folder (empty when absent), checked so a typo fails at start, not mid-test."""
    file = site_dir / "routes.json"
    if not file.is_file():
        return {}
    routes = json.loads(file.read_text(encoding="utf-8"))
    if not isinstance(routes, dict):
        raise ValueError(f"{file}: expected an object of URL -> route")
    allowed = {"status", "location", "headers", "file", "last_modified", "note"}
    for url, route in routes.items():
        if not isinstance(route, dict) or set(route) - allowed:
            raise ValueError(f"{file}: route {url!r} must be an object with keys from {sorted(allowed)}")
        status = route.get("status", 200)
        if status in (301, 302, 303, 307, 308) and not route.get("location"):
            raise ValueError(f"{file}: redirect route {url!r} needs a location")
        if "last_modified" in route:
            parsedate_to_datetime(route["last_modified"])
    return routes


@dataclass(frozen=True)
class ServedRequest:
    """One request the server answered: what was asked, the original URL it mapped to, the status."""

    method: str
    target: str
    url: str | None
    status: int
    at: datetime


class _ReplayHandler(BaseHTTPRequestHandler):
    server: _ReplayHTTPServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def log_message(self, format: str, *args: Any) -> None:
        """Requests go to ``DemoServer.requests``, not to stderr."""

    def _answer(self, send_body: bool) -> None:
        url = original_url(self.path)
        status, headers, body = self.server.owner.respond(url, self.headers)
        # Logged before answering, so a client that has its response always finds it in the log.
        self.server.owner.record(ServedRequest(self.command, self.path, url, status, datetime.now(UTC)))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body and status not in (204, 304):
            self.wfile.write(body)


class _ReplayHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], owner: DemoServer):
        self.owner = owner
        super().__init__(address, _ReplayHandler)


class DemoServer:
    """A threaded replay server on 127.0.0.1 serving ``site_dir`` (the bundled demo site by default).

    Use as a context manager, or ``start()``/``stop()``; ``port=0`` picks a free port.
    """

    def __init__(self, site_dir: str | Path | None = None, host: str = "127.0.0.1", port: int = 0):
        self.site_dir = Path(site_dir) if site_dir is not None else bundled_site()
        self.sites_root = self.site_dir / "sites"
        if not self.sites_root.is_dir():
            raise ValueError(f"{self.site_dir}: no 'sites' folder of captures")
        self.routes = load_routes(self.site_dir)
        self.host, self.port = host, port
        self.requests: list[ServedRequest] = []
        self._lock = threading.Lock()
        self._httpd: _ReplayHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def replay_prefix(self) -> str:
        return self.base_url + REPLAY_PATH

    def replay_url(self, url: str) -> str:
        return self.replay_prefix + url

    def start(self) -> DemoServer:
        if self._httpd is None:
            self._httpd = _ReplayHTTPServer((self.host, self.port), self)
            self.port = self._httpd.server_address[1]
            self._thread = threading.Thread(target=self._httpd.serve_forever, name="newsflow-demo-server",
                                            daemon=True)
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

    def serve_forever(self) -> None:
        """Serve in the calling thread's stead until ``stop()`` (or Ctrl-C): for a foreground demo."""
        self.start()
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(timeout=0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def __enter__(self) -> DemoServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def record(self, request: ServedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def requested_urls(self) -> list[str]:
        """Original URLs asked for, in arrival order."""
        with self._lock:
            return [r.url for r in self.requests if r.url]

    def route_for(self, url: str) -> dict[str, Any]:
        return self.routes.get(url) or self.routes.get(url.split("?", 1)[0]) or {}

    def respond(self, url: str | None, request_headers: Any) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and body for a request of ``url`` (None: not a replay URL)."""
        if url is None:
            return _plain(400, "not a replay URL: expected /replay/<absolute http(s) URL>")
        route = self.route_for(url)
        status = int(route.get("status", 200))
        extra = dict(route.get("headers", {}))
        if 300 <= status < 400 and route.get("location"):
            headers = {"Location": self.replay_prefix + route["location"], **extra}
            return status, {"Content-Type": "text/plain; charset=utf-8", **headers}, b"moved\n"
        if status >= 400:
            code, headers, body = _plain(status, f"{status} for {url}")
            return code, {**headers, **extra}, body
        path = capture_path(self.sites_root, url, route.get("file"))
        if path is None:
            return _plain(403, "outside the captured sites")
        if not path.is_file():
            return _plain(404, f"no capture of {url}")
        body = path.read_bytes()
        etag = strong_etag(body)
        last_modified = route.get("last_modified", DEFAULT_LAST_MODIFIED)
        headers = {"Content-Type": content_type_for(path), "ETag": etag, "Last-Modified": last_modified,
                   "Cache-Control": "max-age=0", **extra}
        if not_modified(request_headers, headers["ETag"], headers["Last-Modified"]):
            return 304, {k: v for k, v in headers.items() if k != "Content-Type"}, b""
        return status, headers, body


def _plain(status: int, message: str) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "text/plain; charset=utf-8"}, (message + "\n").encode("utf-8")
