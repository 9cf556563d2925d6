"""Windowed Parquet writes for the native streaming graph: one file per partition per window pane.

Beam semantics: elements are ``(dataset_path, partition, row)`` with event time = the poll tick that
produced them (the watermark of the source waits for every fetch of a tick). They go into fixed windows
of ``window_s``; the on-time pane of a window fires when the watermark passes its end, and data up to
``allowed_lateness_s`` behind the watermark fires again as an extra pane, written as its own file
(``part-<window start>-p<pane>.parquet``) so no record is overwritten or dropped within that bound.
Files are written by ``fileio.WriteToFiles`` under ``<root>/.temp<uuid>`` and renamed into place, so a
reader never sees a partial file. (``WriteToParquet`` corrupted the last window in streaming here; a
pyarrow ``FileSink`` does not.)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import apache_beam as beam
import pyarrow as pa
from apache_beam.io import fileio
from apache_beam.transforms import trigger, window

from newsflow.transforms.write_dataset import table_bytes


class ParquetRowSink(fileio.FileSink):
    """Collects ``(dataset_path, partition, row)`` elements and writes their rows as one Parquet file."""

    def __init__(self, schema: pa.Schema):
        self._schema = schema
        self._rows: list[dict[str, Any]] = []
        self._handle: Any = None

    def open(self, fh: Any) -> None:
        self._handle = fh
        self._rows = []

    def write(self, record: tuple[str, str, dict[str, Any]]) -> None:
        self._rows.append(record[2])

    def flush(self) -> None:
        self._handle.write(table_bytes(self._rows, self._schema))


def destination_of(element: tuple[str, str, dict[str, Any]]) -> str:
    dataset_path, partition, _ = element
    return f"{dataset_path}/{partition}" if partition else dataset_path


def dataset_of(destination: str, schemas: Mapping[str, pa.Schema]) -> str:
    return next(path for path in sorted(schemas, key=len, reverse=True) if destination.startswith(path))


def window_file_name(root: str, destination: str, window_start: str, pane_index: int) -> str:
    """``<destination>/part-<start>[-p<pane>].parquet``; creates the local folder (else WriteToFiles
    leaves the file in its temp folder)."""
    if "://" not in root:
        os.makedirs(os.path.join(root, destination), exist_ok=True)
    pane = f"-p{pane_index}" if pane_index else ""
    return f"{destination}/part-{window_start}{pane}.parquet"


class WriteWindowedDataset(beam.PTransform):
    """Write an unbounded PCollection of ``(dataset_path, partition, row)`` in fixed windows."""

    def __init__(self, root: str, schemas: Mapping[str, pa.Schema], window_s: int = 300,
                 allowed_lateness_s: int = 3600):
        super().__init__()
        if window_s < 1 or allowed_lateness_s < 0:
            raise ValueError("window_s must be ≥ 1 and allowed_lateness_s ≥ 0")
        self._root = root
        self._schemas = dict(schemas)
        self._window_s = window_s
        self._lateness_s = allowed_lateness_s

    def expand(self, rows):
        root, schemas = self._root, self._schemas

        def naming(win: Any, pane: Any, shard_index: Any, total_shards: Any, compression: Any,
                   destination: str) -> str:
            start = win.start.to_utc_datetime().strftime("%Y%m%dT%H%M%SZ")
            return window_file_name(root, destination, start, getattr(pane, "index", 0) or 0)

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
