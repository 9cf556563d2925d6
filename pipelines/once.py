"""The once-mode job: one bounded run from the feed list to committed Parquet datasets.

``run(argv)`` parses and validates every flag and the config before a pipeline is built, recovers
any interrupted commit under the output root, runs the graph, then prints one summary line per
stage from Beam metrics and writes the same figures to ``_manifests/<run_id>/stats.json``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import secrets
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.runners.portability.fn_api_runner import worker_handlers

from newsflow.pipelines.config import ConfigError, load_config
from newsflow.pipelines.options import NewsflowOptions, with_local_runner
from newsflow.transforms.dedup_history import HISTORY_DIR, HistoryRow
from newsflow.transforms.dedup_history import SCHEMA as HISTORY_SCHEMA
from newsflow.transforms.drop_duplicates import DropDuplicates, batch_arrival
from newsflow.transforms.extract_articles import ExtractArticles
from newsflow.transforms.feed_state import (
    FEED_STATE_PATH,
    feed_state_row,
    feed_state_schema,
    load_feed_states,
)
from newsflow.transforms.fetch import FetchPages
from newsflow.transforms.http import FetchPolicy
from newsflow.transforms.items import REJECTED, Article, FeedSpec, Rejection
from newsflow.transforms.known_entries import SkipKnownEntries
from newsflow.transforms.polling import schedule
from newsflow.transforms.progress import LogProgress
from newsflow.transforms.read_feeds import ReadFeeds
from newsflow.transforms.repeats import RemoveRepeatedText
from newsflow.transforms.tagging import TagArticles
from newsflow.transforms.write_dataset import (
    DATASET_SCHEMAS,
    MANIFESTS_DIR,
    WriteDataset,
    article_row,
    deadletter_row,
    join,
    partition_path,
    partition_values,
    recover_incomplete_commits,
    validate_partition_keys,
    write_bytes,
)


class UsageError(ValueError):
    """Bad flags or config: reported before any pipeline starts."""


def new_run_id(now: datetime | None = None) -> str:
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{moment:%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"


def fetch_policy(opts: NewsflowOptions) -> FetchPolicy:
    return FetchPolicy(
        connect_timeout_s=opts.connect_timeout_s, read_timeout_s=opts.read_timeout_s,
        total_timeout_s=opts.total_timeout_s, max_bytes=opts.max_body_bytes,
        max_attempts=opts.max_attempts, host_concurrency=opts.host_concurrency,
        host_delay_s=opts.host_delay_s,
        allow_private_networks=tuple(opts.allow_private_network or ()),
        replay_prefix=opts.replay_prefix, respect_robots=not opts.ignore_robots)


@dataclass
class RunPlan:
    """Everything a run needs, resolved and validated before the graph is built."""

    options: PipelineOptions
    newsflow: NewsflowOptions
    feeds: list[FeedSpec]
    run_id: str
    partition_keys: tuple[str, ...]
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def plan(argv: list[str]) -> RunPlan:
    options = with_local_runner(PipelineOptions(argv))
    opts = options.view_as(NewsflowOptions)
    problems = opts.validate_newsflow()
    try:
        keys = validate_partition_keys(k.strip() for k in opts.partition_by.split(",") if k.strip())
    except ValueError as exc:
        problems.append(f"--partition_by: {exc}")
        keys = ()
    if problems:
        raise UsageError("; ".join(problems))
    try:
        feeds = load_config(opts.config)
    except ConfigError as exc:
        raise UsageError(str(exc)) from exc
    return RunPlan(options, opts, feeds, opts.run_id or new_run_id(), keys)


def article_rows(articles, run_id: str, keys: tuple[str, ...]):
    def to_row(article: Article):
        now = datetime.now(UTC)
        row = article_row(article, run_id, now)
        yield "articles/v1", partition_path(partition_values(row, now), keys), row

    return articles | "ArticleRows" >> beam.FlatMap(to_row)


def duplicate_rows(duplicates, run_id: str):
    def to_row(duplicate):
        now = datetime.now(UTC)
        row = article_row(duplicate.article, run_id, now)
        row.update(duplicate_of=duplicate.article.duplicate_of, similarity=duplicate.similarity,
                   method=duplicate.method, detected_at=duplicate.detected_at)
        yield "duplicates/v1", f"dt={now:%Y-%m-%d}", row

    return duplicates | "DuplicateRows" >> beam.FlatMap(to_row)


_HISTORY_FIELDS = tuple(f.name for f in fields(HistoryRow))


def history_row(row: HistoryRow) -> dict[str, Any]:
    """The dataset row of a ``HistoryRow``: its fields are flat values, so a shallow dict equals
    ``asdict`` (which deep-copies each value: 12 µs against 0.5 µs, ~27 rows per page)."""
    return {name: getattr(row, name) for name in _HISTORY_FIELDS}


def rejection_rows(rejections, run_id: str):
    def to_row(rejection: Rejection):
        count_rejection(rejection)
        yield "deadletters/v1", f"dt={rejection.at.astimezone(UTC):%Y-%m-%d}", deadletter_row(rejection, run_id)

    return rejections | "DeadletterRows" >> beam.FlatMap(to_row)


def count_rejection(rejection: Rejection) -> None:
    kind = "skipped" if rejection.kind == "skip" else "deadlettered"
    beam.metrics.Metrics.counter("newsflow", f"{kind}.{rejection.reason}").inc()


def _schedule(element: tuple[str, dict[str, list[Any]]], previous: Mapping[str, Any], base_s: float,
              min_s: float):
    _url, grouped = element
    published = [t for t in grouped["published"] if t is not None]
    for state in grouped["state"]:
        scheduled = schedule(state, previous.get(state.feed_url), published, base_s=base_s, min_s=min_s)
        yield FEED_STATE_PATH, "", feed_state_row(scheduled)


def schedule_polls(read, previous: Mapping[str, Any], base_s: float, min_s: float):
    """Feed state rows with the next poll time, from each feed's state and its entries' dates."""
    published = read.entries | "EntryDates" >> beam.Map(lambda e: (e.feed_url, e.published_at))
    states = read.feed_state | "StateByFeed" >> beam.Map(lambda s: (s.feed_url, s))
    return ({"state": states, "published": published}
            | "JoinFeedEntries" >> beam.CoGroupByKey()
            | "SchedulePolls" >> beam.FlatMap(_schedule, previous=previous, base_s=base_s, min_s=min_s))


def with_batch_arrival(article: Article, reference: datetime) -> Article:
    return replace(article, arrival_at=batch_arrival(article.published_at, reference))


def build(pipeline: beam.Pipeline, run: RunPlan, feed_states: Mapping[str, Any]) -> None:
    """The once graph: feeds → fetch → extract → repeats → dedup → tag → write, rejections → dead letters."""
    opts = run.newsflow
    policy = fetch_policy(opts)
    read = (pipeline
            | "Feeds" >> beam.Create(run.feeds)
            | "ReadFeeds" >> ReadFeeds(policy, validators=feed_states))
    fresh = read.entries | "SkipKnownEntries" >> SkipKnownEntries(opts.output)
    fetched = fresh | "FetchPages" >> FetchPages(policy, max_in_flight=opts.max_in_flight)
    pages = fetched.pages | "FetchProgress" >> LogProgress("pages fetched")
    extracted = pages | "ExtractArticles" >> ExtractArticles(workers=opts.extract_workers)
    cleaned = (extracted.articles
               | "ExtractProgress" >> LogProgress("articles extracted")
               | "RemoveRepeatedText" >> RemoveRepeatedText())
    deduped = (cleaned
               | "BatchArrival" >> beam.Map(with_batch_arrival, reference=run.started_at)
               | "DropDuplicates" >> DropDuplicates(
        history_root=opts.output, horizon=timedelta(hours=opts.dedup_horizon_h)))
    tagged = deduped.articles | "TagArticles" >> TagArticles(explain=opts.explain_tags)

    rejections = ((read[REJECTED], fetched[REJECTED], extracted[REJECTED])
                  | "AllRejections" >> beam.Flatten())
    history = deduped.history | "HistoryRows" >> beam.Map(lambda r: (HISTORY_DIR, "", history_row(r)))
    states = schedule_polls(read, feed_states, opts.poll_interval_s, opts.min_poll_interval_s)
    schemas = {**DATASET_SCHEMAS, HISTORY_DIR: HISTORY_SCHEMA, FEED_STATE_PATH: feed_state_schema()}
    ((article_rows(tagged, run.run_id, run.partition_keys),
      duplicate_rows(deduped.duplicates, run.run_id),
      rejection_rows(rejections, run.run_id),
      history, states)
     | "AllRows" >> beam.Flatten()
     | "WriteDataset" >> WriteDataset(opts.output, run.run_id, schemas))


STAGE_LINES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("feeds", ("feeds.polled", "feeds.not_modified", "feeds.unchanged", "feeds.bozo", "feeds.entries",
               "feeds.entries_known")),
    ("fetch", ("fetch.pages_ok",)),
    ("extract", ("extract.articles",)),
    ("repeats", ("repeats.pages_changed",)),
    ("dedup", ("dedup.canonical", "dedup.duplicates", "dedup.history_matches")),
    ("tag", ("tag.articles", "tag.no_topic", "tag.no_country")),
    ("write", ("write.rows.articles", "write.rows.duplicates", "write.rows.deadletters", "write.files")),
)


@dataclass
class RunSummary:
    run_id: str
    output: str
    counters: dict[str, int] = field(default_factory=dict)

    def by_prefix(self, prefix: str) -> dict[str, int]:
        return {k[len(prefix):]: v for k, v in sorted(self.counters.items()) if k.startswith(prefix)}

    def lines(self) -> list[str]:
        out = []
        for stage, names in STAGE_LINES:
            figures = ", ".join(f"{n.split('.', 1)[1]}={self.counters.get(n, 0)}" for n in names)
            out.append(f"{stage:<8} {figures}")
        for label, prefix in (("skipped", "skipped."), ("dead", "deadlettered.")):
            reasons = self.by_prefix(prefix)
            detail = ", ".join(f"{k}={v}" for k, v in reasons.items()) or "none"
            out.append(f"{label:<8} {sum(reasons.values())} ({detail})")
        return out

    def stats(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "output": self.output, "counters": dict(sorted(self.counters.items())),
                "skipped": self.by_prefix("skipped."), "deadlettered": self.by_prefix("deadlettered.")}


def collect_counters(result: Any) -> dict[str, int]:
    counters: dict[str, int] = {}
    for metric in result.metrics().query(MetricsFilter().with_namespace("newsflow"))["counters"]:
        value = metric.committed if metric.committed is not None else metric.attempted
        counters[metric.key.metric.name] = counters.get(metric.key.metric.name, 0) + int(value or 0)
    return counters


def disable_local_state_cache() -> None:
    """Turn off the FnApiRunner's in-process state cache, as SDK workers on Dataflow have it.

    The embedded worker caches user state in a hard-coded 100 MB cache that weighs every value it
    stores with objsize, which walks the globals of every loaded module (~2,400 here) on each of
    the ~26 state accesses per page in DropDuplicates: ~18 ms of CPU per page, more than extraction. No
    option reaches it (``--max_cache_memory_usage_mb`` configures only separate SDK workers, where
    it defaults to 0: no cache), so the module default is set before the runner starts; only the
    local FnApiRunner reads it. State semantics are unchanged: reads go to the runner's state store.
    """
    worker_handlers.STATE_CACHE_SIZE_MB = 0


_M_MMAP_THRESHOLD = -3
"""glibc ``mallopt`` parameter number (malloc.h)."""


def map_large_blocks_separately(threshold: int = 128 * 1024) -> None:
    """Serve every allocation of ``threshold`` bytes or more from its own mapping, freed to the OS.

    glibc raises its mmap threshold to the largest block freed so far, after which each page's
    body (bytes, decoded text, the pickled copy for the extract workers: ~180 KB each on the bench
    pages) comes from the heap arenas of the fetch threads and stays resident as fragmentation.
    Fixing the threshold (as ``MALLOC_MMAP_THRESHOLD_`` would) lowered the peak RSS of 10,000 bench
    pages from 1.50 to 1.26 GB. Nothing happens where the C library has no ``mallopt``.
    """
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_MMAP_THRESHOLD, threshold)


def run(argv: list[str], *, out: Any = None) -> RunSummary:
    """Run once mode; raises ``UsageError`` for bad flags or config before anything starts."""
    return run_plan(plan(argv), out=out)


def run_plan(job: RunPlan, *, out: Any = None) -> RunSummary:
    """Run one planned job: recover, build, run, summarise; also one cycle of the local stream."""
    out = out or sys.stdout
    root = job.newsflow.output
    recovered = recover_incomplete_commits(root)
    if recovered["rolled_forward"] or recovered["discarded"]:
        print(f"recovered: rolled forward {recovered['rolled_forward']}, "
              f"discarded staging {recovered['discarded']}", file=out)
    states = load_feed_states(root)
    print(f"newsflow run {job.run_id}: {len(job.feeds)} feeds → {root}", file=out)
    disable_local_state_cache()
    map_large_blocks_separately()
    pipeline = beam.Pipeline(options=job.options)
    build(pipeline, job, states)
    result = pipeline.run()
    if job.options.view_as(StandardOptions).no_wait_until_finish:
        print(f"newsflow run {job.run_id}: submitted, state {result.state}; the job commits on its own",
              file=out)
        return RunSummary(job.run_id, root)
    result.wait_until_finish()
    summary = RunSummary(job.run_id, root, collect_counters(result))
    for line in summary.lines():
        print(line, file=out)
    write_bytes(join(root, MANIFESTS_DIR, job.run_id, "stats.json"),
                json.dumps(summary.stats(), indent=2).encode())
    return summary
