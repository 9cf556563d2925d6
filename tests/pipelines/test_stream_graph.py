"""The native streaming graph on the BundleBasedDirectRunner: TestStream ticks instead of PeriodicImpulse,
real HTTP on 127.0.0.1, output read back from the files. Plus the Dataflow dry run, offline."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import apache_beam as beam
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_stream import TestStream as EventStream
from apache_beam.transforms.window import TimestampedValue
from google.cloud import dataflow

from newsflow.pipelines.once import plan
from newsflow.pipelines.stream_graph import build_stream, start_native
from newsflow.transforms.feeds.poll_due_feeds import poll_if_due
from newsflow.transforms.feeds.state import FeedState
from newsflow.transforms.fetch.client import FetchResult
from newsflow.transforms.items import FeedSpec
from tests.fixture_server import FixtureServer, Request, Route, html, serve

pytestmark = pytest.mark.slow

NOW = datetime(2024, 7, 29, 12, 0, tzinfo=UTC)
PLACES = ("harbour", "council", "budget", "river", "festival", "school", "railway", "bridge", "museum", "clinic")


def story_html(n: int) -> str:
    word = PLACES[n % len(PLACES)]
    title = f"Story {n}: the {word} decision"
    paragraphs = "".join(
        f"<p>Paragraph {i} of story {n} explains why the {word} plan number {n * 100 + i} changed the way "
        f"people in district {n + i} travel, work and meet every single week of the year.</p>" for i in range(8))
    return f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1>{paragraphs}</article></body></html>"


def rss(server: FixtureServer, links: list[str]) -> bytes:
    items = "".join(f"<item><title>{link}</title><link>{server.url(link)}</link><guid>{server.url(link)}</guid></item>"
                    for link in links)
    return f'<rss version="2.0"><channel><title>t</title><link>{server.url("/")}</link>{items}</channel></rss>'.encode()


def feed_versions(*versions: tuple[bytes, str | None]) -> Callable[[Request], Route]:
    """The n-th request gets version n (the last repeats); a matching If-None-Match gets a 304."""
    lock, served = threading.Lock(), [0]

    def handler(request: Request) -> Route:
        with lock:
            body, etag = versions[min(served[0], len(versions) - 1)]
            served[0] += 1
        if etag is not None and request.headers.get("if-none-match") == etag:
            return Route(status=304, headers={"ETag": etag})
        headers = {"Content-Type": "application/rss+xml"} | ({"ETag": etag} if etag else {})
        return Route(body=body, headers=headers)

    return handler


def stream_plan(config: Path, output: Path, runner: str = "BundleBasedDirectRunner", *extra: str):
    return plan(["--config", str(config), "--output", str(output), "--runner", runner, "--streaming",
                 "--allow_private_network", "127.0.0.1/32", "--host_delay_s", "0", "--poll_interval_s", "60",
                 "--min_poll_interval_s", "60", "--window_s", "300", "--run_id", "s1", *extra])


def window_name(seconds: int) -> str:
    return datetime.fromtimestamp(seconds - seconds % 300, UTC).strftime("%Y%m%dT%H%M%SZ")


def by_window(root: Path, column: str) -> dict[str, list]:
    """Window start (from the file name) → sorted values of ``column`` in the files of that window."""
    found: dict[str, list] = defaultdict(list)
    if not root.exists():
        return {}
    for path in root.rglob("part-*.parquet"):
        window = path.stem.split("-")[1]
        found[window] += pq.read_table(path)[column].to_pylist()
    return {w: sorted(v, key=str) for w, v in found.items()}


def files_per_window(root: Path) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for path in root.rglob("part-*.parquet"):
        counts[path.stem.split("-")[1]] += 1
    return dict(counts)


def test_poll_if_due_skips_feeds_not_due_and_backs_off_after_a_crash():
    spec = FeedSpec("https://a.example/rss")
    later = FeedState(spec.url, next_poll_at=NOW + timedelta(seconds=1), interval_s=600)
    assert poll_if_due(spec, {spec.url: later}, NOW, None, base_s=60, min_s=60) is None

    def broken_fetch(*_args, **_kwargs) -> FetchResult:
        raise RuntimeError("boom")

    read = poll_if_due(spec, {}, NOW, broken_fetch, base_s=60, min_s=60)
    assert read is not None and read.entries == []
    assert [(r.kind, r.reason, r.error_class, r.message) for r in read.rejected] == [
        ("error", "unexpected_error", "RuntimeError", "boom")]
    (state,) = read.states
    # one error: the base interval doubled, counted from the tick
    assert (state.last_status, state.consecutive_errors, state.interval_s, state.next_poll_at) == (
        "unexpected_error", 1, 120.0, NOW + timedelta(seconds=120))


def test_native_graph_windows_feed_state_and_dedup_across_windows_and_days(tmp_path):
    with serve({}) as server:
        for n in (1, 2, 5):
            server.set(f"/a/{n}.html", html(story_html(n)))
        server.set("/b/1.html", html(story_html(11)))
        server.set("/b/2.html", html(story_html(1)))    # a copy of /a/1.html on another site
        server.set("/a/4.html", html(story_html(11)))   # a copy of /b/1.html, a day later
        server.set("/a.xml", Route(handler=feed_versions((rss(server, ["/a/1.html"]), '"a-v1"'),
                                                         (rss(server, ["/a/1.html"]), '"a-v1"'),
                                                         (rss(server, ["/a/1.html", "/a/4.html", "/a/5.html"]),
                                                          '"a-v2"'))))
        server.set("/b.xml", Route(handler=feed_versions((rss(server, ["/b/1.html"]), None),
                                                         (rss(server, ["/b/1.html", "/b/2.html"]), None))))
        config = tmp_path / "feeds.yaml"
        config.write_text(f"feeds:\n  - url: {server.url('/a.xml')}\n  - url: {server.url('/b.xml')}\n")
        output = tmp_path / "out"
        run = stream_plan(config, output)
        t0 = int(datetime.now(UTC).timestamp()) // 300 * 300
        day = t0 + 86_400
        ticks = (EventStream()
                 .advance_watermark_to(t0)
                 .add_elements([TimestampedValue(0, t0 + 10)])    # both feeds polled
                 .add_elements([TimestampedValue(1, t0 + 20)])    # neither is due (interval 60 s)
                 .advance_watermark_to(t0 + 300)
                 .add_elements([TimestampedValue(2, t0 + 310)])   # a: 304; b: lists a copy of a1
                 .advance_watermark_to(t0 + 600)
                 .add_elements([TimestampedValue(3, day + 10)])   # a day later: a lists a1 again, a copy of b1
                 .advance_watermark_to_infinity())
        pipeline = beam.Pipeline(options=run.options)
        build_stream(pipeline, run, ticks=pipeline | ticks)
        result = pipeline.run()
        result.wait_until_finish()

        feed_requests = {path: [r.headers.get("if-none-match") for r in server.requests_for(path)]
                         for path in ("/a.xml", "/b.xml")}
        page_requests = sorted(r.path for r in server.requests if r.path.startswith(("/a/", "/b/")))

    w0, w1, wday = window_name(t0), window_name(t0 + 300), window_name(day)
    url = server.url
    # 4 ticks, 3 polls per feed: the tick at t0+20 polled nothing; validators were sent after the first
    assert feed_requests == {"/a.xml": [None, '"a-v1"', '"a-v1"'], "/b.xml": [None, None, None]}
    assert page_requests == ["/a/1.html", "/a/1.html", "/a/4.html", "/a/5.html",
                             "/b/1.html", "/b/1.html", "/b/2.html"]
    articles = by_window(output / "articles" / "v1", "url")
    duplicates = by_window(output / "duplicates" / "v1", "url")
    assert articles == {w0: [url("/a/1.html"), url("/b/1.html")], wday: [url("/a/5.html")]}
    # a copy in a later window, and a re-listing and a copy a day later: duplicates, not articles
    assert duplicates == {w1: [url("/b/1.html"), url("/b/2.html")], wday: [url("/a/1.html"), url("/a/4.html")]}
    ids = {row["url"]: row["id"] for row in pq.read_table(next((output / "articles").rglob(f"part-{w0}-*"))).to_pylist()}
    dup_of = {row["url"]: row["duplicate_of"] for path in (output / "duplicates").rglob("part-*.parquet")
              for row in pq.read_table(path).to_pylist()}
    assert dup_of == {url("/b/1.html"): ids[url("/b/1.html")], url("/b/2.html"): ids[url("/a/1.html")],
                      url("/a/1.html"): ids[url("/a/1.html")], url("/a/4.html"): ids[url("/b/1.html")]}
    # one file per partition per window: articles of w0 share one partition, as do the duplicates
    assert files_per_window(output / "articles" / "v1") == {w0: 1, wday: 1}
    assert files_per_window(output / "duplicates" / "v1") == {w1: 1, wday: 1}

    states = output / "_state" / "feeds" / "v1"
    status = {w: sorted(zip((r["feed_url"] for r in rows), (r["last_status"] for r in rows), strict=True))
              for w, rows in by_window_rows(states).items()}
    assert status == {w0: [(url("/a.xml"), "ok"), (url("/b.xml"), "ok")],
                      w1: [(url("/a.xml"), "not_modified"), (url("/b.xml"), "ok")],
                      wday: [(url("/a.xml"), "ok"), (url("/b.xml"), "unchanged")]}
    first = {r["feed_url"]: r for r in by_window_rows(states)[w0]}
    assert first[url("/a.xml")]["etag"] == '"a-v1"'
    assert first[url("/a.xml")]["next_poll_at"] == datetime.fromtimestamp(t0 + 70, UTC)
    assert sorted(p.name for p in (output / "_state" / "dedup" / "v1").glob("*.parquet")) == [
        f"part-{w}-s1.parquet" for w in sorted((w0, w1, wday))]


def run_ticks(run, ticks: EventStream) -> None:
    pipeline = beam.Pipeline(options=run.options)
    build_stream(pipeline, run, ticks=pipeline | ticks)
    pipeline.run().wait_until_finish()


def test_a_restarted_job_resumes_from_the_persisted_feed_state_and_history(tmp_path):
    with serve({}) as server:
        for n in (1, 2):
            server.set(f"/a/{n}.html", html(story_html(n)))
        server.set("/a.xml", Route(handler=feed_versions((rss(server, ["/a/1.html"]), '"a-v1"'),
                                                         (rss(server, ["/a/1.html", "/a/2.html"]), '"a-v2"'))))
        config = tmp_path / "feeds.yaml"
        config.write_text(f"feeds:\n  - url: {server.url('/a.xml')}\n")
        output = tmp_path / "out"
        t0 = int(datetime.now(UTC).timestamp()) // 300 * 300
        first = EventStream().advance_watermark_to(t0).add_elements([TimestampedValue(0, t0 + 10)])
        run_ticks(stream_plan(config, output), first.advance_watermark_to_infinity())
        second = EventStream().advance_watermark_to(t0 + 300).add_elements([TimestampedValue(0, t0 + 400)])
        run_ticks(stream_plan(config, output, "BundleBasedDirectRunner", "--run_id", "s2"),
                  second.advance_watermark_to_infinity())
        validators = [r.headers.get("if-none-match") for r in server.requests_for("/a.xml")]

    w0, w1 = window_name(t0), window_name(t0 + 300)
    assert validators == [None, '"a-v1"']  # the new job sent the ETag the first one stored
    files = sorted(str(p.relative_to(output)).split("/", 1)[0] + "/" + p.name
                   for p in output.rglob("part-*.parquet") if "_state" not in p.parts)
    assert files == [f"articles/part-{w0}-s1.parquet", f"articles/part-{w1}-s2.parquet",
                     f"duplicates/part-{w1}-s2.parquet"]
    assert by_window(output / "articles" / "v1", "url") == {w0: [server.url("/a/1.html")],
                                                           w1: [server.url("/a/2.html")]}
    # the re-listed entry matched the first job's dedup history: a duplicate, not a second article
    assert by_window(output / "duplicates" / "v1", "url") == {w1: [server.url("/a/1.html")]}


def by_window_rows(root: Path) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = defaultdict(list)
    for path in root.rglob("part-*.parquet"):
        found[path.stem.split("-")[1]] += pq.read_table(path).to_pylist()
    return dict(found)


def test_dataflow_dry_run_builds_the_streaming_job_offline(tmp_path, monkeypatch):
    gcs_emulator = pytest.importorskip("tests.gcs_emulator")
    config = tmp_path / "feeds.yaml"
    config.write_text("feeds:\n  - url: https://news.example.org/rss.xml\n")
    with gcs_emulator.emulated_gcs(tmp_path / "gcs", monkeypatch) as gcs:
        bucket = gcs_emulator.BUCKET
        run = plan(["--config", str(config), "--output", f"gs://{bucket}/out", "--mode", "stream",
                    "--runner=DataflowRunner", "--project=newsflow-test-project", "--region=us-central1",
                    f"--temp_location=gs://{bucket}/tmp", "--dry_run=True", "--streaming", "--run_id", "s1"])
        result = start_native(run)
        assert gcs.object_names(bucket) == []   # nothing staged, nothing written
    assert result.job.proto.type_ == dataflow.JobType.JOB_TYPE_STREAMING
    names = {t.unique_name for t in result.job.proto_pipeline.components.transforms.values()}
    assert {"Ticks", "PollDueFeeds", "Ingest", "Ingest/FetchPages", "Ingest/ExtractArticles",
            "Ingest/RemoveRepeatedText", "Ingest/DropDuplicates", "Ingest/TagArticles", "WriteWindows"} <= names
