"""The dataset contract (schemas/README.md) cannot drift from the code."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from newsflow.schemas.contract_doc import (
    arrow_type_name,
    bigquery_type_name,
    render_field_table,
    render_field_tables,
    render_partition_vocabulary,
)
from newsflow.schemas.records import ARTICLES, DATASETS, DEADLETTERS

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "schemas" / "README.md").read_text(encoding="utf-8")

REASON_ARGUMENT = {"_skip": 3, "_error": 3, "FetchResult": 3, "Rejection": 2, "_fail": 1}
"""Position of the reason among the positional arguments of the calls that name one."""


def _module_strings(tree: ast.Module) -> dict[str, str]:
    names = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            names.update({t.id: node.value.value for t in node.targets if isinstance(t, ast.Name)})
    return names


def _strings(node: ast.AST, constants: dict[str, str]) -> set[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.Name):
        return {constants[node.id]} if node.id in constants else set()
    if isinstance(node, ast.BoolOp):
        return set().union(*(_strings(v, constants) for v in node.values))
    if isinstance(node, ast.IfExp):
        return _strings(node.body, constants) | _strings(node.orelse, constants)
    if isinstance(node, ast.JoinedStr):
        return {"".join(str(v.value) if isinstance(v, ast.Constant) else "<status>" for v in node.values)}
    return set()


def _reasons_in(tree: ast.Module) -> set[str]:
    constants = _module_strings(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name == "skip" and isinstance(func, ast.Attribute) and getattr(func.value, "id", None) == "Rejection":
                found |= _strings(node.args[1], constants) if len(node.args) > 1 else set()
            elif name in REASON_ARGUMENT and len(node.args) > REASON_ARGUMENT[name]:
                found |= _strings(node.args[REASON_ARGUMENT[name]], constants)
            for keyword in node.keywords:
                if keyword.arg == "reason":
                    found |= _strings(keyword.value, constants)
        elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "reason" for t in node.targets):
            found |= _strings(node.value, constants)
        elif isinstance(node, ast.FunctionDef) and node.name.endswith("_verdict"):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Return) and inner.value is not None:
                    found |= _strings(inner.value, constants)
    return found


def reasons_in_code() -> set[str]:
    found: set[str] = set()
    for path in sorted((REPO / "transforms").rglob("*.py")):  # the stages live in sub-packages
        found |= _reasons_in(ast.parse(path.read_text(encoding="utf-8")))
    return found


def reasons_in_readme() -> set[str]:
    section = README.split("## Dead letters", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            names |= set(re.findall(r"`([^`]+)`", line.split(" | ")[0]))
    return names


def test_readme_holds_the_generated_field_tables_exactly():
    assert render_field_tables() in README


def test_readme_holds_the_generated_partition_vocabulary_exactly():
    assert render_partition_vocabulary() in README


def test_field_table_rows_follow_the_record_columns():
    table = render_field_table(DEADLETTERS)
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| #")]
    assert len(rows) == len(DEADLETTERS.columns)
    assert rows[0] == ("| 1 | `kind` | `string` | `STRING` | no | skip (a named reason, expected) or error "
                       "(a failure). | `\"error\"` |")
    assert rows[-2] == "| 10 | `at` | `timestamp[us, UTC]` | `TIMESTAMP` | no | When it happened (UTC). | " \
                       "`\"2024-07-29T07:02:11Z\"` |"
    topics = ARTICLES.column("topics")
    assert arrow_type_name(topics.type) == "list<struct<code: string, label: string, confidence: float32>>"
    assert bigquery_type_name(topics.type) == "ARRAY<STRUCT<code STRING, label STRING, confidence FLOAT64>>"


def test_every_dataset_is_described():
    for ds in DATASETS:
        assert f"#### `{ds.path}` fields" in README
        assert f"| {ds.name} | `{ds.path}` |" in README


def test_the_reason_table_lists_exactly_the_reasons_the_transforms_name():
    in_code = reasons_in_code()
    assert {"http_<status>", "empty_extraction", "feed_without_entries", "robots_disallowed", "no_text"} <= in_code
    assert sorted(in_code - reasons_in_readme()) == [], "undocumented reasons"
    assert sorted(reasons_in_readme() - in_code) == [], "documented reasons no transform names any more"


def test_the_reason_scanner_reads_every_form_of_naming_a_reason():
    source = '''
GONE = "gone_reason"
class E(Exception):
    reason = "class_attr_reason"
def f(r, x):
    Rejection.skip("fetch", GONE, "u")
    Rejection("error", "fetch", "positional_reason", "u")
    Rejection.error("fetch", "u", x, reason="keyword_reason")
    self._skip(1, 2, 3, f"http_{x}", "m")
    reason = r or ("a_reason" if x else "b_reason")
def _robots_verdict():
    return "verdict_reason"
'''
    assert _reasons_in(ast.parse(source)) == {
        "gone_reason", "class_attr_reason", "positional_reason", "keyword_reason", "http_<status>",
        "a_reason", "b_reason", "verdict_reason"}


def _dt_complete():
    code = README.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(code, "schemas/README.md", "exec"), namespace)
    return namespace["dt_complete"]


def test_the_completeness_check_in_the_readme_works(tmp_path):
    dt_complete = _dt_complete()
    yesterday = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d")
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    (tmp_path / "_manifests" / "r1").mkdir(parents=True)
    (tmp_path / "_manifests" / "r1" / "manifest.json").write_text("{}")
    assert not dt_complete(str(tmp_path), yesterday)  # r1 not committed yet
    (tmp_path / "_manifests" / "r1" / "_SUCCESS").write_text("")
    assert dt_complete(str(tmp_path), yesterday)
    assert not dt_complete(str(tmp_path), today)
    (tmp_path / "_staging" / "r2").mkdir(parents=True)
    (tmp_path / "_staging" / "r2" / "x.parquet").write_bytes(b"x")
    assert not dt_complete(str(tmp_path), yesterday)
    (tmp_path / "_staging" / "r2" / "x.parquet").unlink()  # a local commit leaves empty folders behind
    assert dt_complete(str(tmp_path), yesterday)


@pytest.mark.parametrize("module", ["newsflow.schemas.export", "newsflow.pipelines.cli"])
def test_schema_export_does_not_load_the_contract_renderer(module):
    probe = f"import sys, {module}; print('newsflow.schemas.contract_doc' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
