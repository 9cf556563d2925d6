"""ReadFeeds: the first stage. Each configured source (feed, sitemap, or HTML page to discover a
feed on) is fetched with conditional GET and parsed into ``Entry`` items; so are the Google News
sitemaps that the robots.txt of the source's site declares (``Sitemap:`` lines).

Per ``FeedSpec`` the stage emits its entries (main output ``entries``), a ``Rejection`` for
everything that did not become an entry (side output ``rejected``), and one ``FeedState`` per URL
it fetched (side output ``feed_state``) so the next run can send validators and schedule polls.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.pvalue import TaggedOutput
from apache_beam.transforms.window import BoundedWindow
from apache_beam.utils.timestamp import Timestamp
from apache_beam.utils.windowed_value import WindowedValue

from newsflow.transforms.feeds.polling import MIN_INTERVAL_S
from newsflow.transforms.feeds.reader import ENTRIES, FEED_STATE, FeedRead, poll_feed
from newsflow.transforms.feeds.state import FeedState
from newsflow.transforms.fetch.client import FetchPolicy, HttpClient
from newsflow.transforms.items import REJECTED, FeedSpec


class ReadFeeds(beam.PTransform):
    """PCollection[FeedSpec] → entries (main, ``Entry``), ``rejected`` (``Rejection``, stage
    "feeds") and ``feed_state`` (``FeedState``, one per URL fetched, scheduled for its next poll).

    Each element is handled on its own, with no grouping: every output carries the timestamp and
    window of the ``FeedSpec`` it came from, so the transform serves bounded and streaming pipelines
    alike. Up to ``max_parallel`` sources of a bundle are read at once through one pooled
    ``HttpClient`` per DoFn instance (created in ``setup``); outputs leave when their group of
    sources is done, at the latest when the bundle finishes. Each source is read and scheduled by
    ``reader.poll_feed``, as ``PollDueFeeds`` does in streaming. The sources listed in
    ``sitemap_readers`` (``reader.first_source_per_site`` of the configured list) also read the
    Google News sitemaps that their origin's robots.txt declares, so a site with many feeds is read
    once. ``validators`` holds the previous ``FeedState`` by URL: its ETag/Last-Modified are sent, a
    304 or an unchanged body yields no entries but a fresh state. An HTML page is searched for a feed
    (one level); a sitemap index has its children fetched (nesting up to ``MAX_SITEMAP_DEPTH``).
    """

    def __init__(self, policy: FetchPolicy, validators: Mapping[str, FeedState] | None = None, *,
                 base_interval_s: float = 900.0, min_interval_s: float = MIN_INTERVAL_S,
                 sitemap_readers: Collection[str] = (), max_sitemap_children: int = 100,
                 max_parallel: int = 8) -> None:
        super().__init__()
        if not isinstance(policy, FetchPolicy):
            raise TypeError(f"policy must be a FetchPolicy, got {type(policy).__name__}")
        if validators is not None and not all(isinstance(s, FeedState) for s in validators.values()):
            raise TypeError("validators must map feed URLs to FeedState")
        if base_interval_s <= 0 or min_interval_s <= 0:
            raise ValueError("polling intervals must be positive")
        if max_sitemap_children < 1:
            raise ValueError("max_sitemap_children must be at least 1")
        if max_parallel < 1:
            raise ValueError("max_parallel must be at least 1")
        self._policy = policy
        self._validators = dict(validators or {})
        self._base_s = base_interval_s
        self._min_s = min_interval_s
        self._sitemap_readers = frozenset(sitemap_readers)
        self._max_sitemap_children = max_sitemap_children
        self._max_parallel = max_parallel

    def expand(self, specs: beam.PCollection) -> beam.pvalue.DoOutputsTuple:
        return specs | "ReadFeed" >> beam.ParDo(_ReadFeedFn(self)).with_outputs(REJECTED, FEED_STATE, main=ENTRIES)


class _ReadFeedFn(beam.DoFn):
    def __init__(self, config: ReadFeeds) -> None:
        self._policy = config._policy
        self._validators = config._validators
        self._base_s = config._base_s
        self._min_s = config._min_s
        self._sitemap_readers = config._sitemap_readers
        self._max_sitemap_children = config._max_sitemap_children
        self._max_parallel = config._max_parallel
        self._client: HttpClient | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._pending: list[tuple[FeedSpec, Timestamp, BoundedWindow]] = []

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
        reads = self._pool.map(self._read, [p[0] for p in pending])
        for (_, timestamp, window), read in zip(pending, reads, strict=True):
            for name in read.counters:
                Metrics.counter("newsflow", name).inc()
            for entry in read.entries:
                yield WindowedValue(entry, timestamp, (window,))
            for rejection in read.rejected:
                yield TaggedOutput(REJECTED, WindowedValue(rejection, timestamp, (window,)))
            for state in read.states:
                yield TaggedOutput(FEED_STATE, WindowedValue(state, timestamp, (window,)))

    def _read(self, spec: FeedSpec) -> FeedRead:
        assert self._client is not None
        site_sitemaps = self._client.site_sitemaps if spec.url in self._sitemap_readers else None
        return poll_feed(spec, self._client.fetch, self._validators, base_s=self._base_s, min_s=self._min_s,
                         site_sitemaps=site_sitemaps, max_sitemap_children=self._max_sitemap_children)
