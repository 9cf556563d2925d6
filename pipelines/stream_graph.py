"""The native streaming graph, for runners that stream (Dataflow; Prism or Flink where available).

``PeriodicImpulse`` → feeds that are due (per-feed state: validators, next poll time, error count) →
fetch → extract → repeats → dedup (in state) → tag → windowed writes. Event time is the poll tick, so
the write windows follow polling and the watermark of a tick waits for all of its fetches.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import asdict
from datetime import UTC, timedelta
from typing import Any

import apache_beam as beam
from apache_beam.coders import PickleCoder
from apache_beam.metrics import Metrics
from apache_beam.pvalue import TaggedOutput
from apache_beam.transforms.periodicsequence import PeriodicImpulse
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec

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
from newsflow.transforms.items import REJECTED, FeedSpec
from newsflow.transforms.polling import schedule
from newsflow.transforms.read_feeds import FEED_STATE, FeedState, read_feed
from newsflow.transforms.repeats import RemoveRepeatedText
from newsflow.transforms.tagging import TagArticles
from newsflow.transforms.write_dataset import DATASET_SCHEMAS
from newsflow.transforms.write_windows import WriteWindowedDataset

_LOG = logging.getLogger(__name__)


class _PollDueFeeds(beam.DoFn):
    """Keyed by feed URL; on each tick polls the feed if it is due, keeping its state in Beam state."""

    STATES = ReadModifyWriteStateSpec("feed_states", PickleCoder())

    def __init__(self, policy: FetchPolicy, base_interval_s: float, min_interval_s: float,
                 initial: Mapping[str, FeedState]):
        self._policy = policy
        self._base_s = base_interval_s
        self._min_s = min_interval_s
        self._initial = dict(initial)
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
        known: dict[str, FeedState] = states.read() or {
            u: s for u, s in self._initial.items() if u == spec.url or u.startswith(spec.url)}
        now = timestamp.to_utc_datetime().replace(tzinfo=UTC)
        current = known.get(spec.url)
        if current is not None and current.next_poll_at is not None and current.next_poll_at > now:
            Metrics.counter("newsflow", "feeds.not_due").inc()
            return
        read = read_feed(spec, self._client.fetch, known)
        for name in read.counters:
            Metrics.counter("newsflow", name).inc()
        published = [e.published_at for e in read.entries if e.published_at is not None]
        for state in read.states:
            scheduled = schedule(state, known.get(state.feed_url), published, base_s=self._base_s,
                                 min_s=self._min_s)
            known[state.feed_url] = scheduled
            yield TaggedOutput(FEED_STATE, scheduled)
        states.write(known)
        yield from read.entries
        for rejection in read.rejected:
            yield TaggedOutput(REJECTED, rejection)


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

    def expand(self, ticks):
        feeds = self._feeds
        return (ticks
                | "EveryFeed" >> beam.FlatMap(lambda _tick: [(f.url, f) for f in feeds])
                | "PollIfDue" >> beam.ParDo(_PollDueFeeds(self._policy, self._base_s, self._min_s, self._initial))
                .with_outputs(REJECTED, FEED_STATE, main="entries"))


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
     | "WriteWindows" >> WriteWindowedDataset(opts.output, schemas, opts.window_s, allowed_lateness_s))


def run_native(run: RunPlan, *, out: Any) -> RunSummary:
    """Submit the streaming job to a streaming runner (it runs until drained or cancelled)."""
    from apache_beam.options.pipeline_options import StandardOptions

    run.options.view_as(StandardOptions).streaming = True
    pipeline = beam.Pipeline(options=run.options)
    build_stream(pipeline, run)
    result = pipeline.run()
    print(f"streaming job submitted: state {result.state}", file=out)
    return RunSummary(run.run_id, run.newsflow.output)
