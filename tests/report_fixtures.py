"""A small newsflow output written in the datasets' real layout and schemas, for the report tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from newsflow.schemas.records import ARTICLES, DEADLETTERS, DUPLICATES, SCHEMA_VERSION

DAY1 = datetime(2024, 7, 29, 7, 0, tzinfo=UTC)
DAY2 = datetime(2024, 7, 30, 9, 0, tzinfo=UTC)
RUN3_AT = datetime(2024, 7, 30, 10, 0, tzinfo=UTC)
POLITICS = {"code": "medtop:11000000", "label": "politics and government", "confidence": 0.9}
ECONOMY = {"code": "medtop:04000000", "label": "economy, business and finance", "confidence": 0.8}


def article(n: int, site: str, ingested: datetime, *, topic: dict[str, Any] | None, region: str | None,
            subregions: list[str], lag_h: float | None, body_chars: int, partial: bool = False,
            run_id: str = "run1") -> dict[str, Any]:
    return {
        "id": f"a{n:03d}", "url": f"https://{site}/{n}", "canonical_url": f"https://{site}/{n}",
        "feed_url": f"https://{site}/rss.xml", "feed_name": site.split(".")[0].title(), "site": site,
        "guid": None, "title": f"Story {n} from {site}", "authors": [],
        "published_at": None if lag_h is None else ingested - timedelta(hours=lag_h),
        "fetched_at": ingested, "ingested_at": ingested, "language": "en", "summary": None,
        "body": "x" * body_chars, "body_sha256": f"{n:064d}", "partial": partial, "redirect_chain": [],
        "feed_tags": [], "topics": [topic] if topic else [], "primary_topic": topic["code"] if topic else None,
        "countries": [], "mentioned_countries": [], "subregions": subregions,
        "regions": [], "primary_region": region, "tag_evidence": None, "duplicate_of": None,
        "run_id": run_id, "schema_version": SCHEMA_VERSION,
    }


def write(root: Path, relative: str, rows: list[dict[str, Any]], schema: pa.Schema, name: str) -> None:
    folder = root.joinpath(*relative.split("/"))
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), folder / name)


def sample_articles() -> list[dict[str, Any]]:
    return [
        article(1, "seoul.example", DAY1, topic=POLITICS, region="Eastern Asia",
                subregions=["Eastern Asia", "Northern America"], lag_h=0.5, body_chars=1200),
        article(2, "seoul.example", DAY1, topic=POLITICS, region="Eastern Asia", subregions=["Eastern Asia"],
                lag_h=2, body_chars=3000),
        article(3, "pacific.example", DAY1, topic=ECONOMY, region="Australia and New Zealand",
                subregions=["Australia and New Zealand"], lag_h=30, body_chars=180, partial=True),
        article(4, "pacific.example", DAY2, topic=None, region=None, subregions=[], lag_h=None, body_chars=600),
        article(5, "green.example", DAY2, topic=ECONOMY, region="Western Europe", subregions=["Western Europe"],
                lag_h=200, body_chars=9000, run_id="run2"),
    ]


def sample_duplicates() -> list[dict[str, Any]]:
    rows = []
    for n, (site, of, method) in enumerate([("pacific.example", "a001", "body_hash"),
                                            ("green.example", "a001", "sentence_containment"),
                                            ("green.example", "a002", "url")], start=101):
        row = article(n, site, DAY2, topic=POLITICS, region="Eastern Asia", subregions=["Eastern Asia"],
                      lag_h=3, body_chars=1000, run_id="run2")
        del row["duplicate_of"]
        row.update(duplicate_of=of, similarity=1.0, method=method, detected_at=DAY2)
        rows.append(row)
    return rows


def sample_deadletters() -> list[dict[str, Any]]:
    def rejection(kind: str, stage: str, reason: str, host: str, at: datetime) -> dict[str, Any]:
        return {"kind": kind, "stage": stage, "reason": reason, "url": f"https://{host}/x", "feed_url": None,
                "host": host, "error_class": "HTTPStatusError" if kind == "error" else None, "message": None,
                "attempt": 1, "at": at, "run_id": "run1"}

    return [rejection("skip", "fetch", "unsupported_content_type", "seoul.example", DAY1),
            rejection("skip", "fetch", "unsupported_content_type", "pacific.example", DAY1),
            rejection("skip", "extract", "no_body", "seoul.example", DAY2),
            rejection("error", "fetch", "http_404", "gone.example", DAY2)]


def sample_feed_states() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Two commits of feed state: the second is newer for seoul, and lacks interval columns."""
    first: list[dict[str, Any]] = [{"feed_url": "https://seoul.example/rss.xml", "last_status": "ok", "last_success_at": DAY1,
              "consecutive_errors": 0, "polled_at": DAY1, "ttl_s": 600},
             {"feed_url": "https://pacific.example/rss.xml", "last_status": "http_500", "last_success_at": None,
              "consecutive_errors": 3, "polled_at": DAY1, "ttl_s": None}]
    second: list[dict[str, Any]] = [{"feed_url": "https://seoul.example/rss.xml", "last_status": "not_modified",
               "last_success_at": DAY2, "consecutive_errors": 0, "polled_at": DAY2, "ttl_s": 900}]
    return first, second


def write_sample_output(root: Path) -> Path:
    """Articles over two days and partitions, duplicates, dead letters, two feed-state commits, and the
    manifests of a run that wrote no records (run3, committed) and of one that never committed (run4)."""
    by_partition: dict[str, list[dict[str, Any]]] = {}
    for row in sample_articles():
        topic = "politics" if row["primary_topic"] == POLITICS["code"] else (
            "economy" if row["primary_topic"] else "unknown")
        region = (row["primary_region"] or "unknown").lower().replace(" ", "-")
        key = f"dt={row['ingested_at']:%Y-%m-%d}/topic={topic}/region={region}"
        by_partition.setdefault(key, []).append(row)
    for key, rows in by_partition.items():
        write(root, f"{ARTICLES.path}/{key}", rows, ARTICLES.arrow_schema(), "part-run.parquet")
    write(root, f"{DUPLICATES.path}/dt=2024-07-30", sample_duplicates(), DUPLICATES.arrow_schema(),
          "part-run2.parquet")
    for day in ("2024-07-29", "2024-07-30"):
        rows = [r for r in sample_deadletters() if f"{r['at']:%Y-%m-%d}" == day]
        write(root, f"{DEADLETTERS.path}/dt={day}", rows, DEADLETTERS.arrow_schema(), "part-run.parquet")
    first, second = sample_feed_states()
    state_schema = pa.schema([("feed_url", pa.string()), ("last_status", pa.string()),
                              ("last_success_at", pa.timestamp("us", tz="UTC")), ("consecutive_errors", pa.int64()),
                              ("polled_at", pa.timestamp("us", tz="UTC")), ("ttl_s", pa.int64())])
    write(root, "_state/feeds/v1", first, state_schema, "run1.parquet")
    write(root, "_state/feeds/v1", second, state_schema, "run2.parquet")
    for run_id, committed in (("run3", True), ("run4", False)):
        folder = root / "_manifests" / run_id
        folder.mkdir(parents=True)
        (folder / "manifest.json").write_text(json.dumps({"run_id": run_id, "committed_at": RUN3_AT.isoformat(),
                                                          "files": [], "rows": {}}))
        if committed:
            (folder / "_SUCCESS").write_bytes(b"")
    return root


_DEMO_OUTPUTS: dict[str, Path] = {}


def demo_pipeline_output(factory: Any) -> Path:
    """The output of two once runs over the bundled demo site (the second polls with validators).

    Made once per test session and shared (``factory`` is pytest's ``tmp_path_factory``).
    """
    if "demo" not in _DEMO_OUTPUTS:
        import io

        from newsflow.pipelines import once
        from newsflow.pipelines.demo import demo_argv
        from newsflow.pipelines.demo_server import DemoServer, bundled_site

        root = factory.mktemp("demo-output")
        config = str(bundled_site() / "feeds.yaml")
        with DemoServer(bundled_site()) as server:
            for _ in range(2):
                once.run(demo_argv(config, str(root), server.replay_prefix), out=io.StringIO())
        _DEMO_OUTPUTS["demo"] = root
    return _DEMO_OUTPUTS["demo"]
