"""The report's aggregates, each checked against figures recomputed from the Parquet files with pyarrow."""

from __future__ import annotations

import json
import statistics
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.dataset as pads
import pytest

from newsflow.pipelines import report_data as rd
from newsflow.schemas.records import ARTICLES, DEADLETTERS, DUPLICATES
from tests.report_fixtures import RUN3_AT, demo_pipeline_output, write_sample_output


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sample_output(tmp_path_factory.mktemp("sample"))


@pytest.fixture(scope="module", params=["sample", "demo"])
def output(request: pytest.FixtureRequest, sample: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Each figure is checked on the hand-made sample and on two real once runs over the demo site."""
    return sample if request.param == "sample" else demo_pipeline_output(tmp_path_factory)


@pytest.fixture(scope="module")
def con(output: Path):
    connection = rd.open_output(str(output))
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def sample_con(sample: Path):
    connection = rd.open_output(str(sample))
    yield connection
    connection.close()


def read(output: Path, relative: str) -> list[dict[str, Any]]:
    folder = output / relative
    if not folder.is_dir():
        return []
    return pads.dataset(folder, format="parquet", partitioning="hive").to_table().to_pylist()


@pytest.fixture(scope="module")
def stored(output: Path) -> dict[str, list[dict[str, Any]]]:
    return {"articles": read(output, ARTICLES.path), "duplicates": read(output, DUPLICATES.path),
            "deadletters": read(output, DEADLETTERS.path), "feed_states": read(output, rd.FEED_STATE_DIR)}


def day(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d}"


def topic_label(article: dict[str, Any]) -> str:
    labels = [t["label"] for t in article["topics"] if t["code"] == article["primary_topic"]]
    return labels[0] if labels else (article["primary_topic"] or rd.UNTAGGED_TOPIC_LABEL)


def committed_runs(output: Path) -> dict[str, datetime]:
    runs = {}
    for manifest in (output / "_manifests").glob("*/manifest.json"):
        if (manifest.parent / "_SUCCESS").exists():
            content = json.loads(manifest.read_text())
            runs[content["run_id"]] = datetime.fromisoformat(content["committed_at"])
    return runs


def newest_states(stored: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    newest: dict[str, dict[str, Any]] = {}
    for state in sorted(stored["feed_states"], key=lambda s: s["polled_at"]):
        newest[state["feed_url"]] = state
    return newest


def test_summary_of_the_sample_output(sample_con):
    assert rd.summary(sample_con) == {
        "articles": 5, "duplicates": 3, "skips": 3, "dead_letters": 1, "feeds": 3, "failing_feeds": 1,
        "sites": 3, "runs": 3, "last_run_at": RUN3_AT, "first_day": "2024-07-29", "last_day": "2024-07-30",
        "duplicate_rate": 3 / 8,
    }


def test_summary_of_two_demo_runs(tmp_path_factory):
    """What the demo site's README promises: 8 articles, 1 duplicate, a 404 and a feed without entries
    (still broken, so dead-lettered again, on the second run)."""
    con = rd.open_output(str(demo_pipeline_output(tmp_path_factory)))
    figures = rd.summary(con)
    assert {k: figures[k] for k in ("articles", "duplicates", "skips", "dead_letters", "feeds", "sites", "runs")} \
        == {"articles": 8, "duplicates": 1, "skips": 0, "dead_letters": 3, "feeds": 5, "sites": 3, "runs": 2}
    assert [(r["kind"], r["stage"], r["reason"], r["items"]) for r in rd.rejections_by_reason(con)] == [
        ("error", "feeds", "feed_without_entries", 2), ("error", "fetch", "http_404", 1)]
    [cluster] = rd.duplicate_clusters(con)
    assert cluster["title"].startswith("Bank of Japan raises interest rates")
    assert {cluster["canonical_site"], *cluster["sites"]} == {"seoul-herald.example", "pacific-wire.example"}
    assert len(rd.feed_health(con)) == 5


def test_summary_matches_the_files(con, stored, output):
    articles, duplicates, deadletters = stored["articles"], stored["duplicates"], stored["deadletters"]
    kinds = Counter(r["kind"] for r in deadletters)
    newest = newest_states(stored)
    runs = committed_runs(output)
    days = [day(r["ingested_at"]) for r in articles + duplicates] + [day(r["at"]) for r in deadletters]
    expected = {
        "articles": len(articles), "duplicates": len(duplicates), "skips": kinds["skip"],
        "dead_letters": kinds["error"],
        "feeds": len({r["feed_url"] for r in articles + duplicates} | set(newest)),
        "failing_feeds": sum(1 for s in newest.values() if (s["consecutive_errors"] or 0) > 0),
        "sites": len({r["site"] for r in articles}),
        "runs": len({r["run_id"] for r in articles + duplicates + deadletters} | set(runs)),
        "last_run_at": max(runs.values()),
        "first_day": min(days), "last_day": max(days),
        "duplicate_rate": len(duplicates) / (len(articles) + len(duplicates)),
    }
    assert rd.summary(con) == expected


@pytest.mark.parametrize("by", ["topic", "region"])
def test_records_per_day(con, stored, by):
    def key(article: dict[str, Any]) -> str:
        return topic_label(article) if by == "topic" else (article["primary_region"] or rd.NO_REGION)

    expected = Counter((day(a["ingested_at"]), key(a)) for a in stored["articles"])
    rows = rd.records_per_day(con, by)
    assert {(r["day"], r[by]): r["records"] for r in rows} == dict(expected)
    assert len(rows) == len(expected)
    assert [r["day"] for r in rows] == sorted(r["day"] for r in rows)


def test_records_per_day_is_by_ingestion_day_with_labels(sample_con):
    assert rd.records_per_day(sample_con, "topic") == [
        {"day": "2024-07-29", "topic": "politics and government", "records": 2},
        {"day": "2024-07-29", "topic": "economy, business and finance", "records": 1},
        {"day": "2024-07-30", "topic": "(no topic)", "records": 1},
        {"day": "2024-07-30", "topic": "economy, business and finance", "records": 1},
    ]
    with pytest.raises(ValueError, match="by must be one of"):
        rd.records_per_day(sample_con, "site")


def test_records_per_publication_day(con, stored):
    expected = Counter(day(a["published_at"]) for a in stored["articles"] if a["published_at"])
    assert rd.records_per_publication_day(con) == [
        {"published_day": d, "records": n} for d, n in sorted(expected.items())]


def test_m49_breakdown_counts_primary_and_tagged_subregions(con, stored):
    mapping = rd.subregion_regions()
    assert mapping["Eastern Asia"] == "Asia" and mapping["Western Europe"] == "Europe"
    primary = Counter(a["primary_region"] or rd.NO_REGION for a in stored["articles"])
    tagged = Counter(s for a in stored["articles"] for s in set(a["subregions"]))
    rows = rd.m49_breakdown(con, mapping)
    assert {r["subregion"]: (r["primary_records"], r["tagged_records"]) for r in rows} == {
        s: (primary[s], tagged[s]) for s in set(primary) | set(tagged)}
    assert all(r["region"] == (mapping.get(r["subregion"]) or rd.NO_REGION) for r in rows)


def test_m49_rows_are_grouped_biggest_region_first(sample_con):
    assert [r["subregion"] for r in rd.m49_breakdown(sample_con, rd.subregion_regions())] == [
        "Eastern Asia", "Western Europe", "Australia and New Zealand", "Northern America", "(no region)"]


def test_top_sources_count_every_outcome_per_site(con, stored):
    counts: dict[str, Counter[str]] = {}
    for a in stored["articles"]:
        counts.setdefault(a["site"], Counter())["articles"] += 1
    for d in stored["duplicates"]:
        counts.setdefault(d["site"], Counter())["duplicates"] += 1
    for r in stored["deadletters"]:
        counts.setdefault(r["host"], Counter())["skips" if r["kind"] == "skip" else "dead_letters"] += 1
    rows = rd.top_sources(con)
    assert {r["site"]: {k: r[k] for k in ("articles", "duplicates", "skips", "dead_letters")} for r in rows} == {
        site: {k: c[k] for k in ("articles", "duplicates", "skips", "dead_letters")} for site, c in counts.items()}
    stories = [r["articles"] + r["duplicates"] for r in rows]
    assert stories == sorted(stories, reverse=True)
    assert len(rd.top_sources(con, limit=2)) == 2


def test_duplicate_clusters_join_the_canonical_record(con, stored):
    canonical = {a["id"]: a for a in stored["articles"]}
    copies: dict[str, list[dict[str, Any]]] = {}
    for d in stored["duplicates"]:
        copies.setdefault(d["duplicate_of"], []).append(d)
    expected: list[dict[str, Any]] = [
        {"canonical_id": of, "title": canonical[of]["title"] if of in canonical else None,
         "canonical_site": canonical[of]["site"] if of in canonical else None, "copies": len(ds),
         "sites": sorted({d["site"] for d in ds}), "methods": sorted({d["method"] for d in ds})}
        for of, ds in copies.items()]
    expected.sort(key=lambda c: (-len(copies[c["canonical_id"]]), c["canonical_id"]))
    assert rd.duplicate_clusters(con) == expected
    assert {r["method"]: r["duplicates"] for r in rd.duplicates_by_method(con)} == dict(
        Counter(d["method"] for d in stored["duplicates"]))


def test_largest_sample_cluster(sample_con):
    assert rd.duplicate_clusters(sample_con)[0] == {
        "canonical_id": "a001", "title": "Story 1 from seoul.example", "canonical_site": "seoul.example",
        "copies": 2, "sites": ["green.example", "pacific.example"], "methods": ["body_hash", "sentence_containment"]}


def test_rejections_by_reason_and_host(con, stored):
    by_reason = Counter((r["kind"], r["stage"], r["reason"]) for r in stored["deadletters"])
    assert {(r["kind"], r["stage"], r["reason"]): r["items"] for r in rd.rejections_by_reason(con)} == dict(by_reason)
    by_host: dict[str, Counter[str]] = {}
    for r in stored["deadletters"]:
        by_host.setdefault(r["host"], Counter())[r["kind"]] += 1
    assert {r["host"]: (r["skips"], r["dead_letters"]) for r in rd.rejections_by_host(con)} == {
        h: (c["skip"], c["error"]) for h, c in by_host.items()}


def test_feed_health_is_the_newest_state_of_each_feed(con, stored):
    newest = newest_states(stored)
    columns = ("last_status", "last_success_at", "consecutive_errors", "polled_at", "interval_s", "next_poll_at")
    rows = rd.feed_health(con)
    assert {r["feed_url"]: tuple(r[c] for c in columns) for r in rows} == {
        url: tuple(state.get(c) for c in columns) for url, state in newest.items()}
    errors = [r["consecutive_errors"] or 0 for r in rows]
    assert errors == sorted(errors, reverse=True)


def test_feed_health_reads_missing_columns_as_null(sample_con):
    rows = rd.feed_health(sample_con)
    assert [(r["feed_url"], r["last_status"], r["consecutive_errors"], r["ttl_s"], r["interval_s"])
            for r in rows] == [("https://pacific.example/rss.xml", "http_500", 3, None, None),
                               ("https://seoul.example/rss.xml", "not_modified", 0, 900, None)]
    assert rows[1]["last_success_at"] == datetime(2024, 7, 30, 9, 0, tzinfo=UTC)
    assert rows[1]["feed_name"] == "Seoul"


def test_freshness_histogram(con, stored):
    lags = [(a["ingested_at"] - a["published_at"]).total_seconds() / 3600
            for a in stored["articles"] if a["published_at"]]
    result = rd.freshness(con)
    expected = [sum(1 for lag in lags if lower <= lag < upper) for _, lower, upper in rd.FRESHNESS_BINS_H]
    assert [b["records"] for b in result["bins"]] == expected
    assert [b["bin"] for b in result["bins"]] == [label for label, _, _ in rd.FRESHNESS_BINS_H]
    assert result["median_h"] == pytest.approx(statistics.median(lags))
    assert result["undated"] == sum(1 for a in stored["articles"] if a["published_at"] is None)


def test_sample_freshness_bins(sample_con):
    assert [b["records"] for b in rd.freshness(sample_con)["bins"]] == [1, 1, 0, 0, 0, 1, 0, 1, 0, 0]


def test_body_lengths_and_partial_share(con, stored):
    articles = stored["articles"]
    rows = rd.body_lengths(con)
    for extraction in ("full", "partial"):
        lengths = [len(a["body"]) for a in articles if a["partial"] == (extraction == "partial")]
        assert [r["records"] for r in rows if r["extraction"] == extraction] == [
            sum(1 for n in lengths if lower <= n < upper) for _, lower, upper in rd.BODY_BINS]
    per_site = Counter((a["site"], a["partial"]) for a in articles)
    assert {r["site"]: (r["full"], r["partial"]) for r in rd.extraction_by_site(con)} == {
        a["site"]: (per_site[a["site"], False], per_site[a["site"], True]) for a in articles}
    partial = sum(1 for a in articles if a["partial"])
    assert rd.extraction_summary(con) == {
        "records": len(articles), "partial": partial, "partial_share": partial / len(articles),
        "median_body_chars": statistics.median(len(a["body"]) for a in articles)}


def test_an_empty_output_gives_empty_figures(tmp_path):
    con = rd.open_output(str(tmp_path))
    assert rd.summary(con) == {
        "articles": 0, "duplicates": 0, "skips": 0, "dead_letters": 0, "feeds": 0, "failing_feeds": 0,
        "sites": 0, "runs": 0, "last_run_at": None, "first_day": None, "last_day": None, "duplicate_rate": None}
    data = rd.collect(con)
    assert (data.per_day_topic, data.m49, data.sources, data.clusters, data.feeds, data.extraction_sites) == (
        [], [], [], [], [], [])
    assert [b["records"] for b in data.freshness["bins"]] == [0] * len(rd.FRESHNESS_BINS_H)
    assert len(data.body_lengths) == 2 * len(rd.BODY_BINS)
    assert data.extraction == {"records": 0, "partial": 0, "partial_share": None, "median_body_chars": None}


def test_only_articles_present(tmp_path, sample):
    (tmp_path / "articles").symlink_to(sample / "articles", target_is_directory=True)
    con = rd.open_output(str(tmp_path))
    figures = rd.summary(con)
    assert (figures["articles"], figures["duplicates"], figures["skips"], figures["duplicate_rate"]) == (5, 0, 0, 0.0)
    assert rd.duplicate_clusters(con) == [] and rd.feed_health(con) == []


def test_a_gs_root_is_copied_through_beam_filesystems(sample, tmp_path, monkeypatch):
    from apache_beam.io.filesystems import FileSystems

    from newsflow.pipelines.report import write_report
    from tests.gcs_emulator import BUCKET, emulated_gcs

    with emulated_gcs(tmp_path / "gcs", monkeypatch) as gcs:
        root = f"gs://{BUCKET}/out"
        for path in sorted(p for p in sample.rglob("*") if p.is_file()):
            with FileSystems.create(f"{root}/{path.relative_to(sample).as_posix()}") as handle:
                handle.write(path.read_bytes())
        con = rd.open_output(root, str(tmp_path / "copy"))
        local = rd.open_output(str(sample))
        assert rd.summary(con) == rd.summary(local)
        assert rd.feed_health(con) == rd.feed_health(local)
        assert rd.summary(rd.open_output(f"gs://{BUCKET}/nothing-here", str(tmp_path / "none")))["articles"] == 0
        assert write_report(root) == f"{root}/report.html"
        page = gcs.read(BUCKET, "out/report.html").decode("utf-8")
        assert page.startswith("<!DOCTYPE html>") and f"<code>{root}</code>" in page


def test_runs_with_different_partition_keys_are_read_together(tmp_path, sample):
    import shutil

    shutil.copytree(sample / "articles", tmp_path / "articles")
    flat = tmp_path / "articles" / "v1" / "dt=2024-08-01"
    flat.mkdir()
    shutil.copy(next((sample / "articles").rglob("*.parquet")), flat / "part-run3.parquet")
    con = rd.open_output(str(tmp_path))
    days = Counter(r["day"] for r in rd.records_per_day(con, "topic") for _ in range(r["records"]))
    copied = len(pads.dataset(flat, format="parquet").to_table())
    assert days == {"2024-07-29": 3, "2024-07-30": 2, "2024-08-01": copied}
