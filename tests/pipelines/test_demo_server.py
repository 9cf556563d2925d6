"""The demo replay server over real HTTP, and the bundled demo site the end-to-end tests rely on."""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import feedparser
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from newsflow.pipelines.config import load_config
from newsflow.pipelines.demo import demo_argv, query_commands, run_demo
from newsflow.pipelines.demo_server import (
    DEFAULT_LAST_MODIFIED,
    DemoServer,
    bundled_site,
    capture_path,
    load_routes,
    original_url,
)

SITE = bundled_site()
SH = "https://seoul-herald.example"
PW = "https://pacific-wire.example"
GG = "https://greenfield-gazette.example"
EXAMPLE_URL = f"{SH}/2024/07/29/trilateral.html"
FEEDS = [f"{SH}/rss.xml", f"{PW}/feeds/all.atom", f"{GG}/feed.rss",
         f"{GG}/broken-recoverable.xml", f"{GG}/broken.xml"]


@pytest.fixture(scope="module")
def server() -> Iterator[DemoServer]:
    with DemoServer() as running:
        yield running


def get(server: DemoServer, target: str, method: str = "GET",
        headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """One raw request (no redirect following, target sent exactly as given)."""
    conn = http.client.HTTPConnection(server.host, server.port, timeout=5)
    try:
        conn.request(method, target, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def replay(server: DemoServer, url: str, method: str = "GET",
           headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    return get(server, "/replay/" + url, method, headers)


def capture(url: str) -> bytes:
    path = capture_path(SITE / "sites", url)
    assert path is not None
    return path.read_bytes()


def test_replay_serves_the_capture_bytes_and_headers(server: DemoServer) -> None:
    status, headers, body = replay(server, EXAMPLE_URL)
    expected = (SITE / "sites" / "seoul-herald.example" / "2024/07/29/trilateral.html").read_bytes()
    assert status == 200
    assert body == expected
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["ETag"] == '"' + hashlib.sha256(expected).hexdigest() + '"'
    assert headers["Last-Modified"] == "Mon, 29 Jul 2024 06:30:00 GMT"
    assert headers["Content-Length"] == str(len(expected))
    assert server.replay_prefix == f"http://127.0.0.1:{server.port}/replay/"
    assert server.port > 0


@pytest.mark.parametrize(("url", "content_type"), [
    (f"{SH}/rss.xml", "application/rss+xml"),
    (f"{PW}/feeds/all.atom", "application/atom+xml"),
    (f"{GG}/feed.rss", "text/xml; charset=utf-8"),  # routes.json overrides the extension's type
    (f"{GG}/broken.xml", "application/rss+xml"),
    (f"{PW}/robots.txt", "text/plain; charset=utf-8"),
])
def test_content_type_by_extension_or_route(server: DemoServer, url: str, content_type: str) -> None:
    status, headers, _ = replay(server, url)
    assert (status, headers["Content-Type"]) == (200, content_type)


def test_a_path_ending_in_slash_serves_index_html(server: DemoServer) -> None:
    status, _, body = replay(server, f"{PW}/")
    assert (status, body) == (200, (SITE / "sites" / "pacific-wire.example" / "index.html").read_bytes())


def test_query_string_is_ignored_without_a_route(server: DemoServer) -> None:
    clean = f"{GG}/culture/2024/07/27/sables-dor-festival.html"
    status, _, body = replay(server, clean + "?utm_source=rss&utm_medium=feed&utm_campaign=culture")
    assert (status, body) == (200, capture(clean))


def test_pywb_timestamp_form_and_collapsed_scheme_slashes(server: DemoServer) -> None:
    assert replay(server, "20240729000000id_/" + EXAMPLE_URL)[2] == capture(EXAMPLE_URL)
    assert get(server, "/replay/https:/seoul-herald.example/2024/07/29/trilateral.html")[2] == capture(EXAMPLE_URL)


def test_route_404_and_missing_captures(server: DemoServer) -> None:
    assert replay(server, f"{SH}/2024/07/30/defence-white-paper.html")[0] == 404
    assert replay(server, f"{SH}/2024/07/30/never-captured.html")[0] == 404
    assert replay(server, "https://unknown-host.example/")[0] == 404


def test_redirect_location_is_an_original_url_behind_the_replay_prefix(server: DemoServer) -> None:
    status, headers, _ = replay(server, f"{PW}/story/4471")
    target = f"{PW}/science/2024/07/30/samudra-1-launch.html"
    assert status == 301
    assert headers["Location"] == server.replay_prefix + target
    followed = get(server, urlsplit(headers["Location"]).path)
    assert (followed[0], followed[2]) == (200, capture(target))


def test_conditional_get_answers_304(server: DemoServer) -> None:
    _, headers, _ = replay(server, f"{SH}/rss.xml")
    etag, last_modified = headers["ETag"], headers["Last-Modified"]
    assert last_modified == "Wed, 31 Jul 2024 07:15:00 GMT"

    status, headers_304, body = replay(server, f"{SH}/rss.xml", headers={"If-None-Match": etag})
    assert (status, body, headers_304["ETag"]) == (304, b"", etag)
    assert replay(server, f"{SH}/rss.xml", headers={"If-None-Match": f'"other", W/{etag}'})[0] == 304
    assert replay(server, f"{SH}/rss.xml", headers={"If-Modified-Since": last_modified})[0] == 304
    assert replay(server, f"{SH}/rss.xml",
                  headers={"If-Modified-Since": "Tue, 30 Jul 2024 00:00:00 GMT"})[0] == 200
    # If-None-Match decides when both are sent (RFC 9110 13.2.2).
    assert replay(server, f"{SH}/rss.xml",
                  headers={"If-None-Match": '"stale"', "If-Modified-Since": last_modified})[0] == 200
    assert replay(server, f"{SH}/rss.xml", headers={"If-Modified-Since": "not a date"})[0] == 200
    assert replay(server, f"{PW}/")[1]["Last-Modified"] == DEFAULT_LAST_MODIFIED
    tracked = f"{GG}/culture/2024/07/27/sables-dor-festival.html?utm_source=rss"
    assert replay(server, tracked)[1]["Last-Modified"] == "Sat, 27 Jul 2024 10:00:00 GMT"


def test_head_sends_headers_without_body(server: DemoServer) -> None:
    status, headers, body = replay(server, EXAMPLE_URL, method="HEAD")
    assert (status, body) == (200, b"")
    assert headers["Content-Length"] == str(len(capture(EXAMPLE_URL)))


@pytest.mark.parametrize("target", [
    "/replay/https://seoul-herald.example/../../routes.json",
    "/replay/https://seoul-herald.example/%2e%2e/pacific-wire.example/index.html",
    "/replay/https://seoul-herald.example/..%2f..%2froutes.json",
    "/replay/https://../routes.json",
])
def test_path_traversal_is_blocked(server: DemoServer, target: str) -> None:
    status, _, body = get(server, target)
    assert status in (400, 403)
    assert b"<html" not in body and b"status" not in body


def test_non_replay_targets_are_bad_requests(server: DemoServer) -> None:
    assert get(server, "/seoul-herald.example/rss.xml")[0] == 400
    assert get(server, "/replay/file:///etc/passwd")[0] == 400


def test_requests_are_logged_with_their_original_url() -> None:
    with DemoServer() as fresh:
        replay(fresh, EXAMPLE_URL)
        replay(fresh, f"{SH}/2024/07/30/defence-white-paper.html")
        logged = [(r.method, r.url, r.status) for r in fresh.requests]
    assert logged == [("GET", EXAMPLE_URL, 200), ("GET", f"{SH}/2024/07/30/defence-white-paper.html", 404)]


def test_stopped_server_refuses_connections() -> None:
    running = DemoServer().start()
    port = running.port
    running.stop()
    with pytest.raises(OSError):
        http.client.HTTPConnection("127.0.0.1", port, timeout=2).request("GET", "/")


def test_original_url_and_capture_path_pure_functions(tmp_path: Path) -> None:
    assert original_url("/replay/https://a.example/x?y=1") == "https://a.example/x?y=1"
    assert original_url("/replay/HTTPS:/a.example/") == "https://a.example/"
    assert original_url("/other/https://a.example/") is None
    root = tmp_path / "sites"
    assert capture_path(root, "https://a.example/") == (root / "a.example" / "index.html").resolve()
    assert capture_path(root, "https://a.example/x.html", file="y.html") == (root / "a.example/y.html").resolve()
    assert capture_path(root, "https://a.example/../b.example/x.html") is None
    assert capture_path(root, "https://a.example/x", file="../../etc/passwd") is None


def test_bad_routes_fail_at_start(tmp_path: Path) -> None:
    (tmp_path / "sites").mkdir()
    (tmp_path / "routes.json").write_text(json.dumps({"https://a.example/": {"status": 301}}))
    with pytest.raises(ValueError, match="needs a location"):
        DemoServer(tmp_path)
    (tmp_path / "routes.json").write_text(json.dumps({"https://a.example/": {"stauts": 404}}))
    with pytest.raises(ValueError, match="must be an object with keys"):
        load_routes(tmp_path)
    with pytest.raises(ValueError, match="no 'sites' folder"):
        DemoServer(tmp_path / "missing")


# ------------------------------------------------------------------ the demo site's content


def test_feeds_yaml_and_opml_list_the_same_feeds() -> None:
    yaml_specs = load_config(str(SITE / "feeds.yaml"))
    opml_specs = load_config(str(SITE / "feeds.opml"))
    assert [s.url for s in yaml_specs] == FEEDS
    assert [s.url for s in opml_specs] == FEEDS
    assert [s.region_hint for s in yaml_specs] == ["KR", None, None, None, None]
    assert [s.name for s in yaml_specs] == [s.name for s in opml_specs]


@pytest.mark.parametrize(("feed", "bozo", "links"), [
    (f"{SH}/rss.xml", False, [f"{SH}/2024/07/31/boj-rate-rise.html",
                              f"{SH}/2024/07/30/defence-white-paper.html", EXAMPLE_URL]),
    (f"{PW}/feeds/all.atom", False, [f"{PW}/partners/2024/07/31/bank-of-japan-rate-rise.html",
                                     f"{PW}/health/2024/07/30/nigeria-measles-who.html",
                                     f"{PW}/story/4471",
                                     f"{PW}/sport/2024/07/28/copa-mediterranea-final.html"]),
    (f"{GG}/feed.rss", False, [f"{GG}/culture/2024/07/27/sables-dor-festival.html"
                               "?utm_source=rss&utm_medium=feed&utm_campaign=culture",
                               f"{GG}/news/2024/07/26/germany-floods.html"]),
    (f"{GG}/broken-recoverable.xml", True, [f"{GG}/business/2024/07/25/brazil-coffee-export-deal.html"]),
    (f"{GG}/broken.xml", True, []),
])
def test_feeds_parse_to_the_expected_entries(server: DemoServer, feed: str, bozo: bool,
                                             links: list[str]) -> None:
    status, _, body = replay(server, feed)
    parsed = feedparser.parse(body)
    assert status == 200
    assert bool(parsed.bozo) is bozo
    assert [e.link for e in parsed.entries] == links
    assert all(e.get("published_parsed") for e in parsed.entries)


def test_every_listed_page_is_captured_except_the_404_and_the_redirect(server: DemoServer) -> None:
    outcomes = {}
    for feed in FEEDS:
        for entry in feedparser.parse(replay(server, feed)[2]).entries:
            outcomes[entry.link] = replay(server, entry.link)[0]
    assert sorted(outcomes.values()).count(200) == 8
    assert {u: s for u, s in outcomes.items() if s != 200} == {
        f"{SH}/2024/07/30/defence-white-paper.html": 404, f"{PW}/story/4471": 301}


def paragraphs(html: str, container: str) -> list[str]:
    """The <p> texts inside every <div class="CONTAINER"> of a page, in order."""
    blocks = re.findall(rf'<div class="{container}">(.*?)</div>', html, flags=re.DOTALL)
    return [p for block in blocks for p in re.findall(r"<p>(.*?)</p>", block)]


def test_example_page_wraps_the_body_twice_in_boilerplate() -> None:
    html = capture(EXAMPLE_URL).decode("utf-8")
    body = paragraphs(html, "tt_article_useless_p_margin contents_style")
    half = len(body) // 2
    assert len(body) == 20 and body[:half] == body[half:]
    words = sum(len(p.split()) for p in body[:half])
    assert 250 <= words <= 600
    order = [html.index(s) for s in ("Loading", "Search", "Category:Other", body[0], "Comment (0)",
                                     "Trackback(0)")]
    assert order == sorted(order)
    assert html.index("Trackback(0)") < html.rindex(body[0]) < html.index('id="footer"')
    assert '<meta property="article:published_time" content="2024-07-29T15:30:00+09:00">' in html
    assert "ld+json" not in html
    text = " ".join(body[:half])
    assert (text.count("Russia"), text.count("Belarus")) == (1, 1)
    assert text.index("Russia") > len(text) * 0.7
    for place in ("Seoul", "Tokyo", "Camp David", "Pyongyang", "North Korea"):
        assert place in text
    for boilerplate in ("Loading", "Search", "Comment (0)", "Trackback(0)"):
        assert boilerplate not in text


def test_syndicated_copy_repeats_the_seoul_herald_body() -> None:
    original = paragraphs(capture(f"{SH}/2024/07/31/boj-rate-rise.html").decode("utf-8"),
                          "tt_article_useless_p_margin contents_style")
    copy_html = capture(f"{PW}/partners/2024/07/31/bank-of-japan-rate-rise.html").decode("utf-8")
    assert paragraphs(copy_html, "story-body") == original[: len(original) // 2]
    assert "<h1>From our partners: Bank of Japan raises interest rates" in copy_html
    assert f'<link rel="canonical" href="{PW}/partners/2024/07/31/bank-of-japan-rate-rise.html">' in copy_html


def test_tracked_link_page_declares_its_clean_canonical() -> None:
    html = capture(f"{GG}/culture/2024/07/27/sables-dor-festival.html").decode("utf-8")
    assert f'<link rel="canonical" href="{GG}/culture/2024/07/27/sables-dor-festival.html" />' in html


# ------------------------------------------------------------------ newsflow demo's command lines


def test_demo_argv_puts_extra_flags_last() -> None:
    assert demo_argv("/tmp/c.yaml", "out", "http://127.0.0.1:9/replay/", ["--run_id", "r1"]) == [
        "--config", "/tmp/c.yaml", "--output", "out", "--replay_prefix", "http://127.0.0.1:9/replay/",
        "--allow_private_network", "127.0.0.1/32", "--host_delay_s", "0", "--runner", "FnApiRunner",
        "--run_id", "r1"]


def test_printed_query_commands_read_a_hive_partitioned_output(tmp_path: Path) -> None:
    folder = tmp_path / "articles" / "v1" / "dt=2024-07-29" / "topic=medtop:11000000" / "region=Eastern Asia"
    folder.mkdir(parents=True)
    pq.write_table(pa.table({"title": ["ROK, Japan, US sign trilateral security framework in Tokyo"]}),
                   folder / "part-0.parquet")
    cli, python = query_commands(str(tmp_path))
    glob = f"{tmp_path.resolve()}/articles/v1/**/*.parquet"
    assert cli == (f"duckdb -c \"SELECT dt, topic, region, title FROM read_parquet('{glob}', "
                   "hive_partitioning=true) ORDER BY dt, topic, region, title\"")
    assert python.startswith('python -c "import duckdb; duckdb.sql(')
    shell_python = python.replace("python -c", f"{sys.executable} -c", 1)
    shown = subprocess.run(shell_python, shell=True, capture_output=True, text=True, timeout=60, check=True)
    for cell in ("2024-07-29", "medtop:11000000", "Eastern Asia", "ROK, Japan, US sign trilateral"):
        assert cell in shown.stdout
    assert query_commands("gs://bucket/demo/")[0].count("'gs://bucket/demo/articles/v1/**/*.parquet'") == 1


@pytest.mark.slow
def test_run_demo_ingests_the_bundled_site_and_prints_a_working_query(tmp_path: Path) -> None:
    printed = io.StringIO()
    assert run_demo(str(tmp_path / "demo"), ["--run_id", "demo-test"], out=printed) == 0
    lines = printed.getvalue().splitlines()
    assert lines[0].startswith("demo site served at http://127.0.0.1:")
    assert "demo run demo-test: " in printed.getvalue()
    python = next(line.strip() for line in lines if line.strip().startswith("python -c"))
    shown = subprocess.run(python.replace("python -c", f"{sys.executable} -c", 1), shell=True,
                           capture_output=True, text=True, timeout=60, check=True)
    assert "ROK, Japan, US sign trilateral security framework in Tokyo" in shown.stdout
    assert "politics-government" in shown.stdout
