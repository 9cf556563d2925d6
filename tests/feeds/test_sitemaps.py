import gzip
from datetime import UTC, datetime, timedelta, timezone

import pytest
from defusedxml import EntitiesForbidden

from newsflow.transforms.feeds.sitemaps import (
    SitemapTooLarge,
    SitemapUrl,
    gunzip_capped,
    parse_sitemap,
    parse_w3c_datetime,
    sitemap_root,
)

NEWS = b"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
  <url>
    <loc> https://n.example/2026/11/27/vote </loc>
    <lastmod>2026-11-27T09:00:00Z</lastmod>
    <news:news>
      <news:publication><news:name>The Example</news:name><news:language>de</news:language></news:publication>
      <news:publication_date>2026-11-27T08:00:00+01:00</news:publication_date>
      <news:title>Abstimmung</news:title>
    </news:news>
  </url>
  <url><loc>/relative</loc></url>
  <url><loc></loc></url>
</urlset>"""


def test_news_sitemap():
    sitemap = parse_sitemap(NEWS, "https://n.example/news.xml")
    assert (sitemap.kind, sitemap.is_news, sitemap.children) == ("urlset", True, [])
    assert sitemap.urls == [
        SitemapUrl(loc="https://n.example/2026/11/27/vote", lastmod=datetime(2026, 11, 27, 9, tzinfo=UTC),
                   news_title="Abstimmung", news_publication_date=datetime(2026, 11, 27, 7, tzinfo=UTC),
                   news_publication_name="The Example", news_language="de"),
        SitemapUrl(loc="https://n.example/relative"),
    ]


def test_plain_urlset_without_namespace_and_gzipped():
    body = b"<urlset><url><loc>https://p.example/a</loc><lastmod>2026-01-02</lastmod></url></urlset>"
    for candidate in (body, gzip.compress(body)):
        sitemap = parse_sitemap(candidate, "https://p.example/sitemap.xml.gz")
        assert (sitemap.kind, sitemap.is_news) == ("urlset", False)
        assert sitemap.urls == [SitemapUrl(loc="https://p.example/a", lastmod=datetime(2026, 1, 2, tzinfo=UTC))]


def test_sitemap_index_children_are_absolute():
    body = b"""<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
      <sitemap><loc>sitemaps/1.xml</loc><lastmod>2026-11-27</lastmod></sitemap>
      <sitemap><loc>https://cdn.example/2.xml.gz</loc></sitemap></sitemapindex>"""
    sitemap = parse_sitemap(body, "https://i.example/index.xml")
    assert (sitemap.kind, sitemap.urls) == ("sitemapindex", [])
    assert sitemap.children == ["https://i.example/sitemaps/1.xml", "https://cdn.example/2.xml.gz"]


def test_not_a_sitemap_and_entities_raise():
    with pytest.raises(ValueError, match="not a sitemap: root element <rss>"):
        parse_sitemap(b"<rss/>", "https://x.example/")
    with pytest.raises(EntitiesForbidden):
        parse_sitemap(b'<!DOCTYPE urlset [<!ENTITY a "b">]><urlset><url><loc>&a;</loc></url></urlset>',
                      "https://x.example/")


def test_gunzip_capped():
    assert gunzip_capped(gzip.compress(b"x" * 1000), 1000) == b"x" * 1000
    with pytest.raises(SitemapTooLarge, match="beyond 999 bytes"):
        gunzip_capped(gzip.compress(b"x" * 1000), 999)
    with pytest.raises(ValueError, match="invalid gzip body"):
        gunzip_capped(b"\x1f\x8bnot really gzip", 1000)


def test_sitemap_root_and_dates():
    assert sitemap_root(b'<?xml version="1.0"?><sitemapindex xmlns="x">') == "sitemapindex"
    assert sitemap_root(b"<urlset>") == "urlset"
    assert sitemap_root(b"<rss>") is None
    assert parse_w3c_datetime("2026-11-27T10:00:00+02:00") == datetime(2026, 11, 27, 8, tzinfo=UTC)
    assert parse_w3c_datetime("2026-11-27T10:00Z") == datetime(2026, 11, 27, 10, tzinfo=UTC)
    assert parse_w3c_datetime("2026-11-27T10:00:00") == datetime(2026, 11, 27, 10, tzinfo=timezone(timedelta(0)))
    assert parse_w3c_datetime("yesterday") is None
    assert parse_w3c_datetime(None) is None
