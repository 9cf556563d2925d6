"""WriteWindowedDataset on the BundleBasedDirectRunner (real streaming semantics, TestStream input):
one file per partition per window, late panes in their own files, data beyond the lateness dropped."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_stream import TestStream as EventStream
from apache_beam.transforms.window import TimestampedValue

from newsflow.transforms.write.write_windows import (
    WriteWindowedDataset,
    dataset_of,
    destination_of,
    window_file_name,
)

pytestmark = pytest.mark.slow

SCHEMAS = {"things/v1": pa.schema([pa.field("name", pa.string(), nullable=False)]),
           "_state/things/v1": pa.schema([pa.field("name", pa.string())])}
T0 = 1_722_254_400  # 2024-07-29T12:00:00Z, a window boundary
W0, W1 = "20240729T120000Z", "20240729T120500Z"


def row(name: str, partition: str = "dt=2024-07-29", dataset: str = "things/v1", at: int = T0) -> TimestampedValue:
    return TimestampedValue((dataset, partition, {"name": name}), at)


def written(root: Path) -> dict[str, list[str]]:
    """Every committed file (relative path) and the names it holds."""
    return {str(p.relative_to(root)): sorted(pq.read_table(p)["name"].to_pylist())
            for p in sorted(root.rglob("*.parquet")) if not p.relative_to(root).parts[0].startswith(".temp")}


def run_stream(root: Path, stream: EventStream, lateness_s: int = 600) -> None:
    options = PipelineOptions(runner="BundleBasedDirectRunner")
    options.view_as(StandardOptions).streaming = True
    with beam.Pipeline(options=options) as pipeline:
        _ = pipeline | stream | WriteWindowedDataset(str(root), SCHEMAS, "r1", window_s=300,
                                                     allowed_lateness_s=lateness_s)


def test_names_and_destinations(tmp_path):
    assert destination_of(("articles/v1", "dt=2024-07-29/topic=sport", {})) == "articles/v1/dt=2024-07-29/topic=sport"
    assert destination_of(("_state/things/v1", "", {})) == "_state/things/v1"
    assert dataset_of("_state/things/v1", SCHEMAS) == "_state/things/v1"
    assert dataset_of("things/v1/dt=2024-07-29", SCHEMAS) == "things/v1"
    assert window_file_name(str(tmp_path), "things/v1/dt=x", W0, "r1", 0) == f"things/v1/dt=x/part-{W0}-r1.parquet"
    assert window_file_name(str(tmp_path), "things/v1/dt=x", W0, "r1", 2) == f"things/v1/dt=x/part-{W0}-r1-p2.parquet"
    assert (tmp_path / "things" / "v1" / "dt=x").is_dir()


def test_constructor_validates():
    for kwargs, message in (({"run_id": ""}, "invalid run id"), ({"run_id": "a/b"}, "invalid run id"),
                            ({"window_s": 0}, "window_s"), ({"allowed_lateness_s": -1}, "allowed_lateness_s")):
        with pytest.raises(ValueError, match=message):
            WriteWindowedDataset("/tmp/x", SCHEMAS, **{"run_id": "r1", **kwargs})


def test_one_file_per_partition_per_window_and_late_panes(tmp_path):
    stream = (EventStream()
              .advance_watermark_to(T0)
              .add_elements([row("a", at=T0 + 10), row("b", "dt=2024-07-30", at=T0 + 20)])
              .add_elements([row("a2", at=T0 + 290), row("s", "", "_state/things/v1", at=T0 + 30)])
              .add_elements([row("c", at=T0 + 310)])
              .advance_watermark_to(T0 + 400)           # window W0 closes: its on-time pane fires
              .add_elements([row("late", at=T0 + 30)])  # behind the watermark, within the lateness
              .advance_watermark_to(T0 + 300 + 600 + 1)  # W0 expires
              .add_elements([row("too-late", at=T0 + 40)])
              .advance_watermark_to_infinity())
    run_stream(tmp_path, stream)
    assert written(tmp_path) == {
        f"_state/things/v1/part-{W0}-r1.parquet": ["s"],
        f"things/v1/dt=2024-07-29/part-{W0}-r1.parquet": ["a", "a2"],
        f"things/v1/dt=2024-07-29/part-{W0}-r1-p1.parquet": ["late"],
        f"things/v1/dt=2024-07-29/part-{W1}-r1.parquet": ["c"],
        f"things/v1/dt=2024-07-30/part-{W0}-r1.parquet": ["b"],
    }
    # the files were renamed out of the temporary folder; nothing is left in it
    assert [p for p in tmp_path.glob(".temp*/**/*") if p.is_file()] == []


def test_no_lateness_drops_late_rows(tmp_path):
    stream = (EventStream()
              .advance_watermark_to(T0)
              .add_elements([row("a", at=T0 + 10)])
              .advance_watermark_to(T0 + 301)
              .add_elements([row("late", at=T0 + 20)])
              .advance_watermark_to_infinity())
    run_stream(tmp_path, stream, lateness_s=0)
    assert written(tmp_path) == {f"things/v1/dt=2024-07-29/part-{W0}-r1.parquet": ["a"]}


def test_the_files_are_valid_parquet_with_the_dataset_schema(tmp_path):
    stream = EventStream().advance_watermark_to(T0).add_elements([row("a", at=T0 + 1)]).advance_watermark_to_infinity()
    run_stream(tmp_path, stream)
    (path,) = tmp_path.rglob("part-*.parquet")
    assert pq.read_schema(path).remove_metadata() == SCHEMAS["things/v1"]
    assert datetime.fromtimestamp(T0, UTC).strftime("%Y%m%dT%H%M%SZ") == W0
