"""``newsflow tag``: tag a JSONL file of texts with topics and regions (batch, FnApiRunner).

Input lines: ``{"id", "title"?, "body", "language"?}`` (``language``: a declared one, checked against the
text, see ``tag.language``); the benchmark form ``{"id", "title", "dateline", "body"}`` is accepted too
(the dateline is put in front of the body, as a wire story prints it). Output lines:
``{"id", "topics", "regions", "mentioned_regions", "subregions", "primary_topic", "primary_region"}``.
A line that cannot be tagged (bad JSON, no id, no body) is written to ``OUTPUT.rejected.jsonl`` with
the start of the line and the reason; nothing is dropped silently.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from newsflow.transforms.items import REJECTED, Article
from newsflow.transforms.tag.tag_articles import TagArticles

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_line(line: str) -> Article:
    """One input line → an Article carrying only what tagging reads; ValueError says what is wrong."""
    record = json.loads(line)
    if not isinstance(record, dict):
        raise ValueError("line is not a JSON object")
    if record.get("id") in (None, ""):
        raise ValueError("missing id")
    body = record.get("body")
    if not isinstance(body, str):
        raise ValueError("missing body")
    dateline = record.get("dateline")
    if isinstance(dateline, str) and dateline.strip():
        body = f"{dateline.strip()} {body}"
    title = record.get("title")
    record_id = str(record["id"])
    return Article(id=record_id, url="", canonical_url="", feed_url="", site="", body=body,
                   body_sha256=hashlib.sha256(body.encode("utf-8")).hexdigest(), fetched_at=_EPOCH,
                   title=title if isinstance(title, str) else None,
                   language=record.get("language") if isinstance(record.get("language"), str) else None,
                   region_hint=record.get("region_hint") if isinstance(record.get("region_hint"), str) else None)


def to_output(article: Article) -> dict[str, Any]:
    return {"id": article.id, "topics": [t.code for t in article.topics], "regions": article.countries,
            "mentioned_regions": article.mentioned_countries, "subregions": article.subregions,
            "primary_topic": article.primary_topic, "primary_region": article.primary_region}


class _ParseFn(beam.DoFn):
    def process(self, line: str):
        if not line.strip():
            return
        try:
            yield parse_line(line)
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            yield beam.pvalue.TaggedOutput(REJECTED, {"line_start": line[:200], "reason": type(exc).__name__,
                                                      "message": str(exc)[:500]})


def _count(result, name: str) -> int:
    found = result.metrics().query(beam.metrics.MetricsFilter().with_name(name))["counters"]
    return sum(m.committed for m in found)


def run(input_path: str, output_path: str, argv: list[str] | None = None) -> dict:
    """Tag ``input_path`` into ``output_path`` (one JSON object a line) and return the counts."""
    rejected_path = output_path + ".rejected.jsonl"
    options = PipelineOptions(argv or [])
    pipeline = beam.Pipeline(runner="FnApiRunner", options=options)
    parsed = (pipeline
              | "Read" >> beam.io.ReadFromText(input_path)
              | "Parse" >> beam.ParDo(_ParseFn()).with_outputs(REJECTED, main="articles"))
    tagged = parsed.articles | "TagArticles" >> TagArticles()
    (tagged.articles
     | "ToJson" >> beam.Map(lambda a: json.dumps(to_output(a), ensure_ascii=False))
     | "Write" >> beam.io.WriteToText(output_path, shard_name_template="", num_shards=1))
    failed = tagged[REJECTED] | "FailedToDict" >> beam.Map(
        lambda r: {"id": r.url, "stage": r.stage, "reason": r.reason, "error": f"{r.error_class}: {r.message}"})
    ((parsed[REJECTED], failed)
     | "AllRejected" >> beam.Flatten()
     | "RejectedToJson" >> beam.Map(json.dumps)
     | "WriteRejected" >> beam.io.WriteToText(rejected_path, shard_name_template="", num_shards=1))
    result = pipeline.run()
    result.wait_until_finish()
    return {"output": output_path, "rejected_output": rejected_path,
            "articles": _count(result, "tag.articles"), "no_topic": _count(result, "tag.no_topic"),
            "no_country": _count(result, "tag.no_country"),
            "rejected": sum(1 for line in open(rejected_path, encoding="utf-8") if line.strip())}
