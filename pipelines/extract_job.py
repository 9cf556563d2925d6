"""``newsflow extract``: run the extract stage over saved pages and write one JSON line per page.

Input is a folder of ``<id>.html`` / ``<id>.html.gz`` files or a JSONL file of
``{"id", "url"?, "html"}`` objects. Each page goes through the pipeline's own ``ExtractArticles``
and ``RemoveRepeatedText`` on the FnApiRunner; the output has one line per input id,
``{"id", "url", "title", "published_at", "language", "text"}``, in no particular order, with
``text`` empty for pages that yielded no article (skipped or failed).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from trafilatura.utils import decode_file

from newsflow.transforms.dedup.repeated_text import RemoveRepeatedText
from newsflow.transforms.extract.extract_articles import ExtractArticles
from newsflow.transforms.items import Article, Entry, Page, utcnow

HTML_SUFFIXES = (".html.gz", ".htm.gz", ".html", ".htm")


def page_id(path: Path) -> str:
    """The id of a saved page: its file name without the HTML (and gzip) extensions."""
    name = path.name
    for suffix in HTML_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def make_page(page_id: str, html: str, url: str | None, source: str, fetched_at: datetime) -> Page:
    """A Page for a saved document: the id travels as the entry's guid; a missing URL becomes
    the document's location so every page still has a distinct address."""
    address = url or source
    entry = Entry(feed_url=source, url=address, guid=page_id)
    return Page(entry=entry, final_url=address, html=html, fetched_at=fetched_at)


def read_html_file(path: str, fetched_at: datetime) -> Page:
    file = Path(path)
    raw = file.read_bytes()
    if file.name.endswith(".gz"):
        raw = gzip.decompress(raw)
    return make_page(page_id(file), decode_file(raw), None, file.resolve().as_uri(), fetched_at)


def parse_jsonl_line(line: str, source: str, fetched_at: datetime) -> Page:
    record = json.loads(line)
    return make_page(str(record["id"]), record.get("html") or "", record.get("url"),
                     f"{source}#{record['id']}", fetched_at)


def output_record(page_id: str, article: Article | None, url: str | None) -> dict[str, Any]:
    if article is None:
        return {"id": page_id, "url": url, "title": None, "published_at": None, "language": None,
                "text": ""}
    return {"id": page_id, "url": article.url, "title": article.title,
            "published_at": article.published_at.isoformat() if article.published_at else None,
            "language": article.language, "text": article.body}


def _join(item: tuple[str, dict[str, list[Any]]]) -> Iterator[str]:
    page_id, groups = item
    urls, articles = groups["urls"], groups["articles"]
    url = urls[0] if urls else None
    yield json.dumps(output_record(page_id, articles[0] if articles else None, url), ensure_ascii=False)


def check_jsonl(path: str) -> None:
    """Fail before the pipeline starts on a JSONL line that is not an object with an id."""
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise ValueError(f"{path}:{number}: not JSON: {exc}") from exc
            if not isinstance(record, dict) or "id" not in record:
                raise ValueError(f"{path}:{number}: expected an object with an 'id'")


def _list_inputs(input_path: str) -> tuple[list[str], bool]:
    """(the HTML files of a folder, False) or ([the JSONL file], True)."""
    path = Path(input_path)
    if path.is_dir():
        files = sorted(str(p) for p in path.iterdir() if p.is_file() and p.name.endswith(HTML_SUFFIXES))
        return files, False
    if path.is_file():
        return [str(path)], True
    raise FileNotFoundError(f"extract input not found: {input_path}")


def run(input_path: str, output_path: str, argv: list[str] | None = None, workers: int = 0) -> dict:
    """Extract every page of ``input_path`` into the JSONL file ``output_path``; returns the counts
    ``{"pages", "articles", "skipped", "failed", "output"}``."""
    files, is_jsonl = _list_inputs(input_path)
    fetched_at = utcnow()
    options = beam.options.pipeline_options.PipelineOptions(argv or [])
    pipeline = beam.Pipeline(runner="FnApiRunner", options=options)
    if is_jsonl:
        check_jsonl(files[0])
        pages = (pipeline | "Read" >> beam.io.ReadFromText(files[0])
                 | "NonEmpty" >> beam.Filter(str.strip)
                 | "Parse" >> beam.Map(parse_jsonl_line, files[0], fetched_at))
    else:
        pages = (pipeline | "Files" >> beam.Create(files)
                 | "Read" >> beam.Map(read_html_file, fetched_at))
    extracted = pages | "ExtractArticles" >> ExtractArticles(workers=workers)
    cleaned = (extracted.articles | "RemoveRepeatedText" >> RemoveRepeatedText()).articles
    keyed_urls = pages | "UrlById" >> beam.Map(lambda page: (page.entry.guid, page.entry.url))
    keyed_articles = cleaned | "ArticleById" >> beam.Map(lambda article: (article.guid, article))
    _ = ({"urls": keyed_urls, "articles": keyed_articles}
         | "Join" >> beam.CoGroupByKey()
         | "Format" >> beam.FlatMap(_join)
         | "Write" >> beam.io.WriteToText(output_path, shard_name_template="", num_shards=1))
    result = pipeline.run()
    result.wait_until_finish()
    counters = {c.key.metric.name: c.committed
                for c in result.metrics().query(MetricsFilter().with_namespace("newsflow"))["counters"]}
    articles = counters.get("extract.articles", 0)
    skipped = counters.get("extract.skipped.empty_extraction", 0)
    failed = counters.get("extract.failed", 0)
    return {"pages": articles + skipped + failed, "articles": articles, "skipped": skipped,
            "failed": failed, "output": output_path}
