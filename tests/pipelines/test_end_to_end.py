"""The once pipeline end to end: real HTTP on 127.0.0.1, the real runner, the output read back."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow.dataset as pads
import pytest

from newsflow.pipelines import once
from newsflow.pipelines.cli import main
from newsflow.pipelines.demo_server import DemoServer, bundled_site
from tests.fixture_server import Route, html, serve

pytestmark = pytest.mark.slow

EXAMPLE_URL = "https://seoul-herald.example/2024/07/29/trilateral.html"
BOJ_ORIGINAL = "https://seoul-herald.example/2024/07/31/boj-rate-rise.html"
BOJ_COPY = "https://pacific-wire.example/partners/2024/07/31/bank-of-japan-rate-rise.html"


def demo_argv(output: Path, prefix: str) -> list[str]:
    return ["--config", str(bundled_site() / "feeds.yaml"), "--output", str(output), "--replay_prefix", prefix,
            "--allow_private_network", "127.0.0.1/32", "--host_delay_s", "0", "--runner", "FnApiRunner"]


def articles(output: Path) -> list[dict]:
    sql = (f"SELECT * FROM read_parquet('{output}/articles/v1/**/*.parquet', hive_partitioning=true) "
           "ORDER BY title")
    relation = duckdb.sql(sql)
    return [dict(zip(relation.columns, row, strict=True)) for row in relation.fetchall()]


def dataset_rows(output: Path, name: str) -> list[dict]:
    path = output / name / "v1"
    if not path.exists():
        return []
    return pads.dataset(path, format="parquet", partitioning="hive").to_table().to_pylist()


@pytest.fixture(scope="module")
def demo_runs(tmp_path_factory):
    output = tmp_path_factory.mktemp("demo") / "out"
    with DemoServer(bundled_site()) as server:
        first = once.run(demo_argv(output, server.replay_prefix))
        second = once.run(demo_argv(output, server.replay_prefix))
    return output, first, second


def test_demo_articles_read_back_with_duckdb(demo_runs):
    output, first, _ = demo_runs
    got = {(a["site"], a["title"], a["topic"], a["region"], a["primary_topic"], tuple(sorted(a["countries"])))
           for a in articles(output)}
    assert got == {
        ("seoul-herald.example", "ROK, Japan, US sign trilateral security framework in Tokyo",
         "politics-government", "eastern-asia", "medtop:11000000", ("JP", "KP", "KR", "US")),
        ("seoul-herald.example", "Bank of Japan raises interest rates and sets out plan to slow bond buying",
         "economy-business-finance", "eastern-asia", "medtop:04000000", ("JP",)),
        ("pacific-wire.example", "Almenara win Copa Mediterránea final on penalties in Valencia",
         "sport", "southern-europe", "medtop:15000000", ("ES",)),
        ("pacific-wire.example", "Indian space agency launches ocean-monitoring satellite from Sriharikota",
         "science-technology", "southern-asia", "medtop:13000000", ("IN",)),
        ("pacific-wire.example", "WHO warns of rapid measles spread in northern Nigeria as vaccination gaps widen",
         "health", "sub-saharan-africa", "medtop:07000000", ("NG",)),
        ("greenfield-gazette.example", "Brazilian coffee cooperatives sign record long-term export deal",
         "economy-business-finance", "latin-america-and-the-caribbean", "medtop:04000000", ("BR",)),
        ("greenfield-gazette.example",
         "Debut drama about a fishing family wins top prize at Brittany film festival",
         "arts-culture-entertainment-media", "western-europe", "medtop:01000000", ("FR",)),
        ("greenfield-gazette.example", "Flash floods force evacuations in southern Germany after days of heavy rain",
         "disaster-accident-emergency", "western-europe", "medtop:03000000", ("DE",)),
    }
    assert first.counters["write.rows.articles"] == 8


def test_the_example_page_holds_its_body_once_without_boilerplate(demo_runs):
    output, _, _ = demo_runs
    [record] = [a for a in articles(output) if a["url"] == EXAMPLE_URL]
    body = record["body"]
    first_paragraph = body.split("\n")[0]
    assert first_paragraph.startswith("TOKYO — The defence ministers of South Korea, Japan and the United States")
    assert body.count(first_paragraph) == 1
    assert body.count("The next trilateral ministerial meeting is due to be held in South Korea next year.") == 1
    for boilerplate in ("Loading", "Search", "Category:Other", "Comment (0)", "Trackback(0)"):
        assert boilerplate not in body
    assert record["published_at"].date().isoformat() == "2024-07-29"
    assert {"KR", "JP", "US", "KP"} <= set(record["countries"])
    assert set(record["mentioned_countries"]) == {"RU", "BY"}
    assert record["primary_topic"] == "medtop:11000000"
    assert record["primary_region"] == "Eastern Asia"
    assert record["authors"] == ["Kim Min-jun"]
    assert record["language"] == "en"
    assert record["feed_name"] == "The Seoul Herald"
    assert record["schema_version"] == 1 and record["duplicate_of"] is None


def test_syndicated_copy_goes_to_duplicates_pointing_at_the_original(demo_runs):
    output, _, _ = demo_runs
    by_url = {a["url"]: a for a in articles(output)}
    [duplicate] = dataset_rows(output, "duplicates")
    assert duplicate["url"] == BOJ_COPY
    assert duplicate["duplicate_of"] == by_url[BOJ_ORIGINAL]["id"]
    assert duplicate["method"] in ("body_hash", "sentence_containment")
    assert duplicate["similarity"] >= 0.9


def test_dead_letters_and_skips_are_recorded(demo_runs):
    output, first, second = demo_runs
    rows = dataset_rows(output, "deadletters")
    dead = sorted((d["kind"], d["stage"], d["reason"], d["url"], d["error_class"]) for d in rows
                  if d["run_id"] == first.run_id)
    assert dead == [
        ("error", "feeds", "feed_without_entries", "https://greenfield-gazette.example/broken.xml", "EmptyFeed"),
        ("error", "fetch", "http_404", "https://seoul-herald.example/2024/07/30/defence-white-paper.html",
         "HTTPStatusError"),
    ]
    assert first.by_prefix("deadlettered.") == {"feed_without_entries": 1, "http_404": 1}
    assert first.by_prefix("skipped.") == {}
    # the broken feed is still broken on the second poll (no validators kept for it); the 404 page is
    # not listed again because its feed answered 304
    assert [(d["reason"], d["url"]) for d in rows if d["run_id"] == second.run_id] == [
        ("feed_without_entries", "https://greenfield-gazette.example/broken.xml")]


def test_redirects_and_tracking_parameters(demo_runs):
    output, _, _ = demo_runs
    redirected = [a for a in articles(output) if a["redirect_chain"]]
    assert redirected, "the demo has a feed link that redirects"
    for record in articles(output):
        assert "utm_" not in record["canonical_url"]


def test_second_run_writes_nothing_new_and_manifests_say_so(demo_runs):
    output, first, second = demo_runs
    assert second.counters.get("write.rows.articles", 0) == 0
    assert len(articles(output)) == 8
    manifests = {p.name: json.loads((p / "manifest.json").read_text()) for p in (output / "_manifests").iterdir()}
    assert set(manifests) == {first.run_id, second.run_id}
    assert manifests[first.run_id]["rows"]["articles"] == 8
    assert "articles" not in manifests[second.run_id]["rows"]
    for run_id in manifests:
        assert (output / "_manifests" / run_id / "_SUCCESS").exists()
        stats = json.loads((output / "_manifests" / run_id / "stats.json").read_text())
        assert stats["run_id"] == run_id
    assert not list((output / "_staging").glob("*")) if (output / "_staging").exists() else True


def fixture_routes(base: str) -> dict[str, Route]:
    paragraphs = "".join(f"<p>Paragraph {i}: the harbour authority of Valletta in Malta said the new ferry "
                         f"terminal would open in spring, adding berths number {i} for island services.</p>"
                         for i in range(6))
    page = f"<html><head><title>Malta ferry terminal</title></head><body><article><h1>Malta ferry terminal" \
           f"</h1>{paragraphs}</article></body></html>"
    # Real headlines: the feed's title is the record's (the page title only fills in for a truncated one).
    items = [("Malta ferry terminal", "/news/ferry.html"), ("Harbour authority annual report", "/files/report.pdf"),
             ("Gozo ferry timetable to change in March", "/news/slow.html"),
             ("Ferry fares to rise by a fifth", "/news/gone.html"), ("Malta ferry terminal", "/news/moved.html"),
             ("In pictures: the new ferry terminal", "/news/empty.html")]
    feed = "<rss version='2.0'><channel><title>f</title>" + "".join(
        f"<item><title>{name}</title><link>{base}{path}</link></item>" for name, path in items) + "</channel></rss>"
    return {
        "/feed.xml": Route(body=feed.encode(), headers={"Content-Type": "application/rss+xml"}),
        "/news/ferry.html": html(page),
        "/files/report.pdf": Route(body=b"%PDF-1.4 fake", headers={"Content-Type": "application/pdf"}),
        "/news/slow.html": Route(body=page.encode(), headers={"Content-Type": "text/html"}, header_delay_s=3.0),
        "/news/gone.html": Route(status=410, body=b"gone", headers={"Content-Type": "text/html"}),
        "/news/moved.html": Route(status=301, location=f"{base}/news/ferry.html?utm_source=rss"),
        "/news/empty.html": html("<html><body><nav>Home</nav></body></html>"),
    }


def test_status_codes_redirects_slow_responses_and_content_types(tmp_path):
    with serve() as server:
        for path, route in fixture_routes(server.base_url).items():
            server.set(path, route)
        config = tmp_path / "feeds.yaml"
        config.write_text(f"feeds:\n  - {server.url('/feed.xml')}\n", encoding="utf-8")
        output = tmp_path / "out"
        assert main(["run", "--config", str(config), "--output", str(output), "--allow_private_network",
                     "127.0.0.1/32", "--host_delay_s", "0", "--total_timeout_s", "1.5", "--read_timeout_s", "1",
                     "--max_attempts", "1"]) == 0
    records = dataset_rows(output, "articles")
    assert [r["title"] for r in records] == ["Malta ferry terminal"]
    assert records[0]["countries"] == ["MT"]
    rejected = sorted((d["kind"], d["stage"], d["reason"], d["url"].rsplit("/", 1)[-1])
                      for d in dataset_rows(output, "deadletters"))
    assert rejected == [
        ("error", "fetch", "http_410", "gone.html"),
        ("error", "fetch", "timeout", "slow.html"),
        ("skip", "extract", "empty_extraction", "empty.html"),
        ("skip", "fetch", "unsupported_content_type", "report.pdf"),
    ]
    [duplicate] = dataset_rows(output, "duplicates")
    # the redirect lands on the same article: one record, one duplicate, whichever arrived first
    assert {records[0]["url"].rsplit("/", 1)[-1], duplicate["url"].rsplit("/", 1)[-1]} == {"ferry.html", "moved.html"}
    assert duplicate["duplicate_of"] == records[0]["id"]
    assert duplicate["method"] in ("canonical_url", "url", "body_hash")
