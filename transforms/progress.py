"""Progress lines for long local runs: a pass-through step that logs every N elements it sees."""

from __future__ import annotations

import logging
import time

import apache_beam as beam

_LOG = logging.getLogger(__name__)


class _LogEvery(beam.DoFn):
    def __init__(self, stage: str, every: int):
        self._stage = stage
        self._every = every
        self._seen = 0
        self._started = 0.0

    def setup(self) -> None:
        self._seen = 0
        self._started = time.monotonic()

    def process(self, element):
        self._seen += 1
        if self._seen % self._every == 0:
            rate = self._seen / max(time.monotonic() - self._started, 1e-9)
            _LOG.info("%s: %d so far (%.1f/s in this worker)", self._stage, self._seen, rate)
        yield element


class LogProgress(beam.PTransform):
    """Pass elements through unchanged, logging a count every ``every`` elements per worker."""

    def __init__(self, stage: str, every: int = 50):
        super().__init__()
        if every < 1:
            raise ValueError("every must be at least 1")
        self._stage = stage
        self._every = every

    def expand(self, pcoll):
        return pcoll | beam.ParDo(_LogEvery(self._stage, self._every))
