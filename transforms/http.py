"""The HTTP client every stage fetches with: bounded, redirect-checked, SSRF-guarded, polite.

One ``HttpClient`` wraps a pooled ``httpx.Client``. Each fetch follows redirects itself (every hop
is checked against the SSRF guard, robots.txt and the per-host gate), decompresses incrementally
so a decompression bomb is cut at ``max_bytes``, enforces connect, read and total timeouts, retries
transient failures with backoff, and never raises for one URL: the outcome is in the result.
"""

from __future__ import annotations

import email.utils
import http.cookiejar
import random
import re
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

import brotli
import httpcore
import httpx
import zstandard

from newsflow.transforms.charset import decode_body
from newsflow.transforms.netguard import (
    BlockedAddress,
    IPNetwork,
    check_hostname,
    parse_networks,
    resolve_checked,
)
from newsflow.transforms.politeness import host_key, shared_gate
from newsflow.transforms.robots import RobotsRules, shared_cache

FetchKind = Literal["page", "feed", "robots", "any"]
Outcome = Literal["ok", "not_modified", "skip", "error"]

ACCEPT_ENCODING = "gzip, deflate, br, zstd"
ACCEPT = {
    "page": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5",
    "feed": ("application/rss+xml,application/atom+xml,application/feed+json,application/xml;q=0.9,"
             "text/xml;q=0.9,application/json;q=0.8,text/html;q=0.5,*/*;q=0.3"),
    "robots": "text/plain,*/*;q=0.5",
    "any": "*/*",
}
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
TRANSIENT_STATUSES = frozenset({408, 425, 429})
"""Besides every 5xx: statuses worth another attempt later."""

_READ_CHUNK = 65536
_ZSTD_FEED = 32
"""zstd has no output bound per call; a 32-byte input slice holds at most ~8 blocks of 128 KiB."""


@dataclass(frozen=True)
class FetchPolicy:
    """Limits and manners of every fetch; validated on construction."""

    connect_timeout_s: float = 5.0
    read_timeout_s: float = 10.0
    total_timeout_s: float = 30.0
    max_bytes: int = 5_000_000
    max_redirects: int = 5
    max_attempts: int = 3
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    host_concurrency: int = 1
    host_delay_s: float = 1.0
    allow_private_networks: tuple[str, ...] = ()
    replay_prefix: str | None = None
    user_agent: str = "newsflow/0.1 (+https://github.com/newsflow/newsflow)"
    respect_robots: bool = True

    def __post_init__(self) -> None:
        for name in ("connect_timeout_s", "read_timeout_s", "total_timeout_s", "backoff_max_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"FetchPolicy.{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("max_bytes", "max_attempts", "host_concurrency"):
            if getattr(self, name) < 1:
                raise ValueError(f"FetchPolicy.{name} must be >= 1, got {getattr(self, name)!r}")
        for name in ("max_redirects", "backoff_base_s", "host_delay_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"FetchPolicy.{name} must be >= 0, got {getattr(self, name)!r}")
        if isinstance(self.allow_private_networks, str):
            raise ValueError("FetchPolicy.allow_private_networks must be a tuple of CIDRs, not a string")
        try:
            parse_networks(self.allow_private_networks)
        except ValueError as exc:
            raise ValueError(f"FetchPolicy.allow_private_networks: {exc}") from exc
        if self.replay_prefix is not None:
            parts = urlsplit(self.replay_prefix)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"FetchPolicy.replay_prefix must be an http(s) URL, got {self.replay_prefix!r}")
        if not self.user_agent.strip():
            raise ValueError("FetchPolicy.user_agent must not be empty")


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class FetchResult:
    """The outcome of one fetch; URLs are always in original (never replay-prefixed) form."""

    url: str
    final_url: str
    outcome: Outcome
    reason: str | None
    status: int | None = None
    redirect_chain: list[str] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    text: str | None = None
    encoding: str | None = None
    content_type: str | None = None
    fetched_at: datetime = field(default_factory=_utcnow)
    attempts: int = 1
    error_class: str | None = None
    message: str | None = None
    moved_permanently: bool = False
    """Redirects were followed and every one was permanent (301/308): ``final_url`` replaces ``url``."""

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag")

    @property
    def last_modified(self) -> str | None:
        return self.headers.get("last-modified")


# ---------------------------------------------------------------- pure helpers


def media_type(content_type_header: str | None) -> str | None:
    """``Text/HTML; charset=x`` → ``text/html``; None when absent or empty."""
    if not content_type_header:
        return None
    value = content_type_header.split(";", 1)[0].strip().lower()
    return value or None


def is_html(media: str) -> bool:
    return media in ("text/html", "application/xhtml+xml")


def is_xml(media: str) -> bool:
    return media in ("application/xml", "text/xml") or media.endswith("+xml")


def is_json(media: str) -> bool:
    return media == "application/json" or media.endswith("+json")


def is_textual(media: str) -> bool:
    return media.startswith("text/") or is_html(media) or is_xml(media) or is_json(media)


def accepts(kind: FetchKind, media: str) -> bool:
    """Whether a fetch of ``kind`` keeps a response of media type ``media``."""
    if kind == "page":
        return is_html(media)
    if kind == "feed":
        return (media.startswith("text/") or is_xml(media) or is_json(media)
                or media in ("application/rss", "application/atom", "application/x-rss"))
    return True


def sniff_media_type(body: bytes) -> str:
    """A media type for a response without Content-Type, from its first bytes."""
    head = body[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head or b"<body" in head:
        return "text/html"
    if head.startswith((b"<?xml", b"<rss", b"<feed", b"<rdf")):
        return "application/xml"
    if head.startswith((b"{", b"[")):
        return "application/json"
    return "application/octet-stream"


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta seconds or an HTTP date; None if unusable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or _utcnow())).total_seconds())


def backoff_delay(attempt: int, retry_after: float | None, base_s: float, max_s: float,
                  rng: random.Random | None = None) -> float:
    """The wait before attempt ``attempt + 1``: Retry-After if given, else full jitter; capped."""
    if retry_after is not None:
        return min(retry_after, max_s)
    return (rng or random).uniform(0.0, min(max_s, base_s * 2 ** (attempt - 1)))


def url_key(url: str) -> str:
    """The identity of a URL for redirect-loop detection (fragment dropped)."""
    return url.split("#", 1)[0]


def replay_original(location: str, request_url: str, current_url: str, prefix: str) -> str:
    """The original-form URL a replay server's redirect points to (pywb convention).

    A Location already carrying the prefix (absolute, or relative to the prefixed request URL) is
    stripped of it; anything else is an original URL, resolved against the original current URL.
    """
    if urlsplit(location).scheme:
        absolute = location
    elif location.startswith("/") and not location.startswith("//"):
        absolute = urljoin(request_url, location)  # only the prefix's origin is used
    else:  # relative paths: joining them to the prefixed URL would mangle its embedded "//"
        return urljoin(current_url, location)
    if absolute.startswith(prefix):
        remainder = absolute[len(prefix):]
        if urlsplit(remainder).scheme in ("http", "https"):
            return remainder
    return urljoin(current_url, location)


# ---------------------------------------------------------------- decompression


class BodyTooLarge(Exception):
    pass


class UnsupportedEncoding(Exception):
    pass


class TotalTimeout(Exception):
    pass


class DnsError(Exception):
    """Host lookup failed; ``transient`` when the resolver said try again."""

    def __init__(self, message: str, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


Decoder = Callable[[bytes], Iterator[bytes]]


def _zlib_decoder(gzip: bool) -> tuple[Decoder, Callable[[], Iterator[bytes]]]:
    state: dict[str, Any] = {"obj": None}

    def make(first: bytes) -> Any:
        if gzip:
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        # "deflate" is meant to be zlib-wrapped, but servers also send raw deflate.
        wrapped = len(first) >= 2 and (first[0] & 0x0F) == 8 and ((first[0] << 8) | first[1]) % 31 == 0
        return zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)

    def feed(data: bytes) -> Iterator[bytes]:
        while data:
            if state["obj"] is None:
                state["obj"] = make(data)
            obj = state["obj"]
            out = obj.decompress(data, _READ_CHUNK)
            if out:
                yield out
            while obj.unconsumed_tail:
                out = obj.decompress(obj.unconsumed_tail, _READ_CHUNK)
                if out:
                    yield out
            data = b""
            if gzip and obj.eof and obj.unused_data:  # concatenated gzip members
                data, state["obj"] = obj.unused_data, None

    def flush() -> Iterator[bytes]:
        if state["obj"] is not None:
            out = state["obj"].flush()
            if out:
                yield out

    return feed, flush


def _brotli_decoder() -> tuple[Decoder, Callable[[], Iterator[bytes]]]:
    decompressor = brotli.Decompressor()

    def feed(data: bytes) -> Iterator[bytes]:
        out = decompressor.process(data, output_buffer_limit=_READ_CHUNK)
        if out:
            yield out
        while not decompressor.can_accept_more_data():
            out = decompressor.process(b"", output_buffer_limit=_READ_CHUNK)
            if not out:
                break
            yield out

    def flush() -> Iterator[bytes]:
        return iter(())

    return feed, flush


def _zstd_decoder() -> tuple[Decoder, Callable[[], Iterator[bytes]]]:
    obj = zstandard.ZstdDecompressor().decompressobj(read_across_frames=True)

    def feed(data: bytes) -> Iterator[bytes]:
        view = memoryview(data)
        for start in range(0, len(view), _ZSTD_FEED):
            out = obj.decompress(view[start:start + _ZSTD_FEED].tobytes())
            if out:
                yield out

    def flush() -> Iterator[bytes]:
        return iter(())

    return feed, flush


def _identity_decoder() -> tuple[Decoder, Callable[[], Iterator[bytes]]]:
    def feed(data: bytes) -> Iterator[bytes]:
        if data:
            yield data

    def flush() -> Iterator[bytes]:
        return iter(())

    return feed, flush


_DECODERS: dict[str, Callable[[], tuple[Decoder, Callable[[], Iterator[bytes]]]]] = {
    "gzip": lambda: _zlib_decoder(gzip=True),
    "x-gzip": lambda: _zlib_decoder(gzip=True),
    "deflate": lambda: _zlib_decoder(gzip=False),
    "br": _brotli_decoder,
    "zstd": _zstd_decoder,
    "identity": _identity_decoder,
}


def decoded_chunks(raw_chunks: Iterable[bytes], content_encoding: str | None) -> Iterator[bytes]:
    """Lazily undo a Content-Encoding (a list is applied in reverse order), chunk by chunk.

    Each yielded chunk is bounded (~64 KiB, ~1 MiB for zstd) whatever the compression ratio, so a
    caller that stops consuming at its byte limit never inflates a bomb.
    """
    codings = [c.strip().lower() for c in (content_encoding or "").split(",") if c.strip()]
    stages = []
    for coding in reversed(codings):
        if coding not in _DECODERS:
            raise UnsupportedEncoding(f"unsupported Content-Encoding {coding!r}")
        stages.append(_DECODERS[coding]())

    def through(chunks: Iterable[bytes], index: int) -> Iterator[bytes]:
        if index == len(stages):
            yield from chunks
            return
        feed, flush = stages[index]

        def fed() -> Iterator[bytes]:
            for chunk in chunks:
                yield from feed(chunk)
            yield from flush()

        yield from through(fed(), index + 1)

    return through(raw_chunks, 0)


def read_limited(chunks: Iterable[bytes], max_bytes: int,
                 deadline: float | None = None, clock: Callable[[], float] = time.monotonic) -> bytes:
    """Join chunks; BodyTooLarge past ``max_bytes``, TotalTimeout past ``deadline``."""
    parts: list[bytes] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > max_bytes:
            raise BodyTooLarge(f"body exceeds {max_bytes} bytes")
        if deadline is not None and clock() > deadline:
            raise TotalTimeout("total timeout exceeded while reading the body")
        parts.append(chunk)
    return b"".join(parts)


# ---------------------------------------------------------------- guarded transport


class _Deadline(threading.local):
    """The total-timeout deadline (time.monotonic) of the request running on this thread."""

    at: float | None = None


def _clamp(deadline: _Deadline, timeout: float | None, error: type[Exception]) -> float | None:
    """The socket timeout that still ends by the deadline; ``error`` once it has passed."""
    if deadline.at is None:
        return timeout
    remaining = deadline.at - time.monotonic()
    if remaining <= 0:
        raise error("total timeout exceeded")
    return remaining if timeout is None else min(timeout, remaining)


class _DeadlineStream(httpcore.NetworkStream):
    """Clamps every socket read and write to the request's total deadline."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: _Deadline) -> None:
        self._inner = inner
        self._deadline = deadline

    def _clamp(self, timeout: float | None, error: type[Exception]) -> float | None:
        return _clamp(self._deadline, timeout, error)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._clamp(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._clamp(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        inner = self._inner.start_tls(ssl_context, server_hostname,
                                      self._clamp(timeout, httpcore.ConnectTimeout))
        return _DeadlineStream(inner, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _GuardedBackend(httpcore.NetworkBackend):
    """Resolves each host itself, connects only to addresses the SSRF guard allows (pinned, so a
    second DNS answer cannot differ), and wraps streams with the total deadline."""

    def __init__(self, allowed: tuple[IPNetwork, ...], trusted: frozenset[tuple[str, int]],
                 deadline: _Deadline) -> None:
        self._inner = httpcore.SyncBackend()
        self._allowed = allowed
        self._trusted = trusted
        self._deadline = deadline

    def _addresses(self, host: str, port: int) -> list[str]:
        try:
            if (host.lower(), port) in self._trusted:
                return [host]
            return resolve_checked(host, port, self._allowed)
        except socket.gaierror as exc:
            raise DnsError(f"cannot resolve {host!r}: {exc}", transient=exc.errno == socket.EAI_AGAIN) from exc

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        last_error: Exception | None = None
        for address in self._addresses(host, port):
            try:
                stream = self._inner.connect_tcp(
                    address, port, _clamp(self._deadline, timeout, httpcore.ConnectTimeout),
                    local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
                continue
            return _DeadlineStream(stream, self._deadline)
        raise last_error or httpcore.ConnectError(f"no address to connect to for {host!r}")

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are not fetched")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class _GuardedTransport(httpx.HTTPTransport):
    def __init__(self, backend: _GuardedBackend, limits: httpx.Limits) -> None:
        ssl_context = httpx.create_ssl_context(trust_env=False)
        super().__init__(verify=ssl_context, limits=limits, trust_env=False)
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )


# ---------------------------------------------------------------- the client


@dataclass
class _Hop:
    """What one request gave: a redirect Location, or a final result (and whether to retry)."""

    location: str | None = None
    status: int | None = None
    result: FetchResult | None = None
    transient: bool = False
    retry_after: float | None = None
    elapsed_s: float = 0.0


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _headers(response: httpx.Response) -> dict[str, str]:
    merged: dict[str, str] = {}
    for name, value in response.headers.multi_items():
        key = name.lower()
        merged[key] = f"{merged[key]}, {value}" if key in merged else value
    return merged


def _reject_all_cookies() -> http.cookiejar.CookieJar:
    """A jar that keeps nothing: the pooled client is shared by every site, cookies must not be."""
    return http.cookiejar.CookieJar(policy=http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))


_STATUS_PHRASE = re.compile(r"\s+")


class HttpClient:
    """Thread-safe fetcher: one pooled connection pool of its own; the per-host gate and the robots
    cache are the worker process's (``politeness.shared_gate``, ``robots.shared_cache``), shared by
    every client with the same policy and clock, so two stages in one process are polite together
    and robots.txt is fetched once per origin. ``sleep`` and ``clock`` drive backoff, politeness and
    cache expiry (tests fake them); socket timeouts always run on the real clock.

    Every fetch learns its host's Crawl-delay from robots.txt; only pages obey Disallow (feeds,
    sitemaps and discovery probes come from the operator's list, which robots.txt does not veto)."""

    def __init__(self, policy: FetchPolicy, *, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self._sleep = sleep
        self._clock = clock
        self._rng = random.Random()
        self._allowed = parse_networks(policy.allow_private_networks)
        self._deadline = _Deadline()
        trusted: frozenset[tuple[str, int]] = frozenset()
        if policy.replay_prefix is not None:
            prefix = httpx.URL(policy.replay_prefix)
            trusted = frozenset({(prefix.host.lower(), prefix.port or (443 if prefix.scheme == "https" else 80))})
        backend = _GuardedBackend(self._allowed, trusted, self._deadline)
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=30.0)
        self._client = httpx.Client(
            transport=_GuardedTransport(backend, limits),
            follow_redirects=False,
            trust_env=False,
            cookies=_reject_all_cookies(),
            headers={"User-Agent": policy.user_agent, "Accept-Encoding": ACCEPT_ENCODING},
        )
        self.gate = shared_gate(policy.host_concurrency, policy.host_delay_s, sleep=sleep, clock=clock)
        self.robots = shared_cache(policy, clock=clock)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- public

    def fetch(self, url: str, *, kind: FetchKind = "page", etag: str | None = None,
              last_modified: str | None = None) -> FetchResult:
        """Fetch ``url``; never raises for a bad URL or response (see FetchResult.outcome/reason)."""
        max_attempts = 1 if kind == "robots" else self.policy.max_attempts
        attempt = 0
        while True:
            attempt += 1
            try:
                result, transient, retry_after = self._attempt(url, kind, etag, last_modified)
            except Exception as exc:  # a bug must cost one URL, not the worker
                result = self._error(url, url, [], "internal_error", exc)
                transient, retry_after = False, None
            result.attempts = attempt
            if not transient or attempt >= max_attempts:
                return result
            if retry_after is not None and retry_after > self.policy.backoff_max_s:
                # Asking again sooner than the server allows is rude; waiting that long here would
                # stall the worker. Give up now: the caller keeps the Retry-After (result.headers).
                return result
            self._sleep(backoff_delay(attempt, retry_after, self.policy.backoff_base_s,
                                      self.policy.backoff_max_s, self._rng))

    def site_sitemaps(self, url: str) -> tuple[str, ...]:
        """The ``Sitemap:`` URLs of the robots.txt of ``url``'s origin (fetched once per process and
        TTL); none when robots.txt is not respected, missing or unreachable."""
        if not self.policy.respect_robots:
            return ()
        return self.robots.rules_for(url, self._load_robots).sitemaps

    # -- internals

    def _wire_url(self, url: str) -> str:
        prefix = self.policy.replay_prefix
        return url if prefix is None else prefix + url

    @staticmethod
    def _skip(url: str, final_url: str, chain: list[str], reason: str, message: str,
              status: int | None = None, headers: dict[str, str] | None = None) -> FetchResult:
        return FetchResult(url, final_url, "skip", reason, status, list(chain), headers or {},
                           message=message)

    @staticmethod
    def _error(url: str, final_url: str, chain: list[str], reason: str, exc: BaseException | None,
               status: int | None = None, headers: dict[str, str] | None = None,
               error_class: str | None = None, message: str | None = None) -> FetchResult:
        return FetchResult(url, final_url, "error", reason, status, list(chain), headers or {},
                           error_class=error_class or type(exc).__name__,
                           message=message if message is not None else str(exc)[:2000])

    def _load_robots(self, robots_url: str) -> RobotsRules:
        result = self.fetch(robots_url, kind="robots")
        if result.outcome == "ok":
            return RobotsRules.from_text(result.text or "", self.policy.user_agent)
        if result.reason == "blocked_address":
            return RobotsRules("blocked")
        if result.reason == "too_many_redirects":  # RFC 9309 §2.3.1.2: may be taken as unavailable
            return RobotsRules("allow_all")
        if result.outcome == "error":
            return RobotsRules.from_status(result.status)
        return RobotsRules("allow_all")  # too large, redirect loop, odd type: no usable rules

    def _robots_verdict(self, url: str, kind: FetchKind) -> str | None:
        """The skip reason robots.txt imposes on ``url``, or None to go ahead. Any kind learns the
        host's Crawl-delay; only a page is held back by a deferral, a block or a Disallow."""
        rules = self.robots.rules_for(url, self._load_robots)
        if rules.crawl_delay_s:
            self.gate.raise_delay(host_key(url), rules.crawl_delay_s)
        if kind != "page":
            return None
        if rules.state == "deferred":
            return "host_deferred"
        if rules.state == "blocked":
            return "blocked_address"
        return None if rules.allows(url) else "robots_disallowed"

    def _attempt(self, url: str, kind: FetchKind, etag: str | None,
                 last_modified: str | None) -> tuple[FetchResult, bool, float | None]:
        """One attempt: follow up to max_redirects hops; returns (result, transient, retry_after)."""
        policy = self.policy
        current, seen = url, {url_key(url)}
        chain: list[str] = []
        permanent = True
        budget = policy.total_timeout_s
        for hop_index in range(policy.max_redirects + 1):
            parts = urlsplit(current)
            if parts.scheme not in ("http", "https"):
                return self._skip(url, current, chain, "unsupported_scheme",
                                  f"scheme {parts.scheme!r} is not fetched"), False, None
            if not parts.hostname:
                return self._error(url, current, chain, "invalid_url", None, error_class="InvalidURL",
                                   message=f"no host in {current!r}"), False, None
            try:
                check_hostname(parts.hostname, self._allowed)
            except BlockedAddress as exc:
                return self._skip(url, current, chain, "blocked_address", str(exc)), False, None
            if kind != "robots" and policy.respect_robots:
                verdict = self._robots_verdict(current, kind)
                if verdict is not None:
                    return self._skip(url, current, chain, verdict,
                                      f"robots.txt of {parts.hostname}: {verdict}"), False, None
            with self.gate.slot(host_key(current)):
                hop = self._request(url, current, chain, kind, etag, last_modified, budget)
            budget -= hop.elapsed_s
            if hop.location is None:
                assert hop.result is not None
                hop.result.moved_permanently = bool(chain) and permanent
                return hop.result, hop.transient, hop.retry_after
            if policy.replay_prefix is not None:
                target = replay_original(hop.location, self._wire_url(current), current, policy.replay_prefix)
            else:
                target = urljoin(current, hop.location)
            if url_key(target) in seen:  # a loop: never ends, however many hops are allowed
                return self._error(url, current, chain, "too_many_redirects", None, hop.status,
                                   error_class="TooManyRedirects",
                                   message=f"redirect loop: {current} redirects back to {target}"), False, None
            if hop_index == policy.max_redirects:
                return self._error(url, current, chain, "too_many_redirects", None, hop.status,
                                   error_class="TooManyRedirects",
                                   message=f"more than {policy.max_redirects} redirects"), False, None
            chain.append(current)
            permanent = permanent and hop.status in (301, 308)
            seen.add(url_key(target))
            current = target
            if budget <= 0:
                return self._error(url, current, chain, "timeout", None, error_class="TotalTimeout",
                                   message="total timeout exceeded across redirects"), True, None
        raise AssertionError("unreachable: the loop returns on its last hop")

    def _request(self, url: str, current: str, chain: list[str], kind: FetchKind, etag: str | None,
                 last_modified: str | None, budget_s: float) -> _Hop:
        policy = self.policy
        headers = {"Accept": ACCEPT[kind]}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        timeout = httpx.Timeout(connect=min(policy.connect_timeout_s, budget_s),
                                read=min(policy.read_timeout_s, budget_s),
                                write=min(policy.read_timeout_s, budget_s), pool=budget_s)
        started = time.monotonic()
        deadline = started + budget_s
        self._deadline.at = deadline
        hop = _Hop()
        try:
            hop = self._exchange(url, current, chain, kind, headers, timeout, deadline)
        except BlockedAddress as exc:
            hop.result = self._skip(url, current, chain, "blocked_address", str(exc))
        except UnsupportedEncoding as exc:
            hop.result = self._skip(url, current, chain, "unsupported_content_encoding", str(exc))
        except (httpx.TimeoutException, TotalTimeout) as exc:
            hop.result, hop.transient = self._error(url, current, chain, "timeout", exc), True
        except DnsError as exc:
            hop.result, hop.transient = self._error(url, current, chain, "dns_error", exc), exc.transient
        except httpx.ConnectError as exc:
            if _caused_by(exc, ssl.SSLError):  # a bad certificate will not get better in a second
                hop.result = self._error(url, current, chain, "tls_error", exc)
            else:
                hop.result, hop.transient = self._error(url, current, chain, "connect_error", exc), True
        except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            hop.result, hop.transient = self._error(url, current, chain, "network_error", exc), True
        except (httpx.UnsupportedProtocol, httpx.InvalidURL, httpx.LocalProtocolError) as exc:
            hop.result = self._error(url, current, chain, "invalid_url", exc)
        except (zlib.error, brotli.error, zstandard.ZstdError, httpx.DecodingError) as exc:
            hop.result = self._error(url, current, chain, "content_decoding_error", exc)
        finally:
            self._deadline.at = None
            hop.elapsed_s = time.monotonic() - started
        return hop

    def _exchange(self, url: str, current: str, chain: list[str], kind: FetchKind,
                  headers: dict[str, str], timeout: httpx.Timeout, deadline: float) -> _Hop:
        with self._client.stream("GET", self._wire_url(current), headers=headers, timeout=timeout) as response:
            status = response.status_code
            response_headers = _headers(response)
            location = response_headers.get("location")
            if status in REDIRECT_STATUSES and location:
                return _Hop(location=location.strip(), status=status)
            if status == 304:
                return _Hop(status=status, result=FetchResult(
                    url, current, "not_modified", None, status, list(chain), response_headers))
            if not 200 <= status < 300:
                transient = status >= 500 or status in TRANSIENT_STATUSES
                phrase = _STATUS_PHRASE.sub(" ", response.reason_phrase or "").strip()
                return _Hop(status=status, transient=transient,
                            retry_after=parse_retry_after(response_headers.get("retry-after")),
                            result=self._error(url, current, chain, f"http_{status}", None, status,
                                               response_headers, error_class="HTTPStatusError",
                                               message=f"HTTP {status} {phrase}".strip()))
            hop = _Hop(status=status)
            media = media_type(response_headers.get("content-type"))
            if media is not None and not accepts(kind, media):
                hop.result = self._skip(url, current, chain, "unsupported_content_type",
                                        f"{media} is not fetched as {kind}", status, response_headers)
                return hop
            declared_length = response_headers.get("content-length", "")
            if (declared_length.isdigit() and int(declared_length) > self.policy.max_bytes
                    and response_headers.get("content-encoding", "identity").lower() == "identity"):
                hop.result = self._skip(url, current, chain, "body_too_large",
                                        f"Content-Length {declared_length} exceeds {self.policy.max_bytes} bytes",
                                        status, response_headers)
                return hop
            chunks = decoded_chunks(response.iter_raw(_READ_CHUNK), response_headers.get("content-encoding"))
            try:
                body = read_limited(chunks, self.policy.max_bytes, deadline)
            except BodyTooLarge as exc:
                hop.result = self._skip(url, current, chain, "body_too_large", str(exc), status, response_headers)
                return hop
        if media is None:
            media = sniff_media_type(body)
            if not accepts(kind, media):
                hop.result = self._skip(url, current, chain, "unsupported_content_type",
                                        f"{media} (sniffed) is not fetched as {kind}", status, response_headers)
                return hop
        text = encoding = None
        if is_textual(media):
            text, encoding = decode_body(body, response_headers.get("content-type"))
        hop.result = FetchResult(url, current, "ok", None, status, list(chain), response_headers, body,
                                 text, encoding, media)
        return hop
