"""The native streaming graph, for runners that stream (Dataflow; Prism or Flink where available).

``PeriodicImpulse`` ticks → ``PollDueFeeds`` → ``FetchPages`` → ``ExtractArticles`` → ``RemoveRepeatedText``
→ ``DropDuplicates(streaming=True)`` → ``TagArticles`` → ``WriteWindowedDataset``; rejections → dead letters.

Beam semantics:

* One clock: a tick's event time is "now" for polling. Each feed is a key of a stateful DoFn whose state
  holds the ``FeedState`` of every URL the feed's last poll touched (ETag/Last-Modified, content hash,
  consecutive errors, interval, ``next_poll_at``). A tick polls only the feeds that are due and schedules
  their next poll from the tick's time (``polling.schedule``: adaptive, clamped, never below the
  server's ttl / sy:updatePeriod / max-age / Retry-After). A key's first poll starts from the states
  persisted under the output root by earlier jobs or local cycles.
* Ticks come every poll interval clamped to 30 s..5 min; a feed is polled at the first tick after it is
  due. Every output keeps its tick's timestamp, so the watermark after a tick waits for all of its
  fetches and the write windows follow polling (late data policy: ``transforms.write_windows``).
* Dedup decides on arrival against first-seen state in the global window (timers only free state after
  ``--dedup_horizon_h``), so a copy arriving in a later window or on a later day is a duplicate.
* Per window, the graph writes articles, duplicates and dead letters, plus ``_state/feeds/v1`` and
  ``_state/dedup/v1`` rows, which a restarted job or the local cycles load.

Local runners: the BundleBasedDirectRunner cannot expand ``PeriodicImpulse`` (a splittable DoFn: its SDF
override adds a GroupByKey after the streaming GroupByKey override has run, and the pipeline fails with
"Transform node ...ProcessKeyedElements/GroupByKey/GroupByKey ... was not replaced as expected"), so
tests pass TestStream ticks to ``build_stream(..., ticks=...)``; the FnApiRunner runs no unbounded source
incrementally, so local ``--mode stream`` runs successive bounded cycles instead (``pipelines.stream``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import apache_beam as beam
from apache_beam.coders import PickleCoder
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import StandardOptions
from apache_beam.pvalue import TaggedOutput
from apache_beam.transforms.periodicsequence import PeriodicImpulse
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec
from apache_beam.typehints import KV

from newsflow.pipelines.once import (
    RunPlan,
    RunSummary,
    article_rows,
    duplicate_rows,
    fetch_policy,
    rejection_rows,
)
from newsflow.transforms.dedup_history import HISTORY_DIR
from newsflow.transforms.dedup_history import SCHEMA as HISTORY_SCHEMA
from newsflow.transforms.drop_duplicates import DropDuplicates
from newsflow.transforms.extract_articles import ExtractArticles
from newsflow.transforms.feed_state import (
    FEED_STATE_PATH,
    feed_state_row,
    feed_state_schema,
    load_feed_states,
)
from newsflow.transforms.fetch import FetchPages
from newsflow.transforms.http import FetchPolicy, HttpClient
from newsflow.transforms.items import REJECTED, FeedSpec, Rejection
from newsflow.transforms.polling import is_due, schedule
from newsflow.transforms.read_feeds import (
    FEED_STATE,
    STAGE,
    UNEXPECTED_ERROR,
    FeedRead,
    FeedState,
    read_feed,
)
from newsflow.transforms.repeats import RemoveRepeatedText
from newsflow.transforms.tagging import TagArticles
from newsflow.transforms.urls import site_of
from newsflow.transforms.write_dataset import DATASET_SCHEMAS
from newsflow.transforms.write_windows import WriteWindowedDataset


def poll_if_due(spec: FeedSpec, known: Mapping[str, FeedState], now: datetime, fetch: Any, *,
                base_s: float, min_s: float, site_sitemaps: Any = None) -> FeedRead | None:
    """One tick of one feed: None when it is not due at ``now``; else what the poll read, its states
    scheduled from ``now`` (the tick's event time, the clock the due check uses too).

    ``known`` holds the feed's previous states by URL (the feed, and the page or sitemaps it led to).
    A poll that raised still yields a state for the feed, with one more error, so it backs off.
    """
    current = known.get(spec.url)
    if not is_due(current, now):
        return None
    try:
        read = read_feed(spec, fetch, known, site_sitemaps=site_sitemaps)
    except Exception as exc:  # one broken feed never fails the poller
        read = FeedRead(rejected=[Rejection.error(STAGE, spec.url, exc, feed_url=spec.url, reason=UNEXPECTED_ERROR)],
                        counters=["feeds.polled", f"feeds.failed.{UNEXPECTED_ERROR}"])
    if not read.states:
        base = current or FeedState(spec.url)
        read.states = [replace(base, polled_at=now, last_status=UNEXPECTED_ERROR,
                               consecutive_errors=base.consecutive_errors + 1)]
    published = [e.published_at for e in read.entries if e.published_at is not None]
    read.states = [schedule(state, known.get(state.feed_url), published, base_s=base_s, min_s=min_s, now=now)
                   for state in read.states]
    return read


class _PollDueFeeds(beam.DoFn):
    """Keyed by feed URL; on each tick polls the feed if it is due, keeping its states in Beam state.

    The first poll of a key starts from the states persisted under the output root (``initial``); after
    that the key's own state holds the states of the URLs its last poll touched.
    """

    STATES = ReadModifyWriteStateSpec("feed_states", PickleCoder())

    def __init__(self, policy: FetchPolicy, base_interval_s: float, min_interval_s: float,
                 initial: Mapping[str, FeedState], sitemap_readers: frozenset[str] = frozenset()):
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

    def process(self, element: tuple[str, FeedSpec], states=beam.DoFn.StateParam(STATES),
                timestamp=beam.DoFn.TimestampParam):
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


def first_source_per_site(feeds: list[FeedSpec]) -> frozenset[str]:
    """The one configured source of each site that also reads the site's robots.txt news sitemaps,
    so a site with many feeds has its sitemaps read once per poll, not once per feed."""
    first: dict[str, str] = {}
    for feed in feeds:
        first.setdefault(site_of(feed.url), feed.url)
    return frozenset(first.values())


class PollDueFeeds(beam.PTransform):
    """PCollection of ticks → entries of the feeds due at each tick, plus ``rejected`` and ``feed_state``."""

    def __init__(self, feeds: list[FeedSpec], policy: FetchPolicy, base_interval_s: float,
                 min_interval_s: float = 300.0, initial: Mapping[str, FeedState] | None = None):
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

    def expand(self, ticks):
        feeds = self._feeds
        return (ticks
                | "EveryFeed" >> beam.FlatMap(lambda _tick: [(f.url, f) for f in feeds]
                                              ).with_output_types(KV[str, Any])
                | "PollIfDue" >> beam.ParDo(_PollDueFeeds(self._policy, self._base_s, self._min_s, self._initial,
                                                     self._sitemap_readers))
                .with_input_types(KV[str, Any]).with_outputs(REJECTED, FEED_STATE, main="entries"))


def build_stream(pipeline: beam.Pipeline, run: RunPlan, ticks: Any = None,
                 allowed_lateness_s: int = 3600) -> None:
    """The streaming graph; ``ticks`` defaults to a PeriodicImpulse (tests pass a TestStream)."""
    opts = run.newsflow
    policy = fetch_policy(opts)
    if ticks is None:
        tick_s = max(30.0, min(opts.poll_interval_s, 300.0))
        ticks = pipeline | "Ticks" >> PeriodicImpulse(start_timestamp=time.time(), fire_interval=tick_s)
    polled = ticks | "PollDueFeeds" >> PollDueFeeds(run.feeds, policy, opts.poll_interval_s,
                                                    opts.min_poll_interval_s, load_feed_states(opts.output))
    # No SkipKnownEntries here: its history is read when a worker starts, which in a long-running job
    # would make what is fetched depend on worker restarts; dedup state decides instead.
    fetched = polled.entries | "FetchPages" >> FetchPages(policy, max_in_flight=opts.max_in_flight)
    extracted = fetched.pages | "ExtractArticles" >> ExtractArticles(workers=opts.extract_workers)
    cleaned = extracted.articles | "RemoveRepeatedText" >> RemoveRepeatedText()
    deduped = cleaned | "DropDuplicates" >> DropDuplicates(
        history_root=opts.output, horizon=timedelta(hours=opts.dedup_horizon_h), streaming=True)
    tagged = deduped.articles | "TagArticles" >> TagArticles(explain=opts.explain_tags)
    rejections = ((polled[REJECTED], fetched[REJECTED], extracted[REJECTED]) | "AllRejections" >> beam.Flatten())
    history = deduped.history | "HistoryRows" >> beam.Map(lambda r: (HISTORY_DIR, "", asdict(r)))
    states = polled[FEED_STATE] | "FeedStateRows" >> beam.Map(lambda s: (FEED_STATE_PATH, "", feed_state_row(s)))
    schemas = {**DATASET_SCHEMAS, HISTORY_DIR: HISTORY_SCHEMA, FEED_STATE_PATH: feed_state_schema()}
    ((article_rows(tagged, run.run_id, run.partition_keys),
      duplicate_rows(deduped.duplicates, run.run_id),
      rejection_rows(rejections, run.run_id),
      history, states)
     | "AllRows" >> beam.Flatten()
     | "WriteWindows" >> WriteWindowedDataset(opts.output, schemas, run.run_id, opts.window_s, allowed_lateness_s))


def start_native(run: RunPlan) -> Any:
    """Build the streaming graph and hand it to the runner; returns the runner's ``PipelineResult``
    (with ``--dry_run=True`` on Dataflow, the translated ``job`` is on it and nothing is submitted)."""
    run.options.view_as(StandardOptions).streaming = True
    pipeline = beam.Pipeline(options=run.options)
    build_stream(pipeline, run)
    return pipeline.run()


def run_native(run: RunPlan, *, out: Any) -> RunSummary:
    """Submit the streaming job to a streaming runner (it runs until drained or cancelled)."""
    result = start_native(run)
    print(f"streaming job submitted: state {result.state}", file=out)
    return RunSummary(run.run_id, run.newsflow.output)
