from __future__ import annotations

import json
import pickle
from datetime import UTC, datetime
from pathlib import Path

import apache_beam as beam
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

from newsflow.transforms.items import Article, Rejection, TopicTag
from newsflow.transforms.storage import write_bytes
from newsflow.transforms.write import parquet as parquet_module
from newsflow.transforms.write.parquet import (
    ContractViolation,
    pack_row,
    parquet_file,
    table_bytes,
    unpack_row,
)
from newsflow.transforms.write.rows import (
    DATASET_SCHEMAS,
    article_row,
    deadletter_row,
    partition_path,
    partition_values,
    validate_partition_keys,
)
from newsflow.transforms.write.write_dataset import (
    STAGING_DIR,
    StagedFile,
    WriteDataset,
    commit,
    recover_incomplete_commits,
)

WHEN = datetime(2024, 7, 29, 7, 0, tzinfo=UTC)


def make_article(n: int, topic: str | None, region: str | None) -> Article:
    return Article(
        id=f"id{n}", url=f"https://a.example/{n}", canonical_url=f"https://a.example/{n}",
        feed_url="https://a.example/rss", site="a.example", body=f"body {n}", body_sha256="0" * 64,
        fetched_at=WHEN, title=f"Title {n}", primary_topic=topic, primary_region=region,
        topics=[TopicTag(topic, "label", 0.9)] if topic else [], countries=["KR"] if region else [])


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_partition_keys_are_validated_and_ordered():
    assert validate_partition_keys(["region", "dt"]) == ("dt", "region")
    with pytest.raises(ValueError, match="must include dt"):
        validate_partition_keys(["topic"])
    with pytest.raises(ValueError, match=r"unknown partition key\(s\) \['site'\]"):
        validate_partition_keys(["dt", "site"])


def test_partition_values_come_from_the_closed_vocabulary():
    values = partition_values({"primary_topic": "medtop:11000000", "primary_region": "Eastern Asia"}, WHEN)
    assert partition_path(values, ("dt", "topic", "region")) == \
        "dt=2024-07-29/topic=politics-government/region=eastern-asia"
    odd = partition_values({"primary_topic": "../../etc", "primary_region": "Atlantis/x"}, WHEN)
    assert partition_path(odd, ("dt", "topic", "region")) == "dt=2024-07-29/topic=other/region=other"


def run_write(root: Path, run_id: str, rows: list[tuple[str, str, dict]]) -> None:
    with beam.Pipeline(runner="FnApiRunner") as p:
        _ = p | beam.Create(rows, reshuffle=False) | WriteDataset(str(root), run_id, DATASET_SCHEMAS)


def test_write_commits_one_file_per_partition_with_manifest(tmp_path):
    keys = ("dt", "topic", "region")
    articles = [make_article(1, "medtop:11000000", "Eastern Asia"), make_article(2, "medtop:11000000", "Eastern Asia"),
                make_article(3, None, None)]
    rows = []
    for a in articles:
        row = article_row(a, "run1", WHEN)
        rows.append(("articles/v1", partition_path(partition_values(row, WHEN), keys), row))
    rejection = Rejection.skip("fetch", "unsupported_content_type", "https://a.example/x.pdf", "https://a.example/rss")
    rejection.at = WHEN
    rows.append(("deadletters/v1", "dt=2024-07-29", deadletter_row(rejection, "run1")))
    run_write(tmp_path, "run1", rows)

    assert files_under(tmp_path) == [
        "_manifests/run1/_SUCCESS",
        "_manifests/run1/manifest.json",
        "articles/v1/dt=2024-07-29/topic=politics-government/region=eastern-asia/part-run1.parquet",
        "articles/v1/dt=2024-07-29/topic=unknown/region=unknown/part-run1.parquet",
        "deadletters/v1/dt=2024-07-29/part-run1.parquet",
    ]
    manifest = json.loads((tmp_path / "_manifests/run1/manifest.json").read_text())
    assert manifest["rows"] == {"articles": 3, "deadletters": 1}
    table = pads.dataset(tmp_path / "articles/v1", partitioning="hive").to_table()
    got = sorted(zip(table["id"].to_pylist(), table["topic"].to_pylist(), table["region"].to_pylist(),
                     strict=True))
    assert got == [("id1", "politics-government", "eastern-asia"), ("id2", "politics-government", "eastern-asia"),
                   ("id3", "unknown", "unknown")]
    dead = pads.dataset(tmp_path / "deadletters/v1", partitioning="hive").to_table().to_pylist()
    assert [(d["kind"], d["stage"], d["reason"], d["host"]) for d in dead] == [
        ("skip", "fetch", "unsupported_content_type", "a.example")]


def test_failed_write_leaves_nothing_visible(tmp_path):
    good = article_row(make_article(1, None, None), "run2", WHEN)
    bad = dict(good, body=None)  # body is not nullable: the Parquet write fails
    with pytest.raises(Exception, match="body"):
        run_write(tmp_path, "run2", [("articles/v1", "dt=2024-07-29/topic=unknown/region=unknown", good),
                                     ("articles/v1", "dt=2024-07-29/topic=unknown/region=unknown", bad)])
    assert not (tmp_path / "articles").exists()
    assert not (tmp_path / "_manifests").exists()


def test_recovery_rolls_forward_a_commit_interrupted_after_its_manifest(tmp_path):
    root = str(tmp_path)
    row = article_row(make_article(1, None, None), "run3", WHEN)
    staging = f"{root}/{STAGING_DIR}/run3/articles/v1/dt=2024-07-29/part-run3.parquet"
    final = f"{root}/articles/v1/dt=2024-07-29/part-run3.parquet"
    write_bytes(staging, table_bytes([row], DATASET_SCHEMAS["articles/v1"]))
    manifest = {"run_id": "run3", "committed_at": WHEN.isoformat(), "rows": {"articles": 1},
                "files": [{"dataset": "articles", "partition": "dt=2024-07-29", "staging_path": staging,
                           "final_path": final, "rows": 1}]}
    write_bytes(f"{root}/_manifests/run3/manifest.json", json.dumps(manifest).encode())
    # an abandoned cycle: staged, never reached its manifest
    write_bytes(f"{root}/{STAGING_DIR}/run4/articles/v1/dt=2024-07-29/part-run4.parquet", b"partial")

    assert recover_incomplete_commits(root) == {"rolled_forward": ["run3"], "discarded": ["run4"]}
    assert files_under(tmp_path) == ["_manifests/run3/_SUCCESS", "_manifests/run3/manifest.json",
                                     "articles/v1/dt=2024-07-29/part-run3.parquet"]
    assert recover_incomplete_commits(root) == {"rolled_forward": [], "discarded": []}


def test_commit_is_idempotent_when_files_already_moved(tmp_path):
    root = str(tmp_path)
    staged = StagedFile("deadletters", "dt=2024-07-29", f"{root}/_staging/r/x.parquet", f"{root}/deadletters/x.parquet", 0)
    write_bytes(staged.staging_path, b"x")
    commit(root, "r", [staged], WHEN)
    commit(root, "r", [staged], WHEN)
    assert files_under(tmp_path) == ["_manifests/r/_SUCCESS", "_manifests/r/manifest.json", "deadletters/x.parquet"]


def test_rows_wait_in_the_shuffle_packed_and_come_back_equal():
    long_row = article_row(make_article(1, "politics", "eastern-asia"), "run1", WHEN)
    long_row["body"] = "The council met on Monday to vote on the harbour plan. " * 40
    short_row = {"key": 7, "doc_id": "id1"}
    packed_long, packed_short = pack_row(long_row), pack_row(short_row)
    # compressed: a quarter of the plain pickle (the row's other columns, four more since the date
    # fields, are in both)
    assert packed_long[:1] == b"z" and len(packed_long) < len(pickle.dumps(long_row)) // 4
    assert packed_short[:1] == b"p"
    assert unpack_row(packed_long) == long_row
    assert unpack_row(packed_short) == short_row


def test_parquet_file_converts_a_partition_in_batches_and_checks_each(monkeypatch):
    monkeypatch.setattr(parquet_module, "ROWS_PER_BATCH", 2)
    rows = [article_row(make_article(n, None, None), "run1", WHEN) for n in range(5)]
    data, count = parquet_file(iter(rows), DATASET_SCHEMAS["articles/v1"])
    parquet = pq.ParquetFile(pa.BufferReader(data))
    assert count == 5
    assert parquet.metadata.num_row_groups == 3
    assert parquet.read().column("id").to_pylist() == ["id0", "id1", "id2", "id3", "id4"]
    rows[4] = dict(rows[4], body=None)  # in the last batch: still refused
    with pytest.raises(ContractViolation, match="1 row\\(s\\) with null in required column 'body'"):
        parquet_file(rows, DATASET_SCHEMAS["articles/v1"])
