"""Write partitioned Parquet datasets atomically: staged files, then one commit per run.

Layout under the output root (local path or ``gs://``)::

    <root>/<dataset>/v1/dt=YYYY-MM-DD/[topic=<slug>/][region=<slug>/]part-<run_id>.parquet
    <root>/_staging/<run_id>/...          files being written (never under a dataset path)
    <root>/_manifests/<run_id>/manifest.json, _SUCCESS, stats.json

Beam semantics: rows are grouped by (dataset, partition), so each run writes exactly one file per
partition. Every file is first written under ``_staging``; a single commit step, which runs once after
all files of the run are staged, writes the manifest (the commit intent), moves each file to its final
name and then writes ``_SUCCESS``. A run killed before the manifest leaves nothing visible; a run killed
after it is rolled forward by ``recover_incomplete_commits`` at the start of the next run. Readers see a
file only once it is complete, and a run's files all together once ``_SUCCESS`` exists.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import apache_beam as beam
import pyarrow as pa
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from newsflow.transforms.storage import delete_folder, join, matching, move, read_text, write_bytes
from newsflow.transforms.write.parquet import pack_row, parquet_file, unpack_row

STAGING_DIR = "_staging"
MANIFESTS_DIR = "_manifests"
SUCCESS_MARKER = "_SUCCESS"
@dataclass(frozen=True)
class StagedFile:
    dataset: str
    partition: str
    staging_path: str
    final_path: str
    rows: int


def commit(root: str, run_id: str, staged: list[StagedFile], committed_at: datetime) -> dict[str, Any]:
    """Write the manifest (the commit intent), move staged files into place, then mark success."""
    manifest_dir = join(root, MANIFESTS_DIR, run_id)
    manifest = {
        "run_id": run_id,
        "committed_at": committed_at.isoformat(),
        "files": [asdict(s) for s in sorted(staged, key=lambda s: s.final_path)],
        "rows": {name: sum(s.rows for s in staged if s.dataset == name)
                 for name in sorted({s.dataset for s in staged})},
    }
    write_bytes(join(manifest_dir, "manifest.json"), json.dumps(manifest, indent=2).encode())
    _roll_forward(root, manifest)
    return manifest


def _roll_forward(root: str, manifest: Mapping[str, Any]) -> None:
    for entry in manifest["files"]:
        if FileSystems.exists(entry["staging_path"]):
            move(entry["staging_path"], entry["final_path"])
        elif not FileSystems.exists(entry["final_path"]):
            raise RuntimeError(f"run {manifest['run_id']}: {entry['final_path']} lost before commit")
    write_bytes(join(root, MANIFESTS_DIR, manifest["run_id"], SUCCESS_MARKER), b"")
    delete_folder(join(root, STAGING_DIR, manifest["run_id"]))


def recover_incomplete_commits(root: str) -> dict[str, list[str]]:
    """Finish commits that were interrupted after their manifest was written; drop abandoned staging.

    Returns the run ids rolled forward and the staging folders discarded.
    """
    result: dict[str, list[str]] = {"rolled_forward": [], "discarded": []}
    manifests = join(root, MANIFESTS_DIR)
    for path in matching(join(manifests, "*", "manifest.json")):
        if not FileSystems.exists(join(posixpath.dirname(path), SUCCESS_MARKER)):
            manifest = json.loads(read_text(path))
            _roll_forward(root, manifest)
            result["rolled_forward"].append(manifest["run_id"])
    staging_root = join(root, STAGING_DIR)
    runs = {posixpath.relpath(path, staging_root).split("/")[0] for path in matching(join(staging_root, "**"))}
    for run in sorted(runs):
        if not FileSystems.exists(join(manifests, run, "manifest.json")):
            delete_folder(join(staging_root, run))
            result["discarded"].append(run)
    return result


class _WritePartition(beam.DoFn):
    def __init__(self, root: str, run_id: str, schemas: Mapping[str, pa.Schema]):
        self._root = root
        self._run_id = run_id
        self._schemas = dict(schemas)
        self._files = Metrics.counter("newsflow", "write.files")

    def process(self, element: tuple[tuple[str, str], Iterable[bytes]]):
        (dataset_path, partition), packed = element
        relative = posixpath.join(dataset_path, partition, f"part-{self._run_id}.parquet")
        staging = join(self._root, STAGING_DIR, self._run_id, relative)
        data, written = parquet_file(map(unpack_row, packed), self._schemas[dataset_path])
        write_bytes(staging, data)
        self._files.inc()
        Metrics.counter("newsflow", f"write.rows.{dataset_path.split('/')[0]}").inc(written)
        yield StagedFile(dataset_path.split("/")[0], partition, staging, join(self._root, relative), written)


class _Commit(beam.DoFn):
    def __init__(self, root: str, run_id: str):
        self._root = root
        self._run_id = run_id

    def process(self, staged: list[StagedFile]):
        yield commit(self._root, self._run_id, list(staged), datetime.now(UTC))


class WriteDataset(beam.PTransform):
    """Write ``(dataset_path, partition, row)`` elements as one Parquet file per partition, atomically.

    ``schemas`` maps each dataset path (e.g. ``articles/v1``) to its Arrow schema. The output is a
    single-element PCollection: the committed manifest. Batch only: the commit waits for every file of
    the run (stream mode uses one run per cycle or window).
    """

    def __init__(self, root: str, run_id: str, schemas: Mapping[str, pa.Schema]):
        super().__init__()
        if not root:
            raise ValueError("an output root is required")
        if not run_id or "/" in run_id:
            raise ValueError(f"invalid run id {run_id!r}")
        self._root = root
        self._run_id = run_id
        self._schemas = dict(schemas)

    def expand(self, rows):
        return (
            rows
            | "KeyByPartition" >> beam.Map(lambda e: ((e[0], e[1]), pack_row(e[2])))
            | "GroupByPartition" >> beam.GroupByKey()
            | "WriteStaged" >> beam.ParDo(_WritePartition(self._root, self._run_id, self._schemas))
            | "AllFiles" >> beam.combiners.ToList()
            | "Commit" >> beam.ParDo(_Commit(self._root, self._run_id))
        )


