"""PollDueFeeds: the streaming source stage. Each tick polls the configured sources that are due.

Beam semantics: one clock. A tick's event time is "now" for polling. Each source is a key of a
stateful DoFn whose state holds the ``FeedState`` of every URL its last poll touched (validators,
content hash, consecutive errors, interval, ``next_poll_at``). A tick polls only the sources that are
due and schedules their next poll from the tick's time (``reader.poll_feed``, the same function the
batch ``ReadFeeds`` uses). A key's first poll starts from the states persisted under the output root.
Every output keeps its tick's timestamp, so the watermark after a tick waits for all of its polls.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import apache_beam as beam
from apache_beam.coders import PickleCoder
from apache_beam.metrics import Metrics
from apache_beam.pvalue import TaggedOutput
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec
from apache_beam.typehints import KV

from newsflow.transforms.feeds.polling import MIN_INTERVAL_S, is_due
from newsflow.transforms.feeds.reader import (
    ENTRIES,
    FEED_STATE,
    FeedRead,
    Fetch,
    first_source_per_site,
    poll_feed,
)
from newsflow.transforms.feeds.state import FeedState
from newsflow.transforms.fetch.client import FetchPolicy, HttpClient
from newsflow.transforms.items import REJECTED, FeedSpec


def poll_if_due(spec: FeedSpec, known: Mapping[str, FeedState], now: datetime, fetch: Fetch, *,
                base_s: float, min_s: float, site_sitemaps: Any = None) -> FeedRead | None:
    """One tick of one source: None when it is not due at ``now``; else ``poll_feed`` from ``now``."""
    if not is_due(known.get(spec.url), now):
        return None
    return poll_feed(spec, fetch, known, base_s=base_s, min_s=min_s, now=now, site_sitemaps=site_sitemaps)


class _PollDueFeedsFn(beam.DoFn):
    """Keyed by source URL; on each tick polls the source if it is due, keeping its states in Beam state.

    The first poll of a key starts from the states persisted under the output root (``initial``); after
    that the key's own state holds the states of the URLs its last poll touched.
    """

    STATES = ReadModifyWriteStateSpec("feed_states", PickleCoder())

    def __init__(self, policy: FetchPolicy, base_interval_s: float, min_interval_s: float,
                 initial: Mapping[str, FeedState], sitemap_readers: frozenset[str]):
        self._policy = policy
        self._base_s = base_interval_s
        self._min_s = min_interval_s
        self._initial = dict(initial)
        self._sitemap_readers = sitemap_readers
        self._client: HttpClient | None = None

    def setup(self) -> None:
        self._client = HttpClient(self._policy)

    def teardown(self) -> None:
        if self._client is not None:
            self._client.close()

    def process(self, element: tuple[str, FeedSpec], states: Any = beam.DoFn.StateParam(STATES),
                timestamp: Any = beam.DoFn.TimestampParam) -> Iterator[Any]:
        assert self._client is not None
        _url, spec = element
        stored = states.read()
        known: Mapping[str, FeedState] = self._initial if stored is None else stored
        now = timestamp.to_utc_datetime().replace(tzinfo=UTC)
        site_sitemaps = self._client.site_sitemaps if spec.url in self._sitemap_readers else None
        read = poll_if_due(spec, known, now, self._client.fetch, base_s=self._base_s, min_s=self._min_s,
                           site_sitemaps=site_sitemaps)
        if read is None:
            Metrics.counter("newsflow", "feeds.not_due").inc()
            return
        for name in read.counters:
            Metrics.counter("newsflow", name).inc()
        states.write({state.feed_url: state for state in read.states})
        yield from read.entries
        for rejection in read.rejected:
            yield TaggedOutput(REJECTED, rejection)
        for state in read.states:
            yield TaggedOutput(FEED_STATE, state)


class PollDueFeeds(beam.PTransform):
    """PCollection of ticks → ``entries`` of the sources due at each tick, plus ``rejected`` and
    ``feed_state`` (each polled URL's scheduled state), all with the tick's timestamp.

    The first configured source of each site also reads that site's robots.txt news sitemaps
    (``first_source_per_site``), as in ``ReadFeeds``.
    """

    def __init__(self, feeds: list[FeedSpec], policy: FetchPolicy, base_interval_s: float,
                 min_interval_s: float = MIN_INTERVAL_S, initial: Mapping[str, FeedState] | None = None):
        super().__init__()
        if not feeds:
            raise ValueError("no feeds to poll")
        if base_interval_s <= 0 or min_interval_s <= 0:
            raise ValueError("polling intervals must be positive")
        self._feeds = list(feeds)
        self._policy = policy
        self._base_s = base_interval_s
        self._min_s = min_interval_s
        self._initial = dict(initial or {})
        self._sitemap_readers = first_source_per_site(self._feeds)

    def expand(self, ticks: beam.PCollection) -> beam.pvalue.DoOutputsTuple:
        feeds = self._feeds
        return (ticks
                | "EveryFeed" >> beam.FlatMap(lambda _tick: [(f.url, f) for f in feeds]
                                              ).with_output_types(KV[str, Any])
                | "PollIfDue" >> beam.ParDo(_PollDueFeedsFn(self._policy, self._base_s, self._min_s,
                                                            self._initial, self._sitemap_readers))
                .with_input_types(KV[str, Any]).with_outputs(REJECTED, FEED_STATE, main=ENTRIES))
