"""Windowed Parquet writes for the native streaming graph: one file per partition per window pane.

Beam semantics: elements are ``(dataset_path, partition, row)``; their event time is the poll tick that
produced them (the tick's watermark waits for every fetch of that tick). They go into fixed windows of
``window_s`` (5 minutes by default). The on-time pane of a window fires when the watermark passes the
window's end and becomes one file per partition::

    <root>/<dataset>/<partition>/part-<window start>-<run_id>.parquet

Late data policy: an element that arrives behind the watermark but within ``allowed_lateness_s`` (1 hour
by default) fires an extra pane of its window at once (one late pane per late element or bundle), written
as its own file ``part-<window start>-<run_id>-p<pane index>.parquet``: nothing written before is
rewritten, and nothing within the bound is lost. An element later than that is dropped by Beam's
windowing when it reaches the write (the Python SDK counts nothing for it). In the newsflow graph no row
can be that late: every row carries the timestamp of the tick that polled it, the tick source holds the
watermark until the tick is emitted, and every stage keeps its input's timestamp, so rows reach the
write at or ahead of the watermark; lateness only arises from a custom tick source that emits behind its
own watermark.

Atomicity: ``fileio.WriteToFiles`` writes each file under ``<root>/.temp<uuid>/`` and renames it into place
when its pane is complete, so a reader never sees a partial file (the empty ``.temp*`` folder stays; it
is not under any dataset path). The run id in the name keeps a restarted job from overwriting the files
an earlier job wrote for the same window. (``WriteToParquet`` corrupted the last window in streaming
here; a pyarrow ``FileSink`` does not.)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import apache_beam as beam
import pyarrow as pa
from apache_beam.io import fileio
from apache_beam.metrics import Metrics
from apache_beam.transforms import trigger, window

from newsflow.transforms.write.parquet import table_bytes


class ParquetRowSink(fileio.FileSink):
    """Collects ``(dataset_path, partition, row)`` elements and writes their rows as one Parquet file."""

    def __init__(self, schema: pa.Schema):
        self._schema = schema
        self._rows: list[dict[str, Any]] = []
        self._dataset = ""
        self._handle: Any = None

    def open(self, fh: Any) -> None:
        self._handle = fh
        self._rows = []

    def write(self, record: tuple[str, str, dict[str, Any]]) -> None:
        self._dataset = record[0].split("/")[0]
        self._rows.append(record[2])

    def flush(self) -> None:
        self._handle.write(table_bytes(self._rows, self._schema))
        Metrics.counter("newsflow", "write.files").inc()
        Metrics.counter("newsflow", f"write.rows.{self._dataset}").inc(len(self._rows))


def destination_of(element: tuple[str, str, dict[str, Any]]) -> str:
    dataset_path, partition, _ = element
    return f"{dataset_path}/{partition}" if partition else dataset_path


def dataset_of(destination: str, schemas: Mapping[str, pa.Schema]) -> str:
    return next(path for path in sorted(schemas, key=len, reverse=True) if destination.startswith(path))


def window_file_name(root: str, destination: str, window_start: str, run_id: str, pane_index: int) -> str:
    """``<destination>/part-<start>-<run_id>[-p<pane>].parquet``; creates the local folder (else
    WriteToFiles leaves the file in its temp folder)."""
    if "://" not in root:
        os.makedirs(os.path.join(root, destination), exist_ok=True)
    pane = f"-p{pane_index}" if pane_index else ""
    return f"{destination}/part-{window_start}-{run_id}{pane}.parquet"


class WriteWindowedDataset(beam.PTransform):
    """Write an unbounded PCollection of ``(dataset_path, partition, row)`` in fixed windows."""

    def __init__(self, root: str, schemas: Mapping[str, pa.Schema], run_id: str, window_s: int = 300,
                 allowed_lateness_s: int = 3600):
        super().__init__()
        if not root:
            raise ValueError("an output root is required")
        if not run_id or "/" in run_id:
            raise ValueError(f"invalid run id {run_id!r}")
        if window_s < 1 or allowed_lateness_s < 0:
            raise ValueError("window_s must be ≥ 1 and allowed_lateness_s ≥ 0")
        self._root = root
        self._run_id = run_id
        self._schemas = dict(schemas)
        self._window_s = window_s
        self._lateness_s = allowed_lateness_s

    def expand(self, rows):
        root, schemas, run_id = self._root, self._schemas, self._run_id

        def naming(win: Any, pane: Any, shard_index: Any, total_shards: Any, compression: Any,
                   destination: str) -> str:
            start = win.start.to_utc_datetime().strftime("%Y%m%dT%H%M%SZ")
            return window_file_name(root, destination, start, run_id, getattr(pane, "index", 0) or 0)

        return (
            rows
            | "FixedWindows" >> beam.WindowInto(
                window.FixedWindows(self._window_s),
                trigger=trigger.AfterWatermark(late=trigger.AfterCount(1)),
                accumulation_mode=trigger.AccumulationMode.DISCARDING,
                allowed_lateness=self._lateness_s)
            | "WriteToFiles" >> fileio.WriteToFiles(
                path=root, destination=destination_of,
                sink=lambda destination: ParquetRowSink(schemas[dataset_of(destination, schemas)]),
                file_naming=naming, max_writers_per_bundle=0, shards=1)
        )
