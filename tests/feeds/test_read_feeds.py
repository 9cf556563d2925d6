import dataclasses
import gzip
import hashlib
import json
import threading
from datetime import UTC, datetime

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import FixedWindows, TimestampedValue

from newsflow.transforms.feeds.read_feeds import ReadFeeds
from newsflow.transforms.feeds.reader import (
    cache_max_age,
    first_source_per_site,
    is_news_sitemap,
    news_first,
    read_feed,
    retry_after,
)
from newsflow.transforms.feeds.state import FeedState
from newsflow.transforms.fetch.client import FetchPolicy, FetchResult, HttpClient
from newsflow.transforms.items import REJECTED, Entry, FeedSpec
from tests.fixture_server import Route, sequence, serve

POLICY = FetchPolicy(allow_private_networks=("127.0.0.1/32",), host_delay_s=0, max_attempts=1)
RSS_TYPE = {"Content-Type": "application/rss+xml; charset=utf-8"}



def rss(*items: tuple[str, str], ttl: int | None = None) -> bytes:
    body = "".join(f"<item><title>{title}</title><link>{link}</link></item>" if link else
                   f"<item><title>{title}</title></item>" for title, link in items)
    ttl_element = f"<ttl>{ttl}</ttl>" if ttl else ""
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>{ttl_element}{body}</channel></rss>'.encode()


FEED = rss(("One", "/a/1"), ("No link", ""), ("One again", "/a/1?utm_medium=rss"), ("Two", "/a/2"), ttl=20)
SPEC_KW = {"name": "Example", "tags": ("local",), "region_hint": "NO"}


@pytest.fixture()
def client():
    with HttpClient(POLICY) as http:
        yield http


def _rejections(read):
    return [(r.kind, r.reason, r.url, r.feed_url, r.error_class) for r in read.rejected]


def test_feed_entries_rejections_and_state(client):
    with serve({"/feed": Route(body=FEED, headers={**RSS_TYPE, "ETag": '"v1"', "Cache-Control": "max-age=300"})}) as s:
        read = read_feed(FeedSpec(s.url("/feed"), **SPEC_KW), client.fetch)
    feed = s.url("/feed")
    assert read.entries == [
        Entry(feed_url=feed, url=s.url("/a/1"), title="One", feed_name="Example", region_hint="NO", tags=("local",)),
        Entry(feed_url=feed, url=s.url("/a/2"), title="Two", feed_name="Example", region_hint="NO", tags=("local",)),
    ]
    assert _rejections(read) == [
        ("skip", "entry_without_link", feed, feed, None),
        ("skip", "duplicate_in_feed", s.url("/a/1?utm_medium=rss"), feed, None),
    ]
    [state] = read.states
    assert (state.feed_url, state.etag, state.last_modified, state.content_sha256, state.last_status,
            state.consecutive_errors, state.entries_seen, state.ttl_s, state.cache_max_age_s, state.kind) == (
        feed, '"v1"', None, hashlib.sha256(FEED).hexdigest(), "ok", 0, 2, 1200, 300, "rss")
    assert state.last_success_at == state.polled_at is not None
    assert sorted(read.counters) == sorted(["feeds.polled", "feeds.entries", "feeds.entries",
                                            "feeds.skipped.entry_without_link", "feeds.skipped.duplicate_in_feed"])


def test_validators_are_sent_and_304_yields_only_state(client):
    def conditional(request):
        if request.headers.get("if-none-match") == '"v1"':
            return Route(status=304, headers={"ETag": '"v1"'})
        return Route(body=FEED, headers={**RSS_TYPE, "ETag": '"v1"'})

    previous = FeedState("", etag='"v1"', last_modified="Wed, 25 Nov 2026 10:00:00 GMT",
                         content_sha256="abc", consecutive_errors=2, kind="rss", ttl_s=1200)
    with serve({"/feed": Route(handler=conditional)}) as s:
        previous.feed_url = s.url("/feed")
        read = read_feed(FeedSpec(s.url("/feed")), client.fetch, {s.url("/feed"): previous})
        robots, request = s.requests  # robots.txt first: a feed host's Crawl-delay applies to feeds too
    assert robots.path == "/robots.txt"
    assert request.headers["if-modified-since"] == "Wed, 25 Nov 2026 10:00:00 GMT"
    assert (read.entries, read.rejected, read.counters) == ([], [], ["feeds.polled", "feeds.not_modified"])
    [state] = read.states
    assert (state.etag, state.last_modified, state.content_sha256, state.last_status, state.consecutive_errors,
            state.ttl_s, state.entries_seen) == ('"v1"', "Wed, 25 Nov 2026 10:00:00 GMT", "abc", "not_modified", 0,
                                                 1200, 0)


def test_same_body_without_server_validators_is_unchanged(client):
    with serve({"/feed": Route(body=FEED, headers=RSS_TYPE)}) as s:
        previous = FeedState(s.url("/feed"), content_sha256=hashlib.sha256(FEED).hexdigest(), kind="rss")
        read = read_feed(FeedSpec(s.url("/feed")), client.fetch, {s.url("/feed"): previous})
        changed = read_feed(FeedSpec(s.url("/feed")), client.fetch,
                            {s.url("/feed"): FeedState(s.url("/feed"), content_sha256="0" * 64, kind="rss")})
    assert (read.entries, read.rejected, read.counters) == ([], [], ["feeds.polled", "feeds.unchanged"])
    assert read.states[0].last_status == "unchanged"
    assert [e.title for e in changed.entries] == ["One", "Two"]


def test_server_ignoring_validators_with_the_same_body_is_unchanged(client):
    with serve({"/feed": Route(body=FEED, headers={**RSS_TYPE, "ETag": '"v2"'})}) as s:
        previous = FeedState(s.url("/feed"), etag='"v1"', content_sha256=hashlib.sha256(FEED).hexdigest(), kind="rss")
        read = read_feed(FeedSpec(s.url("/feed")), client.fetch, {s.url("/feed"): previous})
        assert [r.path for r in s.requests] == ["/robots.txt", "/feed"]
        assert s.requests[1].headers["if-none-match"] == '"v1"'
    assert (read.entries, read.rejected, read.counters) == ([], [], ["feeds.polled", "feeds.unchanged"])
    assert [(st.etag, st.last_status) for st in read.states] == [('"v2"', "unchanged")]


@pytest.mark.parametrize(("route", "reason", "error_class"), [
    (Route(body=rss(), headers=RSS_TYPE), "feed_without_entries", "EmptyFeed"),
    (Route(status=404, body=b"gone", headers={"Content-Type": "text/plain"}), "http_404", "HTTPStatusError"),
    (Route(body=b'<!DOCTYPE rss [<!ENTITY a "&b;&b;">]><rss version="2.0"/>', headers=RSS_TYPE),
     "xml_entities_refused", "FeedSecurityError"),
    (Route(body=b"just some words", headers={"Content-Type": "text/plain"}), "not_a_feed", "NotAFeed"),
])
def test_failures_become_error_rejections(client, route, reason, error_class):
    with serve({"/feed": route}) as s:
        previous = FeedState(s.url("/feed"), consecutive_errors=3)
        read = read_feed(FeedSpec(s.url("/feed")), client.fetch, {s.url("/feed"): previous})
    assert read.entries == []
    assert _rejections(read) == [("error", reason, s.url("/feed"), s.url("/feed"), error_class)]
    assert f"feeds.failed.{reason}" in read.counters
    [state] = read.states
    assert (state.last_status, state.consecutive_errors) == (reason, 4)


def test_feed_level_skips_are_rejections_with_the_client_reason(client):
    with serve({"/logo": Route(body=b"\x89PNG", headers={"Content-Type": "image/png"})}) as s:
        image = read_feed(FeedSpec(s.url("/logo")), client.fetch)
    private = read_feed(FeedSpec("http://10.1.2.3/feed"), client.fetch)
    assert _rejections(image) == [("skip", "unsupported_content_type", s.url("/logo"), s.url("/logo"), None)]
    assert image.counters == ["feeds.polled", "feeds.failed.unsupported_content_type"]
    assert _rejections(private) == [("skip", "blocked_address", "http://10.1.2.3/feed", "http://10.1.2.3/feed", None)]
    assert [(st.last_status, st.consecutive_errors) for st in private.states] == [("blocked_address", 0)]


def test_retry_after_and_cache_control():
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    assert retry_after({"retry-after": "120"}, now) == 120
    assert retry_after({"retry-after": "Sat, 28 Nov 2026 12:05:00 GMT"}, now) == 300
    assert retry_after({"retry-after": "soon"}, now) is None
    assert retry_after({}, now) is None
    assert cache_max_age({"cache-control": "public, max-age=600"}) == 600
    assert cache_max_age({"cache-control": "no-cache"}) == 0
    assert cache_max_age({}) is None


PAGE = b"""<!DOCTYPE html><html><head><base href="/news/">
<link rel="alternate" type="application/atom+xml" href="atom"></head><body>home</body></html>"""
ATOM = b"""<feed xmlns="http://www.w3.org/2005/Atom"><title>A</title>
<entry><id>x1</id><title>Found</title><link href="/story/1"/></entry></feed>"""
HTML = {"Content-Type": "text/html; charset=utf-8"}


def test_html_page_discovers_its_linked_feed_then_polls_it_directly(client):
    def atom(request):
        if request.headers.get("if-none-match") == '"a"':
            return Route(status=304, headers={"ETag": '"a"'})
        return Route(body=ATOM, headers={"Content-Type": "application/atom+xml", "ETag": '"a"'})

    with serve({"/": Route(body=PAGE, headers=HTML), "/news/atom": Route(handler=atom)}) as s:
        read = read_feed(FeedSpec(s.url("/"), name="Home"), client.fetch)
        assert [r.path for r in s.requests] == ["/robots.txt", "/", "/news/atom"]
        states = {state.feed_url: state for state in read.states}
        s.clear_requests()
        again = read_feed(FeedSpec(s.url("/"), name="Home"), client.fetch, states)
        assert [(r.path, r.headers.get("if-none-match")) for r in s.requests] == [("/news/atom", '"a"')]
    assert [(e.feed_url, e.url, e.title, e.feed_name) for e in read.entries] == [
        (s.url("/news/atom"), s.url("/story/1"), "Found", "Home")]
    assert read.rejected == []
    assert (states[s.url("/")].kind, states[s.url("/")].discovered_feed_url) == ("html", s.url("/news/atom"))
    assert (states[s.url("/news/atom")].kind, states[s.url("/news/atom")].etag) == ("atom", '"a"')
    assert (again.entries, again.rejected, again.counters) == ([], [], ["feeds.polled", "feeds.not_modified"])
    assert [(st.feed_url, st.kind, st.discovered_feed_url, st.last_status) for st in again.states] == [
        (s.url("/"), "html", s.url("/news/atom"), "ok"), (s.url("/news/atom"), "atom", None, "not_modified")]


@pytest.mark.parametrize("status", [301, 308])
def test_feed_moved_permanently_is_polled_at_its_new_url(client, status):
    def feed(request):
        if request.headers.get("if-none-match") == '"n"':
            return Route(status=304, headers={"ETag": '"n"'})
        return Route(body=FEED, headers={**RSS_TYPE, "ETag": '"n"'})

    with serve({"/old": Route(status=status, location="/new", headers={}), "/new": Route(handler=feed)}) as s:
        read = read_feed(FeedSpec(s.url("/old")), client.fetch)
        states = {state.feed_url: state for state in read.states}
        s.clear_requests()
        again = read_feed(FeedSpec(s.url("/old")), client.fetch, states)
        assert [(r.path, r.headers.get("if-none-match")) for r in s.requests] == [("/new", '"n"')]
    assert {e.feed_url for e in read.entries} == {s.url("/new")}
    assert [(st.feed_url, st.kind, st.discovered_feed_url, st.last_status, st.etag) for st in read.states] == [
        (s.url("/old"), "moved", s.url("/new"), "moved_permanently", None), (s.url("/new"), "rss", None, "ok", '"n"')]
    assert (again.entries, again.rejected, again.counters) == ([], [], ["feeds.polled", "feeds.not_modified"])
    assert [(st.feed_url, st.kind, st.discovered_feed_url) for st in again.states] == [
        (s.url("/old"), "moved", s.url("/new")), (s.url("/new"), "rss", None)]


def test_feed_behind_a_temporary_redirect_keeps_its_url(client):
    with serve({"/old": Route(status=302, location="/new", headers={}),
                "/new": Route(body=FEED, headers={**RSS_TYPE, "ETag": '"n"'})}) as s:
        read = read_feed(FeedSpec(s.url("/old")), client.fetch)
    assert {e.feed_url for e in read.entries} == {s.url("/old")}
    assert [(st.feed_url, st.discovered_feed_url, st.etag) for st in read.states] == [(s.url("/old"), None, '"n"')]


def test_discovered_feed_that_breaks_is_rediscovered(client):
    with serve({"/": Route(body=PAGE, headers=HTML),
                "/news/atom": Route(body=ATOM, headers={"Content-Type": "application/atom+xml"})}) as s:
        stale = {s.url("/"): FeedState(s.url("/"), kind="html", discovered_feed_url=s.url("/old-feed"))}
        read = read_feed(FeedSpec(s.url("/")), client.fetch, stale)
        assert [r.path for r in s.requests] == ["/robots.txt", "/old-feed", "/", "/news/atom"]
    assert [e.url for e in read.entries] == [s.url("/story/1")]
    assert read.rejected == []
    assert [(st.feed_url, st.discovered_feed_url) for st in read.states] == [
        (s.url("/"), s.url("/news/atom")), (s.url("/news/atom"), None)]
    assert read.counters == ["feeds.polled", "feeds.rediscovered", "feeds.entries"]


def test_discovery_falls_back_to_well_known_paths_in_order(client):
    with serve({"/home": Route(body=b"<html><body>no links</body></html>", headers=HTML),
                "/rss.xml": Route(body=rss(("Well known", "/w/1")), headers=RSS_TYPE)}) as s:
        read = read_feed(FeedSpec(s.url("/home")), client.fetch)
        paths = [r.path for r in s.requests]
    assert paths == ["/robots.txt", "/home", "/feed", "/rss", "/rss.xml"]
    assert [(e.feed_url, e.url) for e in read.entries] == [(s.url("/rss.xml"), s.url("/w/1"))]


def test_page_without_any_feed_is_dead_lettered(client):
    with serve({"/": Route(body=b"<html><body>nothing</body></html>", headers=HTML)}) as s:
        read = read_feed(FeedSpec(s.url("/")), client.fetch)
    assert _rejections(read) == [("error", "no_feed_found", s.url("/"), s.url("/"), "NoFeedFound")]
    assert read.counters == ["feeds.polled", "feeds.discovery_failed", "feeds.failed.no_feed_found"]
    assert [(st.feed_url, st.kind, st.last_status, st.consecutive_errors) for st in read.states] == [
        (s.url("/"), "html", "no_feed_found", 1)]
    assert read.rejected[0].message == (
        "HTML page; none of 7 candidates is a feed (" + "; ".join(
            f"{s.url(p)}: http_404" for p in ["/feed", "/rss", "/rss.xml", "/atom.xml", "/feed.xml", "/index.xml",
                                               "/feeds/posts/default"]) + ")")


def test_missing_homepage_still_tries_the_well_known_paths(client):
    with serve({"/atom.xml": Route(body=ATOM, headers={"Content-Type": "application/atom+xml"})}) as s:
        found = read_feed(FeedSpec(s.url("/")), client.fetch)
        assert [r.path for r in s.requests] == ["/robots.txt", "/", "/feed", "/rss", "/rss.xml", "/atom.xml"]
        s.remove("/atom.xml")
        missing = read_feed(FeedSpec(s.url("/")), client.fetch)
        not_a_root = read_feed(FeedSpec(s.url("/news/feed.xml")), client.fetch)
    assert [(e.feed_url, e.url) for e in found.entries] == [(s.url("/atom.xml"), s.url("/story/1"))]
    assert [(st.feed_url, st.kind, st.discovered_feed_url, st.last_status) for st in found.states] == [
        (s.url("/"), "html", s.url("/atom.xml"), "http_404"), (s.url("/atom.xml"), "atom", None, "ok")]
    assert _rejections(missing) == [("error", "no_feed_found", s.url("/"), s.url("/"), "NoFeedFound")]
    assert missing.rejected[0].message is not None
    assert missing.rejected[0].message.startswith("site root answered http_404; none of 7 candidates is a feed (")
    assert _rejections(not_a_root) == [
        ("error", "http_404", s.url("/news/feed.xml"), s.url("/news/feed.xml"), "HTTPStatusError")]


def test_sitemap_index_children_gzip_and_nesting(client):
    child_1 = b"""<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
      <url><loc>/n/1</loc><news:news><news:title>N1</news:title>
        <news:publication_date>2026-11-27T10:00:00Z</news:publication_date></news:news></url>
      <url><loc>/n/2</loc></url></urlset>"""
    child_2 = b"<urlset><url><loc>/n/2</loc></url><url><loc>/n/3</loc></url></urlset>"
    nested = b"<sitemapindex><sitemap><loc>/deeper.xml</loc></sitemap></sitemapindex>"
    index = (b"<sitemapindex><sitemap><loc>/s1.xml</loc></sitemap><sitemap><loc>/s2.xml.gz</loc></sitemap>"
             b"<sitemap><loc>/nested.xml</loc></sitemap><sitemap><loc>/missing.xml</loc></sitemap></sitemapindex>")
    xml = {"Content-Type": "application/xml"}
    with serve({"/sitemap.xml": Route(body=index, headers=xml), "/s1.xml": Route(body=child_1, headers=xml),
                "/s2.xml.gz": Route(body=gzip.compress(child_2), headers={"Content-Type": "application/x-gzip"}),
                "/nested.xml": Route(body=nested, headers=xml),
                "/deeper.xml": Route(body=nested.replace(b"/deeper.xml", b"/deepest.xml"), headers=xml)}) as s:
        read = read_feed(FeedSpec(s.url("/sitemap.xml")), client.fetch)
    assert [(e.feed_url, e.url, e.title) for e in read.entries] == [
        (s.url("/s1.xml"), s.url("/n/1"), "N1"), (s.url("/s1.xml"), s.url("/n/2"), None),
        (s.url("/s2.xml.gz"), s.url("/n/3"), None)]
    assert read.entries[0].published_at == datetime(2026, 11, 27, 10, tzinfo=UTC)
    assert _rejections(read) == [
        ("skip", "duplicate_in_feed", s.url("/n/2"), s.url("/s2.xml.gz"), None),
        ("skip", "sitemap_children_capped", s.url("/deepest.xml"), s.url("/deeper.xml"), None),
        ("error", "http_404", s.url("/missing.xml"), s.url("/sitemap.xml"), "HTTPStatusError"),
    ]
    assert {state.feed_url: state.kind for state in read.states} == {
        s.url("/sitemap.xml"): "sitemap_index", s.url("/s1.xml"): "sitemap", s.url("/s2.xml.gz"): "sitemap",
        s.url("/nested.xml"): "sitemap_index", s.url("/deeper.xml"): "sitemap_index", s.url("/missing.xml"): None}


NEWS_SITEMAP = b"""<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
    xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
  <url><loc>/a/1</loc><news:news><news:title>One</news:title></news:news></url>
  <url><loc>/a/2</loc><news:news><news:title>Two</news:title></news:news></url></urlset>"""
XML = {"Content-Type": "application/xml"}


def site_routes():
    return {"/feed": Route(body=rss(("One", "/a/1")), headers=RSS_TYPE),
            "/other-feed": Route(body=rss(("Three", "/a/3")), headers=RSS_TYPE),
            "/sitemaps/index.xml": Route(body=b"<sitemapindex><sitemap><loc>/sitemaps/news.xml</loc></sitemap>"
                                              b"</sitemapindex>", headers=XML),
            "/sitemaps/news.xml": Route(body=NEWS_SITEMAP, headers=XML),
            "/sitemaps/archive.xml": Route(body=b"<urlset><url><loc>/2001/old</loc></url></urlset>", headers=XML)}


def robots_with_sitemaps(s):
    lines = [f"Sitemap: {s.url(p)}" for p in ("/sitemaps/index.xml", "/sitemaps/archive.xml",
                                               "/sitemaps/news.xml", "/sitemaps/gone.xml", "/sitemaps/index.xml")]
    return Route(body=("User-agent: *\n" + "\n".join(lines) + "\n").encode(), headers={"Content-Type": "text/plain"})


def test_robots_sitemaps_of_the_site_are_read_news_first(client):
    """The source's site declares four sitemaps: the news one is read first, the index's only
    child is that one (not asked again), the plain one is the archive (skipped), a missing one is
    dead-lettered; a link the feed already gave is a duplicate, not a second entry."""
    with serve(site_routes()) as s:
        s.set("/robots.txt", robots_with_sitemaps(s))
        read = read_feed(FeedSpec(s.url("/feed"), name="Site"), client.fetch, site_sitemaps=client.site_sitemaps)
        paths = [r.path for r in s.requests]
    assert paths == ["/robots.txt", "/feed", "/sitemaps/news.xml", "/sitemaps/index.xml", "/sitemaps/archive.xml",
                     "/sitemaps/gone.xml"]
    assert [(e.feed_url, e.url, e.title, e.feed_name) for e in read.entries] == [
        (s.url("/feed"), s.url("/a/1"), "One", "Site"), (s.url("/sitemaps/news.xml"), s.url("/a/2"), "Two", "Site")]
    assert _rejections(read) == [
        ("skip", "duplicate_in_feed", s.url("/a/1"), s.url("/sitemaps/news.xml"), None),
        ("skip", "not_a_news_sitemap", s.url("/sitemaps/archive.xml"), s.url("/feed"), None),
        ("error", "http_404", s.url("/sitemaps/gone.xml"), s.url("/feed"), "HTTPStatusError")]
    assert [(st.feed_url, st.kind, st.last_status) for st in read.states] == [
        (s.url("/feed"), "rss", "ok"), (s.url("/sitemaps/news.xml"), "sitemap", "ok"),
        (s.url("/sitemaps/index.xml"), "sitemap_index", "ok"), (s.url("/sitemaps/archive.xml"), "sitemap", "ok"),
        (s.url("/sitemaps/gone.xml"), None, "http_404")]
    assert read.counters.count("feeds.site_sitemaps") == 4


def test_site_sitemaps_beyond_the_cap_are_skipped_and_helpers():
    declared = [f"https://x.example/s{i}.xml" for i in range(12)] + ["https://x.example/news/today.xml"]
    def missing(url, **_):
        return FetchResult(url, url, "error", "http_404", 404, error_class="HTTPStatusError")

    read = read_feed(FeedSpec("https://x.example/feed"), missing, site_sitemaps=lambda url: declared)
    assert [(r.reason, r.url) for r in read.rejected][-3:] == [
        ("site_sitemaps_capped", "https://x.example/s9.xml"), ("site_sitemaps_capped", "https://x.example/s10.xml"),
        ("site_sitemaps_capped", "https://x.example/s11.xml")]
    assert [r.url for r in read.rejected[:2]] == ["https://x.example/feed", "https://x.example/news/today.xml"]
    assert read.counters.count("feeds.site_sitemaps") == 10
    assert news_first(["https://x.example/a.xml", "https://news.example/b.xml", "https://x.example/news-sitemap.xml",
                       "https://x.example/a.xml"]) == [
        "https://x.example/news-sitemap.xml", "https://x.example/a.xml", "https://news.example/b.xml"]
    assert is_news_sitemap(gzip.compress(NEWS_SITEMAP)) and is_news_sitemap(NEWS_SITEMAP)
    assert not is_news_sitemap(b"<urlset><url><loc>/a</loc></url></urlset>")
    assert not is_news_sitemap(b"\x1f\x8b broken gzip")


def test_read_feeds_reads_a_sites_robots_sitemaps_once_for_its_first_source():
    with serve(site_routes()) as s:
        s.set("/robots.txt", robots_with_sitemaps(s))
        specs = [FeedSpec(s.url("/feed")), FeedSpec(s.url("/other-feed"))]
        with TestPipeline(runner="FnApiRunner") as p:
            outputs = p | beam.Create(specs) | ReadFeeds(POLICY, sitemap_readers=first_source_per_site(specs))
            assert_that(outputs.entries | beam.Map(lambda e: e.url),
                        equal_to([s.url("/a/1"), s.url("/a/2"), s.url("/a/3")]))
        with_sitemaps = sorted(r.path for r in s.requests)
        s.clear_requests()
        with TestPipeline(runner="FnApiRunner") as p:
            _ = p | beam.Create(specs) | ReadFeeds(POLICY)
        without = sorted(r.path for r in s.requests)
    assert with_sitemaps == ["/feed", "/other-feed", "/robots.txt", "/sitemaps/archive.xml", "/sitemaps/gone.xml",
                             "/sitemaps/index.xml", "/sitemaps/news.xml"]
    assert without == ["/feed", "/other-feed"]  # robots.txt is cached in this process


def test_constructor_validates():
    with pytest.raises(TypeError, match="policy must be a FetchPolicy"):
        ReadFeeds({"timeout": 1})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="validators must map feed URLs to FeedState"):
        ReadFeeds(POLICY, {"http://x/": {"etag": "x"}})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="max_sitemap_children"):
        ReadFeeds(POLICY, max_sitemap_children=0)
    with pytest.raises(ValueError, match="max_parallel must be at least 1"):
        ReadFeeds(POLICY, max_parallel=0)


def test_read_feeds_transform_outputs_and_counters():
    routes = {
        "/good": Route(body=FEED, headers={**RSS_TYPE, "ETag": '"g"'}),
        "/same": Route(status=304, headers={"ETag": '"s"'}),
        "/empty": Route(body=rss(), headers=RSS_TYPE),
        "/gone": Route(status=410, body=b"", headers={"Content-Type": "text/plain"}),
    }
    with serve(routes) as s:
        validators = {s.url("/same"): FeedState(s.url("/same"), etag='"s"', kind="rss")}
        specs = [FeedSpec(s.url(p), name=p.strip("/")) for p in routes]
        with TestPipeline(runner="FnApiRunner") as p:
            outputs = p | beam.Create(specs) | ReadFeeds(POLICY, validators)
            assert_that(outputs.entries | "E" >> beam.Map(lambda e: (e.feed_name, e.url)),
                        equal_to([("good", s.url("/a/1")), ("good", s.url("/a/2"))]), label="entries")
            assert_that(outputs[REJECTED] | "R" >> beam.Map(lambda r: (r.kind, r.stage, r.reason, r.url)),
                        equal_to([("skip", "feeds", "entry_without_link", s.url("/good")),
                                  ("skip", "feeds", "duplicate_in_feed", s.url("/a/1?utm_medium=rss")),
                                  ("error", "feeds", "feed_without_entries", s.url("/empty")),
                                  ("error", "feeds", "http_410", s.url("/gone"))]), label="rejected")
            assert_that(outputs.feed_state | "S" >> beam.Map(lambda st: (st.feed_url, st.last_status, st.etag)),
                        equal_to([(s.url("/good"), "ok", '"g"'), (s.url("/same"), "not_modified", '"s"'),
                                  (s.url("/empty"), "feed_without_entries", None), (s.url("/gone"), "http_410", None)]),
                        label="state")
    counters = {c.key.metric.name: c.committed for c in p.result.metrics().query(
        beam.metrics.MetricsFilter().with_namespace("newsflow"))["counters"]}
    assert counters == {"feeds.polled": 4, "feeds.entries": 2, "feeds.not_modified": 1,
                        "feeds.failed.feed_without_entries": 1, "feeds.failed.http_410": 1,
                        "feeds.skipped.entry_without_link": 1, "feeds.skipped.duplicate_in_feed": 1}


def test_sources_of_a_bundle_are_read_concurrently_and_keep_their_timestamps_and_windows():
    # Each response waits until all three requests have arrived: read one by one, they would fail.
    # (All three are on one host, so the policy must allow three requests per host.)
    barrier = threading.Barrier(3, timeout=5)

    def together(request):
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            return Route(status=503, body=b"alone", headers={"Content-Type": "text/plain"})
        return Route(body=rss(("Story", f"{request.path}/story")), headers=RSS_TYPE)

    with serve({f"/f{i}": Route(handler=together) for i in range(3)}) as s:
        specs = [(FeedSpec(s.url(f"/f{i}")), 60 * i + 5) for i in range(3)]
        with TestPipeline(runner="FnApiRunner") as p:
            read = (p | beam.Create(specs)
                    | "Stamp" >> beam.Map(lambda spec_at: TimestampedValue(spec_at[0], spec_at[1]))
                    | beam.WindowInto(FixedWindows(60))
                    | ReadFeeds(dataclasses.replace(POLICY, host_concurrency=3), max_parallel=3))
            placed = read.entries | "Where" >> beam.Map(
                lambda e, ts=beam.DoFn.TimestampParam, w=beam.DoFn.WindowParam: (e.url, ts.micros // 10**6,
                                                                                w.start.micros // 10**6))
            assert_that(placed, equal_to([(s.url(f"/f{i}/story"), 60 * i + 5, 60 * i) for i in range(3)]))
            assert_that(read[REJECTED], equal_to([]), label="none rejected")


def test_outputs_flushed_mid_bundle_keep_their_own_timestamps_and_windows():
    # max_parallel=1 flushes every 4 sources from process(), while a later source is current.
    routes = {f"/f{i}": Route(body=rss(("Story", f"/f{i}/story")), headers=RSS_TYPE) for i in range(6)}
    with serve(routes) as s, TestPipeline(runner="FnApiRunner") as p:
        read = (p | beam.Create([(FeedSpec(s.url(f"/f{i}")), 60 * i + 5) for i in range(6)])
                | "Stamp" >> beam.Map(lambda spec_at: TimestampedValue(spec_at[0], spec_at[1]))
                | beam.WindowInto(FixedWindows(60))
                | ReadFeeds(POLICY, max_parallel=1))
        placed = read.feed_state | "Where" >> beam.Map(
            lambda st, ts=beam.DoFn.TimestampParam, w=beam.DoFn.WindowParam: (
                st.feed_url, ts.micros // 10**6, w.start.micros // 10**6))
        assert_that(placed, equal_to([(s.url(f"/f{i}"), 60 * i + 5, 60 * i) for i in range(6)]))


# ---------------------------------------------------------------- miniweb: real feeds, served as replay


def _miniweb_routes(kit):
    """Every manifest URL at /<original URL> (the client's replay_prefix form), with its status,
    headers and delay; sequences answer in turn; a step with an ETag answers 304 to it."""
    manifest = json.loads((kit / "manifest.json").read_text())

    def route(step, file):
        headers = {"Content-Type": step["content_type"]} if step.get("content_type") else {}
        headers.update({k: v for k, v in (step.get("headers") or {}).items() if k != "Location"})
        return Route(status=step.get("status", 200), body=(kit / file).read_bytes() if file else b"",
                     headers=headers, location=(step.get("headers") or {}).get("Location"),
                     header_delay_s=step.get("delay_s", 0))

    def conditional(canned):
        def answer(request):
            etag = canned.headers.get("ETag")
            if etag and request.headers.get("if-none-match") == etag:
                return Route(status=304, headers={"ETag": etag})
            return canned
        return answer

    routes = {}
    for entry in manifest["entries"]:
        steps = ([route(step, step.get("file")) for step in entry["sequence"]] if "sequence" in entry
                 else [route(entry["response"], entry.get("file"))])
        served = sequence(*steps)
        routes["/" + entry["url"]] = Route(handler=lambda request, served=served: conditional(served(request))(request))
    return manifest, routes


@pytest.fixture()
def miniweb():
    from tests.conftest import bench_kit
    manifest, routes = _miniweb_routes(bench_kit("feeds/miniweb"))
    with serve(routes) as server:
        policy = FetchPolicy(allow_private_networks=("127.0.0.1/32",), host_delay_s=0, max_attempts=2,
                             read_timeout_s=2, total_timeout_s=4, max_bytes=2_000_000, replay_prefix=server.url("/"))
        with HttpClient(policy, sleep=lambda _: None) as http:  # backoff runs on a fake clock
            yield manifest, http


def _links(manifest, url):
    entry = next(e for e in manifest["entries"] if e["url"] == url)
    return [item.get("link") or item["url"] for item in entry["expect"]["items"]]


def test_miniweb_feeds_yield_the_items_the_manifest_lists(miniweb):
    manifest, http = miniweb
    sources = [e for e in manifest["entries"] if e["kind"] in ("feed", "sitemap") and e["expect"].get("items")]
    special = {"https://time.com/section/world/feed/", "https://www.theverge.com/rss/full.xml",
               "https://www.theguardian.com/uk/rss"}
    for source in sources:
        if source["url"] in special:
            continue
        read = read_feed(FeedSpec(source["url"]), http.fetch)
        first = (source.get("sequence") or [{}])[0]
        if float((first.get("headers") or {}).get("Retry-After", 0)) > http.policy.backoff_max_s:
            # The poll ends at a Retry-After longer than the backoff cap; the next poll gets the feed.
            assert [r.reason for r in read.rejected] == [f"http_{first['status']}"], source["url"]
            read = read_feed(FeedSpec(source["url"]), http.fetch)
        assert ([e.url for e in read.entries], read.rejected) == (_links(manifest, source["url"]), []), source["url"]
    assert len(sources) == 47

    slow = read_feed(FeedSpec("https://time.com/section/world/feed/"), http.fetch)
    assert _rejections(slow) == [("error", "timeout", "https://time.com/section/world/feed/",
                                  "https://time.com/section/world/feed/", "ReadTimeout")]
    cut = read_feed(FeedSpec("https://www.theverge.com/rss/full.xml"), http.fetch)
    assert [e.url for e in cut.entries] == _links(manifest, "https://www.theverge.com/rss/full.xml")[:1]
    assert "feeds.bozo" in cut.counters
    future = read_feed(FeedSpec("https://www.nature.com/nature.rss"), http.fetch)
    assert [e.published_at for e in future.entries] == [None]  # dc:date 2099-01-01 is dropped


def test_miniweb_guardian_feed_changes_then_stays_unmodified(miniweb):
    manifest, http = miniweb
    url = "https://www.theguardian.com/uk/rss"
    links = _links(manifest, url)
    first = read_feed(FeedSpec(url), http.fetch)
    second = read_feed(FeedSpec(url), http.fetch, {s.feed_url: s for s in first.states})
    third = read_feed(FeedSpec(url), http.fetch, {s.feed_url: s for s in second.states})
    assert [e.url for e in first.entries] == links[:2]
    assert [e.url for e in second.entries] == links[2:]
    assert first.states[0].etag != second.states[0].etag
    assert (third.entries, third.rejected, third.counters) == ([], [], ["feeds.polled", "feeds.not_modified"])


def test_miniweb_discovery_seeds_and_subscriptions(miniweb):
    manifest, http = miniweb
    for seed in manifest["seeds"]:
        read = read_feed(FeedSpec(seed["url"]), http.fetch)
        if seed["expect_feeds"]:
            assert {e.feed_url for e in read.entries} == {seed["expect_feeds"][0]}, seed["url"]
            assert read.rejected == []
        else:
            assert [(r.kind, r.reason) for r in read.rejected] == [("error", "no_feed_found")]
    expected = {o["xmlUrl"]: o for o in manifest["opml_expect"]}
    moved = read_feed(FeedSpec("http://www.theverge.com/rss/frontpage"), http.fetch)
    final = expected["http://www.theverge.com/rss/frontpage"]["final"]
    assert [e.url for e in moved.entries] == _links(manifest, final)
    assert moved.states[0].discovered_feed_url == final
    blocked = read_feed(FeedSpec("https://static.winfuture.de/feeds/WinFuture-Top-News-rss2.0.xml"), http.fetch)
    assert [(r.kind, r.reason) for r in blocked.rejected] == [("error", "http_403")]
    npr_page = "http://www.npr.org/sections/thetwo-way/2016/12/15/505723552/jury-finds-dylann-roof-guilty-in-s-c-church-shooting"
    article = read_feed(FeedSpec(npr_page), http.fetch)
    assert {e.feed_url for e in article.entries} == {expected[npr_page]["finds"][1]}
    assert [(s.feed_url, s.discovered_feed_url) for s in article.states] == [
        (npr_page, expected[npr_page]["finds"][1]), (expected[npr_page]["finds"][1], None)]


def test_the_first_configured_source_of_each_site_reads_its_sitemaps():
    feeds = [FeedSpec("https://www.news.example/rss"), FeedSpec("https://news.example/atom"),
             FeedSpec("https://other.example/feed"), FeedSpec("http://news.example:8080/x")]
    assert first_source_per_site(feeds) == frozenset({"https://www.news.example/rss", "https://other.example/feed"})
