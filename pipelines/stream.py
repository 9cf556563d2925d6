"""Stream mode on the local runner: successive bounded cycles over the feeds that are due.

No local runner streams offline (FnApiRunner holds everything after a GroupByKey until its source
ends; BundleBasedDirectRunner cannot run PeriodicImpulse), so ``--mode stream`` on a local runner runs
one once-mode job per cycle with the same transforms. Between cycles all state (feed validators and
schedule, dedup history) lives under the output root, so the records of cycle k are visible when it
ends and a restart picks up where the last committed cycle left off.

Signals: the first SIGINT/SIGTERM lets the running cycle finish and commit, then stops; a second one
abandons the cycle at once. An abandoned (or ``kill -9``-ed) cycle leaves only staging files, which the
next start discards (or, if its commit had begun, rolls forward), so nothing is lost or repeated.
On any other runner (Dataflow, Prism, Flink), ``--mode stream`` submits the native streaming graph
instead (``stream_graph``).
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from types import FrameType
from typing import Any

from apache_beam.options.pipeline_options import StandardOptions

from newsflow.pipelines.once import RunPlan, RunSummary, new_run_id, plan, run_plan
from newsflow.transforms.feeds.polling import is_due
from newsflow.transforms.feeds.state import load_feed_states
from newsflow.transforms.items import FeedSpec

LOCAL_RUNNERS = {"fnapirunner", "directrunner", "bundlebaseddirectrunner", "switchingdirectrunner"}


def due_feeds(feeds: Iterable[FeedSpec], states: Mapping[str, Any], now: datetime) -> list[FeedSpec]:
    """Feeds never polled, or whose ``next_poll_at`` has come."""
    return [feed for feed in feeds if is_due(states.get(feed.url), now)]


def seconds_until_next_due(states: Mapping[str, Any], feeds: Iterable[FeedSpec], now: datetime,
                           fallback_s: float) -> float:
    times = [getattr(states.get(f.url), "next_poll_at", None) for f in feeds]
    pending = [(t - now).total_seconds() for t in times if t is not None]
    return max(0.0, min(pending)) if pending else fallback_s


class StopRequest:
    """First signal: finish the current cycle. Second: abandon it now."""

    def __init__(self) -> None:
        self.requested = threading.Event()

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.requested.is_set():
            raise KeyboardInterrupt(f"signal {signum}: cycle abandoned")
        self.requested.set()
        print(f"signal {signum}: stopping after this cycle (again to abandon it)", file=sys.stderr)


def is_local(run: RunPlan) -> bool:
    runner = run.options.view_as(StandardOptions).runner or ""
    return runner.lower() in LOCAL_RUNNERS


def run_stream(argv: list[str], *, out: Any = None, clock: Any = time,
               on_cycle: Callable[[int, RunSummary], None] | None = None) -> RunSummary:
    """Run local stream cycles until --max_cycles, --duration_s or a signal stops them.

    ``on_cycle(k, summary)`` is called after cycle ``k`` has committed (its records are visible).
    """
    out = out or sys.stdout
    base = plan(argv)
    if not is_local(base):
        from newsflow.pipelines.stream_graph import run_native

        return run_native(base, out=out)
    base.options.view_as(StandardOptions).streaming = False  # each cycle is a bounded run
    stop = StopRequest()
    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    opts = base.newsflow
    started = clock.monotonic()
    cycles = 0
    last = RunSummary(base.run_id, opts.output)
    try:
        while not stop.requested.is_set():
            now = datetime.now(UTC)
            due = due_feeds(base.feeds, load_feed_states(opts.output), now)
            if due:  # a cycle that would poll nothing is no cycle: wait for the next due feed instead
                cycle = replace(base, feeds=due, run_id=new_run_id(now), started_at=now)
                print(f"cycle {cycles + 1}: {len(due)} of {len(base.feeds)} feeds due", file=out)
                last = run_plan(cycle, out=out)
                cycles += 1
                if on_cycle is not None:
                    on_cycle(cycles, last)
                if opts.max_cycles is not None and cycles >= opts.max_cycles:
                    break
            remaining = None if opts.duration_s is None else opts.duration_s - (clock.monotonic() - started)
            if remaining is not None and remaining <= 0:
                break
            wait = seconds_until_next_due(load_feed_states(opts.output), base.feeds, datetime.now(UTC),
                                          opts.poll_interval_s)
            if not due:
                print(f"no feed due: waiting {wait:.0f} s for the next one", file=out)
            if remaining is not None:
                wait = min(wait, remaining)
            stop.requested.wait(wait)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print(f"stream: {cycles} cycle(s) run", file=out)
    return last
