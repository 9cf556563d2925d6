"""``newsflow dedup``: dedup decisions for a JSONL stream of documents.

Input lines ``{"id", "ts", "site"?, "title"?, "text"}`` in arrival order; output one line per
document ``{"id", "dup_of": earlier canonical id | null}`` in input order: each document is judged
against EARLIER ones only (streaming semantics). Runs ``DropDuplicates`` (batch, FnApiRunner) over
Articles built from the lines (``url = urn:newsflow:doc:<id>`` so URL keys never collide). Lines
that are not such documents stop the run with their line number.

Options in ``argv`` (the rest are Beam pipeline options): ``--history-root ROOT`` (load the
persisted index under ROOT and add this run's rows to it), ``--run-id`` (history file name, default
the UTC time), ``--horizon-hours`` (72), ``--containment-threshold`` (0.5).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from newsflow.transforms.dedup.drop_duplicates import DUPLICATES, HISTORY, DropDuplicates
from newsflow.transforms.dedup.history import WriteHistory, history_dir
from newsflow.transforms.dedup.keys import DEFAULT_CONTAINMENT, DEFAULT_HORIZON, body_hash
from newsflow.transforms.items import Article


def parse_ts(value: str) -> datetime:
    ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def article_of(line: dict[str, Any]) -> Article:
    """The Article a document line stands for."""
    doc_id, text = str(line["id"]), line["text"]
    if not isinstance(text, str):
        raise ValueError(f"text of {doc_id} is not a string")
    urn = f"urn:newsflow:doc:{doc_id}"
    return Article(id=doc_id, url=urn, canonical_url=urn, feed_url="", site=line.get("site") or "",
                   body=text, body_sha256=body_hash(text), fetched_at=parse_ts(str(line["ts"])),
                   title=line.get("title"))


def read_documents(path: str) -> Iterator[tuple[int, dict[str, Any]]]:
    with open(path, encoding="utf-8") as f:
        for number, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                line = json.loads(raw)
                if not isinstance(line, dict) or "id" not in line or "ts" not in line or "text" not in line:
                    raise ValueError("expected an object with id, ts and text")
                parse_ts(str(line["ts"]))
            except ValueError as exc:
                raise ValueError(f"{path}:{number}: {exc}") from exc
            yield number, line


def run(input_path: str, output_path: str, argv: list[str] | None = None) -> dict[str, Any]:
    """Decide every document of ``input_path``; write the decisions to ``output_path``.

    Returns ``{"documents", "duplicates", "output"}`` (plus ``"history"``: the file written,
    with ``--history-root``).
    """
    args, beam_args = _parse_args(argv or [])
    lines = [line for _, line in read_documents(input_path)]
    ids = [str(line["id"]) for line in lines]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{input_path}: document ids are not unique")
    options = PipelineOptions(beam_args)
    run_id = args.run_id or datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    with tempfile.TemporaryDirectory(prefix="newsflow-dedup-") as tmp:
        pairs_path = os.path.join(tmp, "pairs.jsonl")
        with beam.Pipeline(runner="FnApiRunner", options=options) as pipeline:
            outputs = (pipeline
                       | "Documents" >> beam.Create([article_of(line) for line in lines])
                       | "DropDuplicates" >> DropDuplicates(
                           history_root=args.history_root, horizon=timedelta(hours=args.horizon_hours),
                           containment_threshold=args.containment_threshold, streaming=False))
            if args.history_root:
                _ = outputs[HISTORY] | "WriteHistory" >> WriteHistory(args.history_root, run_id)
            canonical = outputs.articles | "CanonicalIds" >> beam.Map(lambda a: [a.id, None])
            duplicate = outputs[DUPLICATES] | "DuplicateIds" >> beam.Map(
                lambda d: [d.article.id, d.article.duplicate_of])
            _ = ((canonical, duplicate)
                 | "Decisions" >> beam.Flatten()
                 | "Json" >> beam.Map(json.dumps)
                 | "Write" >> beam.io.WriteToText(pairs_path, shard_name_template=""))
        with open(pairs_path, encoding="utf-8") as f:
            decisions: dict[str, str | None] = dict(json.loads(line) for line in f if line.strip())
    missing = [doc_id for doc_id in ids if doc_id not in decisions]
    if missing:
        raise RuntimeError(f"no decision for {len(missing)} documents, e.g. {missing[:3]}")
    Path(output_path).parent.mkdir(parents=True, exist_ok=True)
    with open(output_path, "w", encoding="utf-8") as f:
        for doc_id in ids:
            f.write(json.dumps({"id": doc_id, "dup_of": decisions[doc_id]}) + "\n")
    result: dict[str, Any] = {"documents": len(ids), "output": output_path,
                              "duplicates": sum(v is not None for v in decisions.values())}
    if args.history_root:
        result["history"] = FileSystems.join(history_dir(args.history_root), f"part-{run_id}.parquet")
    return result


def _parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(prog="newsflow dedup", add_help=False)
    parser.add_argument("--history-root", default=None)
    parser.add_argument("--run-id", default=None)
    parser.add_argument("--horizon-hours", type=float, default=DEFAULT_HORIZON.total_seconds() / 3600)
    parser.add_argument("--containment-threshold", type=float, default=DEFAULT_CONTAINMENT)
    return parser.parse_known_args(argv)

