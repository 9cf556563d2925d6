"""The HTTP client every stage fetches with: bounded, redirect-checked, SSRF-guarded, polite.

One ``HttpClient`` wraps a pooled ``httpx.Client``. Each fetch follows redirects itself (every hop
is checked against the SSRF guard, robots.txt and the per-host gate), decompresses incrementally
so a decompression bomb is cut at ``max_bytes``, enforces connect, read and total timeouts, retries
transient failures with backoff, and never raises for one URL: the outcome is in the result.
"""

from __future__ import annotations

import http.cookiejar
import random
import re
import ssl
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import urljoin, urlsplit

import brotli
import httpx
import zstandard

from newsflow.transforms.fetch.backoff import backoff_delay, parse_retry_after
from newsflow.transforms.fetch.charset import decode_body
from newsflow.transforms.fetch.decoding import (
    READ_CHUNK,
    BodyTooLarge,
    UnsupportedEncoding,
    decoded_chunks,
    read_limited,
)
from newsflow.transforms.fetch.media import FetchKind, accepts, is_textual, media_type, sniff_media_type
from newsflow.transforms.fetch.netguard import (
    BlockedAddress,
    check_hostname,
    parse_networks,
)
from newsflow.transforms.fetch.politeness import shared_gate
from newsflow.transforms.fetch.robots import RobotsRules, shared_cache
from newsflow.transforms.fetch.transport import (
    Deadline,
    DnsError,
    GuardedBackend,
    GuardedTransport,
    TotalTimeout,
)
from newsflow.transforms.urls import host_key, without_fragment

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
        self._deadline = Deadline()
        trusted: frozenset[tuple[str, int]] = frozenset()
        if policy.replay_prefix is not None:
            prefix = httpx.URL(policy.replay_prefix)
            trusted = frozenset({(prefix.host.lower(), prefix.port or (443 if prefix.scheme == "https" else 80))})
        backend = GuardedBackend(self._allowed, trusted, self._deadline)
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=30.0)
        self._client = httpx.Client(
            transport=GuardedTransport(backend, limits),
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
        current, seen = url, {without_fragment(url)}
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
            if without_fragment(target) in seen:  # a loop: never ends, however many hops are allowed
                return self._error(url, current, chain, "too_many_redirects", None, hop.status,
                                   error_class="TooManyRedirects",
                                   message=f"redirect loop: {current} redirects back to {target}"), False, None
            if hop_index == policy.max_redirects:
                return self._error(url, current, chain, "too_many_redirects", None, hop.status,
                                   error_class="TooManyRedirects",
                                   message=f"more than {policy.max_redirects} redirects"), False, None
            chain.append(current)
            permanent = permanent and hop.status in (301, 308)
            seen.add(without_fragment(target))
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
            chunks = decoded_chunks(response.iter_raw(READ_CHUNK), response_headers.get("content-encoding"))
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
