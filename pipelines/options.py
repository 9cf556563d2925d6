"""Every newsflow flag, as a Beam ``PipelineOptions`` subclass (the Flex Template metadata mirrors it)."""

from __future__ import annotations

import ipaddress
import math
from typing import Any

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from newsflow.transforms.feeds.polling import MAX_INTERVAL_S

LOCAL_DEFAULT_RUNNER = "FnApiRunner"
"""Chosen explicitly so the DirectRunner never tries to download Prism."""


def switch(value: str) -> bool:
    """A flag that works bare (``--explain_tags``) and as ``--explain_tags=true|false`` (Flex Templates)."""
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


class NewsflowOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser: Any) -> None:
        parser.add_argument("--config", help="YAML feed list or OPML file (local path).")
        parser.add_argument("--output", help="Output root: a local folder or gs://bucket/prefix.")
        parser.add_argument("--mode", default="once", choices=["once", "stream"],
                            help="once: one bounded run; stream: keep polling.")
        parser.add_argument("--replay_prefix", default=None,
                            help="Fetch every URL as PREFIX + original URL (pywb replay convention).")
        parser.add_argument("--host_concurrency", type=int, default=1, help="Requests in flight per host.")
        parser.add_argument("--host_delay_s", type=float, default=1.0,
                            help="Minimum seconds between requests to one host.")
        parser.add_argument("--allow_private_network", action="append", default=None,
                            help="CIDR that fetches may reach although private (repeatable).")
        parser.add_argument("--connect_timeout_s", type=float, default=5.0)
        parser.add_argument("--read_timeout_s", type=float, default=10.0)
        parser.add_argument("--total_timeout_s", type=float, default=30.0)
        parser.add_argument("--max_body_bytes", type=int, default=5_000_000,
                            help="Cap on a response body, counted after decompression.")
        parser.add_argument("--max_attempts", type=int, default=3, help="Attempts for transient failures.")
        parser.add_argument("--max_in_flight", type=int, default=16,
                            help="Concurrent requests inside one fetch worker.")
        parser.add_argument("--ignore_robots", nargs="?", const=True, default=False, type=switch,
                            help="Do not apply robots.txt to article pages (only for archives you own).")
        parser.add_argument("--partition_by", default="dt,topic,region",
                            help="Comma-separated partition keys of articles/v1, from dt,topic,region.")
        parser.add_argument("--dedup_horizon_h", type=float, default=72.0,
                            help="Hours a story stays in live dedup state; older ones are answered by history.")
        parser.add_argument("--explain_tags", nargs="?", const=True, default=False, type=switch,
                            help="Store the matched terms behind each tag in tag_evidence.")
        parser.add_argument("--extract_workers", type=int, default=0,
                            help="Processes for extraction inside the extract DoFn (0 = in-process).")
        parser.add_argument("--run_id", default=None, help="Run id (default: UTC time plus a random suffix).")
        parser.add_argument("--poll_interval_s", type=float, default=300.0,
                            help="Stream mode: base polling interval, adapted per feed (clamped 5 min..24 h).")
        parser.add_argument("--min_poll_interval_s", type=float, default=300.0,
                            help="Stream mode: floor of the adaptive interval (lower it only for your own feeds).")
        parser.add_argument("--window_s", type=int, default=300, help="Stream mode: write window length.")
        parser.add_argument("--duration_s", type=float, default=None, help="Local stream: stop after this long.")
        parser.add_argument("--max_cycles", type=int, default=None, help="Local stream: stop after N cycles.")

    def validate_newsflow(self) -> list[str]:
        """Problems with the flags, as messages; empty when the options are usable."""
        problems = []
        if not self.config:
            problems.append("--config is required")
        if not self.output:
            problems.append("--output is required")
        for flag in ("host_concurrency", "max_in_flight", "max_attempts", "max_body_bytes", "window_s"):
            if getattr(self, flag) < 1:
                problems.append(f"--{flag} must be at least 1")
        for flag in ("host_delay_s", "extract_workers"):
            if getattr(self, flag) < 0:
                problems.append(f"--{flag} must not be negative")
        for flag in ("connect_timeout_s", "read_timeout_s", "total_timeout_s", "dedup_horizon_h"):
            if getattr(self, flag) <= 0:
                problems.append(f"--{flag} must be positive")
        problems += self._polling_problems()
        for cidr in self.allow_private_network or []:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                problems.append(f"--allow_private_network {cidr!r} is not a CIDR")
        if self.replay_prefix and not self.replay_prefix.startswith(("http://", "https://")):
            problems.append("--replay_prefix must be an http(s) URL")
        return problems

    def _polling_problems(self) -> list[str]:
        """The polling flags: positive, within the scheduler's 24 h ceiling, and a floor that does not
        silently override the starting interval (the floor would win: say so instead)."""
        problems = []
        for flag in ("poll_interval_s", "min_poll_interval_s"):
            value = getattr(self, flag)
            if not _finite_positive(value):
                problems.append(f"--{flag} must be a positive number of seconds, got {value}")
            elif value > MAX_INTERVAL_S:
                problems.append(f"--{flag} must be at most {MAX_INTERVAL_S:.0f} s (24 h), got {value}")
        if not problems and self.min_poll_interval_s > self.poll_interval_s:
            problems.append(f"--poll_interval_s {self.poll_interval_s:g} is below the floor --min_poll_interval_s "
                            f"{self.min_poll_interval_s:g}: lower --min_poll_interval_s too (only for feeds you run)")
        if self.duration_s is not None and not _finite_positive(self.duration_s):
            problems.append(f"--duration_s must be a positive number of seconds, got {self.duration_s}")
        if self.max_cycles is not None and self.max_cycles < 1:
            problems.append(f"--max_cycles must be at least 1, got {self.max_cycles}")
        return problems


def _finite_positive(value: float) -> bool:
    return math.isfinite(value) and value > 0


def with_local_runner(options: PipelineOptions) -> PipelineOptions:
    """Set the FnApiRunner when no runner was chosen, so the DirectRunner never reaches for Prism."""
    standard = options.view_as(StandardOptions)
    if not standard.runner:
        standard.runner = LOCAL_DEFAULT_RUNNER
    return options
