"""The native streaming graph, for runners that stream (Dataflow; Prism or Flink where available).

``PeriodicImpulse`` ticks → ``PollDueFeeds`` → ``Ingest`` (the stages every mode shares) →
``WriteWindowedDataset``.

Beam semantics:

* One clock: a tick's event time is "now" for polling (``transforms.feeds.poll_due_feeds``). Ticks come
  every poll interval clamped to 30 s..5 min; a feed is polled at the first tick after it is due. Every
  output keeps its tick's timestamp, so the watermark after a tick waits for all of its fetches and the
  write windows follow polling (late data policy: ``transforms.write.write_windows``).
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
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import StandardOptions
from apache_beam.transforms.periodicsequence import PeriodicImpulse

from newsflow.pipelines.ingest import Ingest, IngestConfig, output_schemas, source_outputs
from newsflow.pipelines.once import RunPlan, RunSummary, not_submitted
from newsflow.transforms.feeds.poll_due_feeds import PollDueFeeds
from newsflow.transforms.feeds.state import FeedState, load_feed_states
from newsflow.transforms.write.write_windows import WriteWindowedDataset


def build_stream(pipeline: beam.Pipeline, run: RunPlan, ticks: Any = None, allowed_lateness_s: int = 3600,
                 initial_states: Mapping[str, FeedState] | None = None) -> None:
    """The streaming graph; ``ticks`` defaults to a PeriodicImpulse (tests pass a TestStream);
    ``initial_states`` defaults to the feed states persisted under the output root."""
    opts = run.newsflow
    config = IngestConfig.of(opts, run_id=run.run_id, partition_keys=run.partition_keys, streaming=True,
                             started_at=run.started_at)
    if ticks is None:
        tick_s = max(30.0, min(opts.poll_interval_s, 300.0))
        ticks = pipeline | "Ticks" >> PeriodicImpulse(start_timestamp=time.time(), fire_interval=tick_s)
    polled = ticks | "PollDueFeeds" >> PollDueFeeds(run.feeds, config.policy, opts.poll_interval_s,
                                                    opts.min_poll_interval_s,
                                                    load_feed_states(opts.output) if initial_states is None else initial_states)
    _ = (source_outputs(polled)
         | "Ingest" >> Ingest(config)
         | "WriteWindows" >> WriteWindowedDataset(opts.output, output_schemas(), run.run_id, opts.window_s,
                                                  allowed_lateness_s))


def start_native(run: RunPlan) -> Any:
    """Build the streaming graph and hand it to the runner; returns the runner's ``PipelineResult``.
    A dry run or template build reads no feed state from the output root (see ``once.run_plan``)."""
    run.options.view_as(StandardOptions).streaming = True
    pipeline = beam.Pipeline(options=run.options)
    build_stream(pipeline, run, initial_states={} if not_submitted(run.options) else None)
    return pipeline.run()


def run_native(run: RunPlan, *, out: Any) -> RunSummary:
    """Submit the streaming job to a streaming runner (it runs until drained or cancelled)."""
    result = start_native(run)
    reason = not_submitted(run.options)
    if reason is not None:
        print(f"newsflow run {run.run_id}: streaming graph built, not submitted ({reason})", file=out)
    else:
        print(f"streaming job submitted: state {result.state}", file=out)
    return RunSummary(run.run_id, run.newsflow.output)
