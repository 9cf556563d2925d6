"""Generate JSON Schema, Avro and BigQuery schema files from the record types in ``records``.

The committed files under ``schemas/generated/`` are this module's output; a test regenerates them and
fails when they drift.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa

from newsflow.schemas.records import DATASETS, Column, Dataset


def _json_type(t: pa.DataType) -> dict[str, Any]:
    if pa.types.is_string(t):
        return {"type": "string"}
    if pa.types.is_boolean(t):
        return {"type": "boolean"}
    if pa.types.is_integer(t):
        return {"type": "integer"}
    if pa.types.is_floating(t):
        return {"type": "number"}
    if pa.types.is_timestamp(t):
        return {"type": "string", "format": "date-time"}
    if pa.types.is_date32(t):
        return {"type": "string", "format": "date"}
    if pa.types.is_list(t):
        return {"type": "array", "items": _json_type(t.value_type)}
    if pa.types.is_struct(t):
        return {"type": "object", "additionalProperties": False,
                "required": [f.name for f in t if not f.nullable],
                "properties": {f.name: _json_type(f.type) for f in t}}
    raise TypeError(f"no JSON Schema mapping for {t}")


def _json_column(c: Column) -> dict[str, Any]:
    spec = _json_type(c.type)
    if c.nullable:
        spec = {"anyOf": [spec, {"type": "null"}]}
    return {**spec, "description": c.doc}


def json_schema(ds: Dataset) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://newsflow.dev/schemas/{ds.name}/v{ds.version}.json",
        "title": f"newsflow {ds.name} v{ds.version}",
        "description": ds.doc,
        "type": "object",
        "additionalProperties": False,
        "required": [c.name for c in ds.columns if not c.nullable],
        "properties": {c.name: _json_column(c) for c in ds.columns},
    }


def _avro_type(t: pa.DataType, name: str) -> Any:
    if pa.types.is_string(t):
        return "string"
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_int32(t):
        return "int"
    if pa.types.is_integer(t):
        return "long"
    if pa.types.is_float32(t):
        return "float"
    if pa.types.is_floating(t):
        return "double"
    if pa.types.is_timestamp(t):
        return {"type": "long", "logicalType": "timestamp-micros"}
    if pa.types.is_date32(t):
        return {"type": "int", "logicalType": "date"}
    if pa.types.is_list(t):
        return {"type": "array", "items": _avro_type(t.value_type, name + "_item")}
    if pa.types.is_struct(t):
        return {"type": "record", "name": name,
                "fields": [{"name": f.name, "type": _avro_type(f.type, f.name)} for f in t]}
    raise TypeError(f"no Avro mapping for {t}")


def avro_schema(ds: Dataset) -> dict[str, Any]:
    fields = []
    for c in ds.columns:
        avro = _avro_type(c.type, c.name.capitalize())
        fields.append({"name": c.name, "type": ["null", avro] if c.nullable else avro, "doc": c.doc,
                       **({"default": None} if c.nullable else {})})
    return {"type": "record", "name": ds.name.capitalize() + f"V{ds.version}",
            "namespace": "dev.newsflow", "doc": ds.doc, "fields": fields}


def bigquery_scalar(t: pa.DataType) -> str:
    """The BigQuery type of a scalar Arrow type."""
    for check, name in ((pa.types.is_string, "STRING"), (pa.types.is_boolean, "BOOL"),
                        (pa.types.is_integer, "INT64"), (pa.types.is_floating, "FLOAT64"),
                        (pa.types.is_timestamp, "TIMESTAMP"), (pa.types.is_date32, "DATE")):
        if check(t):
            return name
    raise TypeError(f"no BigQuery mapping for {t}")


def _bq_field(name: str, t: pa.DataType, nullable: bool, doc: str | None) -> dict[str, Any]:
    mode = "NULLABLE" if nullable else "REQUIRED"
    if pa.types.is_list(t):
        inner = _bq_field(name, t.value_type, True, doc)
        return {**inner, "mode": "REPEATED"}
    if pa.types.is_struct(t):
        spec: dict[str, Any] = {"name": name, "type": "RECORD", "mode": mode,
                                "fields": [_bq_field(f.name, f.type, f.nullable, None) for f in t]}
    else:
        spec = {"name": name, "type": bigquery_scalar(t), "mode": mode}
    if doc:
        spec["description"] = doc
    return spec


def bigquery_schema(ds: Dataset) -> list[dict[str, Any]]:
    return [_bq_field(c.name, c.type, c.nullable, c.doc) for c in ds.columns]


def generated_files() -> dict[str, str]:
    """File name → content of every generated schema file."""
    out: dict[str, str] = {}
    for ds in DATASETS:
        stem = f"{ds.name}.v{ds.version}"
        out[f"{stem}.schema.json"] = json.dumps(json_schema(ds), indent=2) + "\n"
        out[f"{stem}.avsc"] = json.dumps(avro_schema(ds), indent=2) + "\n"
        out[f"{stem}.bigquery.json"] = json.dumps(bigquery_schema(ds), indent=2) + "\n"
    return out


def export(directory: str | Path) -> list[Path]:
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in generated_files().items():
        path = target / name
        path.write_text(content, encoding="utf-8")
        written.append(path)
    return written
