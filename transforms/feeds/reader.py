"""Read one configured source: fetch it with conditional GET, follow it to a discovered feed or child
sitemaps, read its site's Google News sitemaps, and say what became of each URL (``read_feed``)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import urlsplit

from newsflow.transforms.failures import UNEXPECTED_ERROR
from newsflow.transforms.feeds import discovery, sitemaps
from newsflow.transforms.feeds.parse import FeedSecurityError, ParsedFeed, parse_feed
from newsflow.transforms.feeds.polling import schedule
from newsflow.transforms.feeds.state import FeedState
from newsflow.transforms.fetch.backoff import parse_retry_after
from newsflow.transforms.fetch.client import FetchResult
from newsflow.transforms.items import FEEDS_STAGE, Entry, FeedSpec, Rejection
from newsflow.transforms.urls import normalize_url, site_of

ENTRIES = "entries"
FEED_STATE = "feed_state"

FEED_WITHOUT_ENTRIES = "feed_without_entries"
NOT_A_FEED = "not_a_feed"
NO_FEED_FOUND = "no_feed_found"
SITEMAP_CHILDREN_CAPPED = "sitemap_children_capped"
NOT_A_NEWS_SITEMAP = "not_a_news_sitemap"
SITE_SITEMAPS_CAPPED = "site_sitemaps_capped"
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


def poll_feed(spec: FeedSpec, fetch: Fetch, known: Mapping[str, FeedState], *, base_s: float, min_s: float,
              now: datetime | None = None, site_sitemaps: SiteSitemaps | None = None,
              max_sitemap_children: int = 100) -> FeedRead:
    """One poll of one source, in every mode: what ``read_feed`` read, with each state scheduled for its
    next poll (``polling.schedule``) from ``now`` (default: the state's own ``polled_at``).

    ``known`` holds the previous states by URL (the source, and the pages or sitemaps it led to): their
    validators are sent, and their intervals are where the schedule continues from. A read that raised
    still yields a state for the source, with one more error, so it backs off.
    """
    try:
        read = read_feed(spec, fetch, known, max_sitemap_children=max_sitemap_children,
                         site_sitemaps=site_sitemaps)
    except Exception as exc:  # one broken source never fails the stage
        read = FeedRead(rejected=[Rejection.error(FEEDS_STAGE, spec.url, exc, feed_url=spec.url, reason=UNEXPECTED_ERROR)],
                        counters=["feeds.polled", f"feeds.failed.{UNEXPECTED_ERROR}"])
    if not read.states:
        base = known.get(spec.url) or FeedState(spec.url)
        read.states = [replace(base, polled_at=now or datetime.now(UTC), last_status=UNEXPECTED_ERROR,
                               consecutive_errors=base.consecutive_errors + 1)]
    published = [e.published_at for e in read.entries if e.published_at is not None]
    read.states = [schedule(state, known.get(state.feed_url), published, base_s=base_s, min_s=min_s, now=now)
                   for state in read.states]
    return read


def first_source_per_site(feeds: Iterable[FeedSpec]) -> frozenset[str]:
    """The one configured source of each site that also reads the site's robots.txt news sitemaps, so a
    site with many feeds has its sitemaps read once per poll, not once per feed; both the batch reader
    and the streaming poller choose with this."""
    first: dict[str, str] = {}
    for feed in feeds:
        first.setdefault(site_of(feed.url), feed.url)
    return frozenset(first.values())


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
                self.out.rejected.append(Rejection.skip(FEEDS_STAGE, SITE_SITEMAPS_CAPPED, url, self.spec.url,
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
            self.out.rejected.append(Rejection.skip(FEEDS_STAGE, polled.reason or "skip", polled.url, self.spec.url,
                                                    polled.message))
            return
        if polled.status == "error":
            self.out.counters.append(f"feeds.failed.{polled.reason}")
            self.out.rejected.append(Rejection(
                "error", FEEDS_STAGE, polled.reason or "fetch_error", polled.url, self.spec.url,
                polled.error_class or "FetchError", polled.message,
                polled.result.attempts if polled.result is not None else 1))
            return
        parsed = polled.parsed
        assert parsed is not None and polled.result is not None
        if news_only and parsed.kind == "sitemap" and not parsed.child_sitemaps \
                and not is_news_sitemap(polled.result.body):
            self.out.counters.append(f"feeds.skipped.{NOT_A_NEWS_SITEMAP}")
            self.out.rejected.append(Rejection.skip(
                FEEDS_STAGE, NOT_A_NEWS_SITEMAP, polled.url, self.spec.url,
                f"robots.txt sitemap without Google News markup ({len(parsed.entries)} URLs): the site's archive"))
            return
        if parsed.bozo and parsed.entries:
            self.out.counters.append("feeds.bozo")
        for entry in parsed.entries:
            key = normalize_url(entry.url)
            if key in self.seen_links:
                self.out.rejected.append(Rejection.skip(FEEDS_STAGE, "duplicate_in_feed", entry.url, polled.url,
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
                self.out.rejected.append(Rejection.skip(FEEDS_STAGE, SITEMAP_CHILDREN_CAPPED, child, index.url,
                                                        f"sitemap nesting deeper than {MAX_SITEMAP_DEPTH}"))
            return
        for position, child in enumerate(children):
            if position >= self.max_sitemap_children:
                self.out.counters.append(f"feeds.skipped.{SITEMAP_CHILDREN_CAPPED}")
                self.out.rejected.append(Rejection.skip(
                    FEEDS_STAGE, SITEMAP_CHILDREN_CAPPED, child, index.url,
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
        self.out.rejected.append(Rejection.error(FEEDS_STAGE, url, exc, feed_url=self.spec.url, reason=reason))

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


