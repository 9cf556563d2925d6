"""ReadFeeds: the first stage. Each configured source (feed, sitemap, or HTML page to discover a
feed on) is fetched with conditional GET and parsed into ``Entry`` items; so are the Google News
sitemaps that the robots.txt of the source's site declares (``Sitemap:`` lines).

Per ``FeedSpec`` the stage emits its entries (main output ``entries``), a ``Rejection`` for
everything that did not become an entry (side output ``rejected``), and one ``FeedState`` per URL
it fetched (side output ``feed_state``) so the next run can send validators and schedule polls.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.pvalue import TaggedOutput
from apache_beam.transforms.window import BoundedWindow
from apache_beam.utils.timestamp import Timestamp
from apache_beam.utils.windowed_value import WindowedValue

from newsflow.transforms import discovery, sitemaps
from newsflow.transforms.feeds import FeedSecurityError, ParsedFeed, parse_feed
from newsflow.transforms.http import FetchPolicy, FetchResult, HttpClient, parse_retry_after
from newsflow.transforms.items import REJECTED, Entry, FeedSpec, Rejection
from newsflow.transforms.robots import origin_key
from newsflow.transforms.urls import normalize_url

STAGE = "feeds"
ENTRIES = "entries"
FEED_STATE = "feed_state"

FEED_WITHOUT_ENTRIES = "feed_without_entries"
NOT_A_FEED = "not_a_feed"
NO_FEED_FOUND = "no_feed_found"
SITEMAP_CHILDREN_CAPPED = "sitemap_children_capped"
NOT_A_NEWS_SITEMAP = "not_a_news_sitemap"
SITE_SITEMAPS_CAPPED = "site_sitemaps_capped"
UNEXPECTED_ERROR = "unexpected_error"
MAX_SITEMAP_DEPTH = 2
"""A sitemap index's children are fetched, and an index listed there has its own children fetched."""
MAX_SITE_SITEMAPS = 10
"""robots.txt ``Sitemap:`` lines read per source and poll; real sites list a handful."""


class EmptyFeed(Exception):
    """The feed parsed but listed no entries."""


class NotAFeed(Exception):
    """The body is neither a feed, a sitemap, nor an HTML page."""


class NoFeedFound(Exception):
    """No discovery candidate of an HTML page turned out to be a feed."""


@dataclass
class FeedState:
    """What the last poll of one URL learnt: validators for conditional GET, health, schedule hints.

    ``last_status`` is "ok", "not_modified", "unchanged" or the failure reason; ``kind`` is the
    parsed kind ("rss", "atom", "rdf", "json", "sitemap", "sitemap_index", "html", "unknown", "moved");
    an "html" source remembers the feed it led to in ``discovered_feed_url``, a "moved" one (answered
    through permanent redirects only) its new URL. ``interval_s`` and
    ``next_poll_at`` are left to ``newsflow.transforms.polling.schedule``.
    """

    feed_url: str
    etag: str | None = None
    last_modified: str | None = None
    content_sha256: str | None = None
    last_status: str | None = None
    last_success_at: datetime | None = None
    consecutive_errors: int = 0
    entries_seen: int = 0
    ttl_s: int | None = None
    update_period_s: int | None = None
    cache_max_age_s: int | None = None
    retry_after_s: int | None = None
    polled_at: datetime | None = None
    kind: str | None = None
    discovered_feed_url: str | None = None
    interval_s: float | None = None
    next_poll_at: datetime | None = None


Fetch = Callable[..., FetchResult]
SiteSitemaps = Callable[[str], Sequence[str]]
"""A URL → the ``Sitemap:`` URLs of its origin's robots.txt (``HttpClient.site_sitemaps``)."""
PollStatus = Literal["ok", "not_modified", "unchanged", "skip", "error"]


@dataclass
class FeedRead:
    """Everything one ``FeedSpec`` produced, and the counter names to increment."""

    entries: list[Entry] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    states: list[FeedState] = field(default_factory=list)
    counters: list[str] = field(default_factory=list)


@dataclass
class _Polled:
    url: str
    status: PollStatus
    result: FetchResult | None = None
    parsed: ParsedFeed | None = None
    reason: str | None = None
    error_class: str | None = None
    message: str | None = None
    sha256: str | None = None

    def is_feed(self) -> bool:
        """A usable feed: unchanged since last time, or parsed into entries or child sitemaps."""
        if self.status in ("not_modified", "unchanged"):
            return True
        return (self.status == "ok" and self.parsed is not None and self.parsed.kind not in ("html", "unknown")
                and bool(self.parsed.entries or self.parsed.child_sitemaps))


def read_feed(spec: FeedSpec, fetch: Fetch, validators: Mapping[str, FeedState] | None = None, *,
              max_sitemap_children: int = 100, site_sitemaps: SiteSitemaps | None = None) -> FeedRead:
    """Poll one configured source and everything it leads to (a discovered feed, child sitemaps).
    ``fetch`` is ``HttpClient.fetch``. With ``site_sitemaps`` (``HttpClient.site_sitemaps``), the
    sitemaps the robots.txt of the source's origin declares are read too (``read_site_sitemaps``).
    Never raises for a bad feed: failures are rejections."""
    reader = _Reader(spec, fetch, validators or {}, max_sitemap_children)
    reader.read()
    if site_sitemaps is not None:
        reader.read_site_sitemaps(site_sitemaps(spec.url))
    return reader.out


def news_first(urls: Sequence[str]) -> list[str]:
    """Sitemap URLs, those named like Google News sitemaps ("news" in the path) first, else in order."""
    return sorted(dict.fromkeys(urls), key=lambda url: "news" not in urlsplit(url).path.lower())


def is_news_sitemap(body: bytes) -> bool:
    """Whether a sitemap body (gzipped or not) uses the Google News sitemap namespace."""
    if sitemaps.is_gzip(body):
        try:
            body = sitemaps.gunzip_capped(body)
        except ValueError:
            return False
    return sitemaps.NEWS_NS.encode() in body


class _Reader:
    def __init__(self, spec: FeedSpec, fetch: Fetch, validators: Mapping[str, FeedState],
                 max_sitemap_children: int) -> None:
        self.spec = spec
        self.fetch = fetch
        self.validators = validators
        self.max_sitemap_children = max_sitemap_children
        self.out = FeedRead()
        self.seen_links: set[str] = set()
        self.polled: set[str] = set()

    def read_site_sitemaps(self, declared: Sequence[str]) -> None:
        """The site's own news sitemaps, news-named first, at most ``MAX_SITE_SITEMAPS``: a Google
        News sitemap gives entries (links the source already listed are ``duplicate_in_feed``), an
        index its children under the same rule; a plain sitemap (the site's archive) is skipped as
        ``not_a_news_sitemap``. URLs this read already polled are not asked again."""
        fresh = [url for url in news_first(declared) if normalize_url(url) not in self.polled]
        for position, url in enumerate(fresh):
            if position >= MAX_SITE_SITEMAPS:
                self.out.counters.append(f"feeds.skipped.{SITE_SITEMAPS_CAPPED}")
                self.out.rejected.append(Rejection.skip(STAGE, SITE_SITEMAPS_CAPPED, url, self.spec.url,
                                                        f"robots.txt lists more than {MAX_SITE_SITEMAPS} sitemaps"))
                continue
            self.out.counters.append("feeds.site_sitemaps")
            self._emit(self._poll(url), depth=0, news_only=True)

    def read(self) -> FeedRead:
        self.out.counters.append("feeds.polled")
        previous = self.validators.get(self.spec.url)
        if previous is not None and previous.discovered_feed_url:
            # The page's feed was found before (or the feed moved): poll it directly, rediscover
            # only if it broke.
            polled = self._poll(previous.discovered_feed_url)
            if polled.is_feed():
                self._page_state(previous.discovered_feed_url, None)
                self._emit(polled, depth=0)
                return self.out
            self.out.counters.append("feeds.rediscovered")
        polled = self._poll(self.spec.url)
        if polled.status == "ok" and polled.parsed is not None and polled.parsed.kind == "html":
            self._discover(polled)
        elif polled.status == "error" and _is_missing_site_root(polled):
            self._discover(polled)  # a homepage that is gone may still have a feed at a well-known path
        else:
            moved = _moved_to(polled)
            if moved is not None:  # later polls go to the new URL, whose state keeps the validators
                self._moved_state(moved, polled)
                polled = replace(polled, url=moved)
            self._emit(polled, depth=0)
        return self.out

    def _poll(self, url: str) -> _Polled:
        self.polled.add(normalize_url(url))
        previous = self.validators.get(url)
        conditional = previous is not None and previous.kind not in ("html", "sitemap_index")
        # .gz sitemaps come as application/gzip or octet-stream, which a "feed" fetch refuses.
        kind = "any" if urlsplit(url).path.lower().endswith(".gz") else "feed"
        result = self.fetch(url, kind=kind, etag=previous.etag if conditional and previous else None,
                            last_modified=previous.last_modified if conditional and previous else None)
        if result.outcome == "not_modified":
            return _Polled(url, "not_modified", result)
        if result.outcome in ("skip", "error"):
            return _Polled(url, "skip" if result.outcome == "skip" else "error", result,
                           reason=result.reason or result.outcome, error_class=result.error_class,
                           message=result.message)
        sha256 = hashlib.sha256(result.body).hexdigest()
        if conditional and previous is not None and previous.content_sha256 == sha256:
            # Byte-identical to the last poll (a server without validators, or one ignoring them).
            return _Polled(url, "unchanged", result, sha256=sha256)
        try:
            parsed = parse_feed(result.body, result.final_url or url, result.headers, now=result.fetched_at)
        except FeedSecurityError as exc:
            return _Polled(url, "error", result, reason=exc.reason, error_class=type(exc).__name__,
                           message=str(exc), sha256=sha256)
        return _Polled(url, "ok", result, parsed=parsed, sha256=sha256)

    def _discover(self, page: _Polled) -> None:
        """One level of discovery: the page's feed links, then the well-known paths."""
        assert page.result is not None
        links = page.parsed.alternate_links if page.parsed is not None else []
        candidates = discovery.feed_candidates(links, page.result.final_url or page.url, page.url)
        tried: list[str] = []
        for url in candidates:
            polled = self._poll(url)
            if polled.is_feed():
                self._page_state(url, page)
                self._emit(polled, depth=0)
                return
            tried.append(f"{url}: {_why_not_a_feed(polled)}")
        self.out.counters.append("feeds.discovery_failed")
        self._page_state(None, page)
        what = "HTML page" if page.status == "ok" else f"site root answered {page.reason}"
        self._fail(page.url, NO_FEED_FOUND, NoFeedFound(
            f"{what}; none of {len(candidates)} candidates is a feed ({'; '.join(tried)})"[:2000]))

    def _emit(self, polled: _Polled, depth: int, news_only: bool = False) -> None:
        """Entries, rejections and the state of one poll; ``news_only``: a sitemap found through
        robots.txt, which gives entries only when it is a Google News sitemap."""
        state = self._state(polled)
        self.out.states.append(state)
        if polled.status == "not_modified":
            self.out.counters.append("feeds.not_modified")
            return
        if polled.status == "unchanged":
            self.out.counters.append("feeds.unchanged")
            return
        if polled.status == "skip":
            self.out.counters.append(f"feeds.failed.{polled.reason}")
            self.out.rejected.append(Rejection.skip(STAGE, polled.reason or "skip", polled.url, self.spec.url,
                                                    polled.message))
            return
        if polled.status == "error":
            self.out.counters.append(f"feeds.failed.{polled.reason}")
            self.out.rejected.append(Rejection(
                "error", STAGE, polled.reason or "fetch_error", polled.url, self.spec.url,
                polled.error_class or "FetchError", polled.message,
                polled.result.attempts if polled.result is not None else 1))
            return
        parsed = polled.parsed
        assert parsed is not None and polled.result is not None
        if news_only and parsed.kind == "sitemap" and not parsed.child_sitemaps \
                and not is_news_sitemap(polled.result.body):
            self.out.counters.append(f"feeds.skipped.{NOT_A_NEWS_SITEMAP}")
            self.out.rejected.append(Rejection.skip(
                STAGE, NOT_A_NEWS_SITEMAP, polled.url, self.spec.url,
                f"robots.txt sitemap without Google News markup ({len(parsed.entries)} URLs): the site's archive"))
            return
        if parsed.bozo and parsed.entries:
            self.out.counters.append("feeds.bozo")
        for entry in parsed.entries:
            key = normalize_url(entry.url)
            if key in self.seen_links:
                self.out.rejected.append(Rejection.skip(STAGE, "duplicate_in_feed", entry.url, polled.url,
                                                        "link already listed by another feed or sitemap of this source"))
                continue
            self.seen_links.add(key)
            self.out.entries.append(replace(entry, feed_url=polled.url, feed_name=self.spec.name,
                                            region_hint=self.spec.region_hint, tags=self.spec.tags))
            self.out.counters.append("feeds.entries")
        for rejection in parsed.rejected:
            self.out.counters.append(f"feeds.skipped.{rejection.reason}")
            self.out.rejected.append(replace(rejection, feed_url=polled.url))
        state.entries_seen = len(parsed.entries)
        if parsed.child_sitemaps:
            self._emit_children(polled, parsed.child_sitemaps, depth, news_only)
        elif not parsed.entries and not parsed.rejected:
            if parsed.kind in ("unknown", "html"):
                detail = parsed.bozo_message or f"kind {parsed.kind}"
                self._fail(polled.url, NOT_A_FEED, NotAFeed(f"not a feed or sitemap: {detail}"))
                _mark_failed(state, NOT_A_FEED, self.validators.get(polled.url))
            else:
                detail = f" (bozo: {parsed.bozo_message})" if parsed.bozo else ""
                self._fail(polled.url, FEED_WITHOUT_ENTRIES, EmptyFeed(f"{parsed.kind} feed lists no entries{detail}"))
                _mark_failed(state, FEED_WITHOUT_ENTRIES, self.validators.get(polled.url))

    def _emit_children(self, index: _Polled, children: list[str], depth: int, news_only: bool) -> None:
        if depth >= MAX_SITEMAP_DEPTH:
            for child in children:
                self.out.counters.append(f"feeds.skipped.{SITEMAP_CHILDREN_CAPPED}")
                self.out.rejected.append(Rejection.skip(STAGE, SITEMAP_CHILDREN_CAPPED, child, index.url,
                                                        f"sitemap nesting deeper than {MAX_SITEMAP_DEPTH}"))
            return
        for position, child in enumerate(children):
            if position >= self.max_sitemap_children:
                self.out.counters.append(f"feeds.skipped.{SITEMAP_CHILDREN_CAPPED}")
                self.out.rejected.append(Rejection.skip(
                    STAGE, SITEMAP_CHILDREN_CAPPED, child, index.url,
                    f"sitemap index lists more than {self.max_sitemap_children} sitemaps"))
                continue
            if normalize_url(child) in self.polled:  # e.g. also a robots.txt Sitemap line
                continue
            self._emit(self._poll(child), depth + 1, news_only)

    def _fail(self, url: str, reason: str, exc: Exception) -> None:
        """Dead-letter a source that was fetched but gave nothing; its state records the failure."""
        for state in self.out.states:
            if state.feed_url == url:
                previous = self.validators.get(url)
                state.last_status = reason
                state.consecutive_errors = (previous.consecutive_errors if previous else 0) + 1
        self.out.counters.append(f"feeds.failed.{reason}")
        self.out.rejected.append(Rejection.error(STAGE, url, exc, feed_url=self.spec.url, reason=reason))

    def _page_state(self, feed_url: str | None, page: _Polled | None) -> None:
        """The page's own state, remembering the feed it led to (polled directly next time)."""
        if page is None:  # the page was not fetched this time
            base = self.validators.get(self.spec.url) or FeedState(self.spec.url)
            self.out.states.append(replace(base, kind=base.kind or "html", discovered_feed_url=feed_url))
            return
        state = self._state(page)
        state.kind, state.discovered_feed_url = "html", feed_url
        self.out.states.append(state)

    def _moved_state(self, moved: str, polled: _Polled) -> None:
        """The configured URL's state after a permanent redirect: it remembers the new URL."""
        assert polled.result is not None
        base = self.validators.get(self.spec.url) or FeedState(self.spec.url)
        self.out.states.append(replace(base, kind="moved", discovered_feed_url=moved, last_status="moved_permanently",
                                       polled_at=polled.result.fetched_at, entries_seen=0))

    def _state(self, polled: _Polled) -> FeedState:
        previous = self.validators.get(polled.url) or FeedState(polled.url)
        result = polled.result
        if result is None:
            return previous
        headers = result.headers
        state = replace(previous, polled_at=result.fetched_at, last_status=polled.reason or polled.status,
                        entries_seen=0, retry_after_s=None)
        if polled.status in ("ok", "not_modified", "unchanged"):
            state.last_success_at = result.fetched_at
            state.consecutive_errors = 0
            state.cache_max_age_s = cache_max_age(headers)
            state.etag = result.etag or (previous.etag if polled.status != "ok" else None)
            state.last_modified = result.last_modified or (previous.last_modified if polled.status != "ok" else None)
        else:
            state.retry_after_s = retry_after(headers, result.fetched_at)
            if polled.status == "error":
                state.consecutive_errors = previous.consecutive_errors + 1
        if polled.sha256 is not None:
            state.content_sha256 = polled.sha256
        parsed = polled.parsed
        if parsed is not None:
            state.kind = "sitemap_index" if parsed.child_sitemaps else parsed.kind
            state.ttl_s, state.update_period_s = parsed.ttl_s, parsed.update_period_s
        return state


def _mark_failed(state: FeedState, reason: str, previous: FeedState | None) -> None:
    """A feed that answered but is unusable is failing, not healthy: count the error, keep the last real
    success, and drop the validators so the next poll parses it again instead of getting a 304."""
    state.last_status = reason
    state.consecutive_errors = (previous.consecutive_errors if previous else 0) + 1
    state.last_success_at = previous.last_success_at if previous else None
    state.etag = state.last_modified = state.content_sha256 = None


def cache_max_age(headers: Mapping[str, str]) -> int | None:
    """``max-age`` (or ``s-maxage``) of Cache-Control in seconds; 0 for no-cache/no-store."""
    directives = [d.strip().lower() for d in headers.get("cache-control", "").split(",") if d.strip()]
    if any(d in ("no-cache", "no-store") for d in directives):
        return 0
    for directive in directives:
        name, _, value = directive.partition("=")
        if name in ("max-age", "s-maxage"):
            try:
                return max(0, int(value.strip().strip('"')))
            except ValueError:
                return None
    return None


def retry_after(headers: Mapping[str, str], now: datetime) -> int | None:
    """Retry-After as whole seconds from ``now``: delta-seconds or an HTTP date."""
    seconds = parse_retry_after(headers.get("retry-after"), now)
    return None if seconds is None else int(seconds)


def _moved_to(polled: _Polled) -> str | None:
    """The new URL of a feed that answered through permanent redirects only (301/308), else None."""
    result = polled.result
    if result is None or not result.moved_permanently or not polled.is_feed() or result.final_url == polled.url:
        return None
    return result.final_url


def _is_missing_site_root(polled: _Polled) -> bool:
    """A site root (a homepage given as a source) that answered with a 4xx status."""
    status = polled.result.status if polled.result is not None else None
    parts = urlsplit(polled.url)
    return status is not None and 400 <= status < 500 and parts.path in ("", "/") and not parts.query


def _why_not_a_feed(polled: _Polled) -> str:
    if polled.status in ("skip", "error"):
        return polled.reason or polled.status
    if polled.parsed is None:
        return polled.status
    return f"{polled.parsed.kind} without entries"


class ReadFeeds(beam.PTransform):
    """PCollection[FeedSpec] → entries (main, ``Entry``), ``rejected`` (``Rejection``, stage
    "feeds") and ``feed_state`` (``FeedState``, one per URL fetched).

    Each element is handled on its own, with no grouping: every output carries the timestamp and
    window of the ``FeedSpec`` it came from, so the transform serves bounded and streaming pipelines
    alike. Up to ``max_parallel`` sources of a bundle are read at once through one pooled
    ``HttpClient`` per DoFn instance (created in ``setup``; the worker process's per-host gate and
    robots cache bound and space requests per host, with the page stage's); outputs leave when
    their group of sources is done, at the latest when the bundle finishes. With ``site_sitemaps``
    (default) the first source of each origin in a bundle also reads the Google News sitemaps
    that origin's robots.txt declares (``read_feed``), so a site with many feeds is read once.
    ``validators`` holds the previous ``FeedState`` by URL: its ETag/Last-Modified are sent, a 304
    or an unchanged body yields no entries but a fresh state. An HTML page is searched for a feed
    (one level); a sitemap index has its children fetched (nesting up to ``MAX_SITEMAP_DEPTH``).
    """

    def __init__(self, policy: FetchPolicy, validators: Mapping[str, FeedState] | None = None, *,
                 max_sitemap_children: int = 100, max_parallel: int = 8, site_sitemaps: bool = True) -> None:
        super().__init__()
        if not isinstance(policy, FetchPolicy):
            raise TypeError(f"policy must be a FetchPolicy, got {type(policy).__name__}")
        if validators is not None and not all(isinstance(s, FeedState) for s in validators.values()):
            raise TypeError("validators must map feed URLs to FeedState")
        if max_sitemap_children < 1:
            raise ValueError("max_sitemap_children must be at least 1")
        if max_parallel < 1:
            raise ValueError("max_parallel must be at least 1")
        self._policy = policy
        self._validators = dict(validators or {})
        self._max_sitemap_children = max_sitemap_children
        self._max_parallel = max_parallel
        self._site_sitemaps = site_sitemaps

    def expand(self, specs: beam.PCollection) -> beam.pvalue.DoOutputsTuple:
        return specs | "ReadFeed" >> beam.ParDo(
            _ReadFeedFn(self._policy, self._validators, self._max_sitemap_children, self._max_parallel,
                        self._site_sitemaps)
        ).with_outputs(REJECTED, FEED_STATE, main=ENTRIES)


class _ReadFeedFn(beam.DoFn):
    def __init__(self, policy: FetchPolicy, validators: dict[str, FeedState], max_sitemap_children: int,
                 max_parallel: int, site_sitemaps: bool) -> None:
        self._policy = policy
        self._validators = validators
        self._max_sitemap_children = max_sitemap_children
        self._max_parallel = max_parallel
        self._site_sitemaps = site_sitemaps
        self._client: HttpClient | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._pending: list[tuple[FeedSpec, Timestamp, BoundedWindow]] = []
        self._sites_read: set[str] = set()

    def setup(self) -> None:
        self._client = HttpClient(self._policy)
        self._pool = ThreadPoolExecutor(self._max_parallel, thread_name_prefix="read-feeds")

    def teardown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        if self._client is not None:
            self._client.close()

    def start_bundle(self) -> None:
        self._pending = []
        self._sites_read = set()

    def process(self, spec: FeedSpec, timestamp=beam.DoFn.TimestampParam, window=beam.DoFn.WindowParam):
        self._pending.append((spec, timestamp, window))
        if len(self._pending) >= 4 * self._max_parallel:
            yield from self._flush()

    def finish_bundle(self):
        yield from self._flush()

    def _flush(self) -> Iterator[Any]:
        """Read the pending sources concurrently; emit in input order, each in its own window.
        Counters are incremented here, on the bundle's thread, where Beam collects them."""
        assert self._pool is not None
        pending, self._pending = self._pending, []
        specs = [p[0] for p in pending]
        reads = self._pool.map(self._read, specs, [self._claims_site(spec) for spec in specs])
        for (_, timestamp, window), read in zip(pending, reads, strict=True):
            for name in read.counters:
                Metrics.counter("newsflow", name).inc()
            for entry in read.entries:
                yield WindowedValue(entry, timestamp, (window,))
            for rejection in read.rejected:
                yield TaggedOutput(REJECTED, WindowedValue(rejection, timestamp, (window,)))
            for state in read.states:
                yield TaggedOutput(FEED_STATE, WindowedValue(state, timestamp, (window,)))

    def _claims_site(self, spec: FeedSpec) -> bool:
        """Whether ``spec`` reads its site's robots.txt sitemaps: the first source of its origin in
        this bundle does (called on the bundle's thread, in input order)."""
        origin = origin_key(spec.url)
        if not self._site_sitemaps or origin in self._sites_read:
            return False
        self._sites_read.add(origin)
        return True

    def _read(self, spec: FeedSpec, reads_site: bool) -> FeedRead:
        assert self._client is not None
        try:
            return read_feed(spec, self._client.fetch, self._validators,
                             max_sitemap_children=self._max_sitemap_children,
                             site_sitemaps=self._client.site_sitemaps if reads_site else None)
        except Exception as exc:  # one broken source never fails the bundle
            return FeedRead(rejected=[Rejection.error(STAGE, spec.url, exc, feed_url=spec.url, reason=UNEXPECTED_ERROR)],
                            counters=["feeds.polled", f"feeds.failed.{UNEXPECTED_ERROR}"])
