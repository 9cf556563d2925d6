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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import (
    GoogleCloudOptions,
    PipelineOptions,
    StandardOptions,
    TestOptions,
)
from apache_beam.runners.portability.fn_api_runner import worker_handlers

from newsflow.pipelines.config import ConfigError, load_config
from newsflow.pipelines.ingest import Ingest, IngestConfig, output_schemas, source_outputs
from newsflow.pipelines.options import NewsflowOptions, with_local_runner
from newsflow.transforms.feeds.read_feeds import ReadFeeds
from newsflow.transforms.feeds.reader import first_source_per_site
from newsflow.transforms.feeds.state import (
    load_feed_states,
)
from newsflow.transforms.items import FeedSpec
from newsflow.transforms.storage import join, write_bytes
from newsflow.transforms.write.rows import (
    validate_partition_keys,
)
from newsflow.transforms.write.write_dataset import MANIFESTS_DIR, WriteDataset, recover_incomplete_commits


class UsageError(ValueError):
    """Bad flags or config: reported before any pipeline starts."""


def new_run_id(now: datetime | None = None) -> str:
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{moment:%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"


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


def build(pipeline: beam.Pipeline, run: RunPlan, feed_states: Mapping[str, Any]) -> None:
    """The once graph: ``ReadFeeds`` → ``Ingest`` → ``WriteDataset`` (one atomic commit)."""
    opts = run.newsflow
    config = IngestConfig.of(opts, run_id=run.run_id, partition_keys=run.partition_keys, streaming=False,
                             started_at=run.started_at)
    read = (pipeline
            | "Feeds" >> beam.Create(run.feeds)
            | "ReadFeeds" >> ReadFeeds(config.policy, validators=feed_states,
                                       base_interval_s=opts.poll_interval_s,
                                       min_interval_s=opts.min_poll_interval_s,
                                       sitemap_readers=first_source_per_site(run.feeds)))
    _ = (source_outputs(read)
         | "Ingest" >> Ingest(config)
         | "WriteDataset" >> WriteDataset(opts.output, run.run_id, output_schemas()))


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


def not_submitted(options: PipelineOptions) -> str | None:
    """Why the runner will build the graph but run nothing: ``--dry_run=True`` (the runner translates
    and validates the job) or ``--template_location`` (it writes the job spec); None otherwise."""
    dry_run = options.view_as(TestOptions).dry_run
    if dry_run is True or str(dry_run).strip().lower() in ("true", "1", "yes"):
        return "--dry_run"
    if options.view_as(GoogleCloudOptions).template_location:
        return "--template_location"
    return None


def run_plan(job: RunPlan, *, out: Any = None) -> RunSummary:
    """Run one planned job: recover, build, run, summarise; also one cycle of the local stream.

    A dry run or a template build only builds and hands the graph to the runner: it reads and writes
    nothing under the output root (offline, a ``gs://`` root is not reachable) and reports no counters.
    """
    out = out or sys.stdout
    root = job.newsflow.output
    reason = not_submitted(job.options)
    if reason is not None:
        pipeline = beam.Pipeline(options=job.options)
        build(pipeline, job, {})
        pipeline.run()
        print(f"newsflow run {job.run_id}: graph built, not submitted ({reason})", file=out)
        return RunSummary(job.run_id, root)
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
