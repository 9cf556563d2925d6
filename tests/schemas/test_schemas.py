from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa

from newsflow.pipelines.cli import main
from newsflow.schemas.export import avro_schema, bigquery_schema, generated_files, json_schema
from newsflow.schemas.records import ARTICLES, DATASETS, DUPLICATES

GENERATED = Path(__file__).resolve().parents[2] / "schemas" / "generated"


def test_committed_schema_files_match_the_record_types():
    expected = generated_files()
    committed = {p.name: p.read_text(encoding="utf-8") for p in GENERATED.iterdir() if p.is_file()}
    assert committed == expected, "schemas/generated drifted: run `newsflow schema export schemas/generated`"


def test_article_v1_has_the_contract_fields():
    names = [c.name for c in ARTICLES.columns]
    for required in ("id", "url", "canonical_url", "feed_url", "site", "title", "authors", "published_at",
                     "fetched_at", "ingested_at", "language", "body", "body_sha256", "summary", "topics",
                     "primary_topic", "countries", "mentioned_countries", "subregions", "regions",
                     "primary_region", "duplicate_of", "partial", "schema_version"):
        assert required in names
    assert len(names) == len(set(names))
    assert ARTICLES.partition_keys == ("dt", "topic", "region")


def test_every_example_fits_its_column_type():
    for dataset in DATASETS:
        row = {c.name: c.example for c in dataset.columns}
        for column in dataset.columns:
            if (pa.types.is_timestamp(column.type) or pa.types.is_date(column.type)) \
                    and isinstance(column.example, str):
                row[column.name] = None if column.nullable else 0
        table = pa.Table.from_pylist([row], schema=dataset.arrow_schema())
        assert table.num_rows == 1


def test_generated_forms_agree_on_nullability():
    for dataset in DATASETS:
        js = json_schema(dataset)
        avro = {f["name"]: f for f in avro_schema(dataset)["fields"]}
        bq = {f["name"]: f for f in bigquery_schema(dataset)}
        for column in dataset.columns:
            assert (column.name in js["required"]) == (not column.nullable)
            assert (isinstance(avro[column.name]["type"], list)) == column.nullable
            list_column = pa.types.is_list(column.type)
            assert bq[column.name]["mode"] == ("REPEATED" if list_column else
                                               "NULLABLE" if column.nullable else "REQUIRED")
    assert {f["name"] for f in bigquery_schema(DUPLICATES)} >= {"duplicate_of", "similarity", "method"}


def test_schema_export_command_writes_the_files(tmp_path, capsys):
    assert main(["schema", "export", str(tmp_path / "out")]) == 0
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == sorted(generated_files())
    article = json.loads((tmp_path / "out" / "articles.v1.schema.json").read_text())
    assert article["properties"]["countries"] == {
        "type": "array", "items": {"type": "string"},
        "description": ARTICLES.column("countries").doc}
