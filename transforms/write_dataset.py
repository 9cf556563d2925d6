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

import io
import itertools
import json
import pickle
import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import zstandard
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from newsflow.schemas.records import ARTICLES, DEADLETTERS, DUPLICATES, SCHEMA_VERSION
from newsflow.transforms.items import Article, Rejection
from newsflow.transforms.slugs import region_slug, topic_slug
from newsflow.transforms.urls import site_of

STAGING_DIR = "_staging"
MANIFESTS_DIR = "_manifests"
SUCCESS_MARKER = "_SUCCESS"
PARTITION_KEYS = ("dt", "topic", "region")


def join(root: str, *parts: str) -> str:
    """Join path parts under a local or ``scheme://`` root with forward slashes."""
    return posixpath.join(root.rstrip("/"), *parts) if "://" in root else posixpath.join(root, *parts)


def validate_partition_keys(keys: Iterable[str]) -> tuple[str, ...]:
    chosen = tuple(keys)
    unknown = [k for k in chosen if k not in PARTITION_KEYS]
    if unknown:
        raise ValueError(f"unknown partition key(s) {unknown}; choose from {list(PARTITION_KEYS)}")
    if "dt" not in chosen:
        raise ValueError("partition keys must include dt")
    return tuple(k for k in PARTITION_KEYS if k in chosen)


def partition_values(row: Mapping[str, Any], when: datetime) -> dict[str, str]:
    """The closed-vocabulary partition values of a row: ingestion date and primary tag slugs."""
    return {"dt": when.astimezone(UTC).strftime("%Y-%m-%d"),
            "topic": topic_slug(row.get("primary_topic")),
            "region": region_slug(row.get("primary_region"))}


def partition_path(values: Mapping[str, str], keys: Iterable[str]) -> str:
    return "/".join(f"{k}={values[k]}" for k in keys)


def article_row(article: Article, run_id: str, ingested_at: datetime) -> dict[str, Any]:
    row = {c.name: getattr(article, c.name, None) for c in ARTICLES.columns}
    row.update(topics=[asdict(t) for t in article.topics], ingested_at=ingested_at,
               run_id=run_id, schema_version=SCHEMA_VERSION)
    return row


def deadletter_row(rejection: Rejection, run_id: str) -> dict[str, Any]:
    return {"kind": rejection.kind, "stage": rejection.stage, "reason": rejection.reason,
            "url": rejection.url, "feed_url": rejection.feed_url, "host": site_of(rejection.url) or "",
            "error_class": rejection.error_class, "message": rejection.message,
            "attempt": rejection.attempt, "at": rejection.at, "run_id": run_id}


@dataclass(frozen=True)
class StagedFile:
    dataset: str
    partition: str
    staging_path: str
    final_path: str
    rows: int


class ContractViolation(ValueError):
    """A row breaks its dataset's schema: a bug upstream, never written."""


ROWS_PER_BATCH = 2_000
"""Rows turned into one Arrow record batch at a time: a partition of any size is converted with
bounded memory (the Python dicts of one batch, not of the whole partition)."""
PACK_MIN_BYTES = 1_024
"""Rows whose pickle is at least this long are zstd-compressed while they wait in the shuffle."""


def parquet_file(rows: Iterable[Mapping[str, Any]], schema: pa.Schema) -> tuple[bytes, int]:
    """The Parquet (zstd) file of ``rows``, written ``ROWS_PER_BATCH`` rows at a time, and its row count."""
    buffer = io.BytesIO()
    count = 0
    remaining = iter(rows)
    with pq.ParquetWriter(buffer, schema, compression="zstd") as writer:
        while batch := list(itertools.islice(remaining, ROWS_PER_BATCH)):
            table = pa.Table.from_pylist(batch, schema=schema)
            for field in schema:
                if not field.nullable and table.column(field.name).null_count:
                    raise ContractViolation(f"{table.column(field.name).null_count} row(s) with null in "
                                            f"required column {field.name!r}")
            writer.write_table(table)
            count += table.num_rows
    return buffer.getvalue(), count


def table_bytes(rows: Iterable[Mapping[str, Any]], schema: pa.Schema) -> bytes:
    return parquet_file(rows, schema)[0]


def pack_row(row: Mapping[str, Any]) -> bytes:
    """A row as it waits in the shuffle: pickled, and zstd-compressed when long (article bodies
    shrink about threefold), so a runner that holds the shuffle in memory holds less."""
    data = pickle.dumps(row, protocol=pickle.HIGHEST_PROTOCOL)
    return b"z" + zstandard.compress(data) if len(data) >= PACK_MIN_BYTES else b"p" + data


def unpack_row(packed: bytes) -> dict[str, Any]:
    data = zstandard.decompress(packed[1:]) if packed[:1] == b"z" else packed[1:]
    row: dict[str, Any] = pickle.loads(data)
    return row


def write_bytes(path: str, data: bytes) -> None:
    with FileSystems.create(path) as handle:
        handle.write(data)


def read_text(path: str) -> str:
    with FileSystems.open(path) as handle:
        return handle.read().decode("utf-8")


def move(source: str, destination: str) -> None:
    if "://" not in destination:
        import os

        os.makedirs(os.path.dirname(destination), exist_ok=True)
    FileSystems.rename([source], [destination])


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


def matching(pattern: str) -> list[str]:
    """Paths matching a glob; none when nothing matches (on GCS a folder is only a name prefix, so
    match by pattern rather than asking whether the folder exists)."""
    return [m.path for m in FileSystems.match([pattern])[0].metadata_list]


def delete_folder(folder: str) -> None:
    """Delete everything under ``folder`` (local folders recursively, GCS by prefix); absent is fine."""
    if "://" in folder:
        if matching(join(folder, "**")):
            FileSystems.delete([folder.rstrip("/") + "/"])
    elif FileSystems.exists(folder):
        FileSystems.delete([folder])


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


DATASET_SCHEMAS: dict[str, pa.Schema] = {
    ARTICLES.path: ARTICLES.arrow_schema(),
    DUPLICATES.path: DUPLICATES.arrow_schema(),
    DEADLETTERS.path: DEADLETTERS.arrow_schema(),
}
