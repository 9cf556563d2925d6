"""Metadata from parsed pages: JSON-LD shapes, meta tags, dates and their order of preference."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import lxml.html
import pytest

from newsflow.transforms.extract import metadata
from newsflow.transforms.extract.metadata import (
    jsonld_articles,
    page_metadata,
    parse_date,
    resolve_published,
    title_without_site,
)

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def tree(head: str = "", body: str = "<p>text</p>", lang: str = "") -> lxml.html.HtmlElement:
    attr = f' lang="{lang}"' if lang else ""
    return lxml.html.document_fromstring(f"<html{attr}><head>{head}</head><body>{body}</body></html>")


def script(obj: object) -> str:
    return f'<script type="application/ld+json">{json.dumps(obj)}</script>'


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-11-27T08:30:00Z", datetime(2026, 11, 27, 8, 30, tzinfo=UTC)),
    ("2026-11-27T08:30:00+0100", datetime(2026, 11, 27, 7, 30, tzinfo=UTC)),
    ("2026-11-27T08:30:00.123-05:00", datetime(2026, 11, 27, 13, 30, 0, 123000, tzinfo=UTC)),
    ("2026-11-27 08:30:00", datetime(2026, 11, 27, 8, 30, tzinfo=UTC)),
    ("2026-11-27", datetime(2026, 11, 27, tzinfo=UTC)),
    ("20261127", datetime(2026, 11, 27, tzinfo=UTC)),
    ("yesterday", None),
    ("", None),
    (None, None),
    (1732000000, None),
])
def test_parse_date(text: object, expected: datetime | None) -> None:
    assert parse_date(text) == expected


def test_jsonld_articles_in_graphs_lists_and_type_lists() -> None:
    blocks = script([{"@type": "Organization", "name": "Example"},
                     {"@context": "https://schema.org", "@graph": [
                         {"@type": ["ReportageNewsArticle", "NewsArticle"], "headline": "A",
                          "datePublished": "2026-11-01T00:00:00Z", "author": {"name": "Ana Silva"},
                          "wordCount": "412", "isAccessibleForFree": "false",
                          "publisher": {"@type": "Organization", "name": "Example Times"}}]}])
    blocks += script({"@type": "BlogPosting", "headline": "B", "articleBody": "Body text.",
                      "author": ["Li Wei", {"@type": "Person", "name": "Li Wei"}, "https://x.example/ana"]})
    blocks += '<script type="application/ld+json">{not json</script>'
    found = jsonld_articles(tree(blocks))
    assert [(a.headline, a.date_published, a.authors, a.word_count, a.is_accessible_for_free, a.publisher)
            for a in found] == [
        ("A", datetime(2026, 11, 1, tzinfo=UTC), ["Ana Silva"], 412, False, "Example Times"),
        ("B", None, ["Li Wei"], None, None, None),
    ]
    assert found[1].body == "Body text."


def test_jsonld_with_raw_newlines_inside_strings_is_still_read() -> None:
    raw = '<script type="application/ld+json">{"@type": "NewsArticle", "headline": "Two\nlines"}</script>'
    assert [a.headline for a in jsonld_articles(tree(raw))] == ["Two lines"]


def test_page_metadata_prefers_jsonld_then_open_graph_then_title() -> None:
    head = ('<title>Bridge reopens - Example Times</title>'
            '<meta property="og:title" content="OG title"><meta property="og:site_name" content="Example Times">'
            '<meta property="og:locale" content="pt_BR"><meta property="og:url" content="https://e.example/a">'
            '<meta property="article:published_time" content="2026-11-20T10:00:00Z">'
            '<meta name="description" content="  The   description. ">')
    meta = page_metadata(tree(head + script({"@type": "NewsArticle", "headline": "LD title"})))
    assert (meta.title, meta.site_name, meta.language, meta.canonical_url, meta.description, meta.meta_date) == (
        "LD title", "Example Times", "pt", "https://e.example/a", "The description.",
        datetime(2026, 11, 20, 10, 0, tzinfo=UTC))
    assert page_metadata(tree(head)).title == "OG title"
    plain = page_metadata(tree("<title>Bridge reopens - Example Times</title>", lang="de-AT"))
    assert (plain.title, plain.language, plain.meta_date) == ("Bridge reopens", "de", None)


def test_language_from_http_equiv_content_language() -> None:
    meta = page_metadata(tree('<meta http-equiv="content-language" content="en-us"><title>T</title>'))
    assert meta.language == "en"


def test_canonical_link_wins_over_og_url() -> None:
    head = '<meta property="og:url" content="https://e.example/og"><link rel="canonical" href="https://e.example/c">'
    assert page_metadata(tree(head)).canonical_url == "https://e.example/c"


@pytest.mark.parametrize(("title", "heading", "site", "expected"), [
    ("Bridge reopens | Example Times", None, "Example Times", "Bridge reopens"),
    ("Example Times - Bridge reopens", "Bridge reopens", None, "Bridge reopens"),
    ("Bridge reopens after long repairs - ET", None, None, "Bridge reopens after long repairs"),
    ("Bridge: the reopening", None, None, "Bridge: the reopening"),
])
def test_title_without_site(title: str, heading: str | None, site: str | None, expected: str) -> None:
    assert title_without_site(title, heading, site) == expected


def test_resolve_published_order_and_future_dates(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str | None] = []

    real = metadata.htmldate_published

    def counting(tree: lxml.html.HtmlElement, url: str | None, now: datetime) -> datetime | None:
        calls.append(url)  # instrumentation only: the real htmldate still runs
        return real(tree, url, now)

    monkeypatch.setattr(metadata, "htmldate_published", counting)
    page = tree('<meta name="dc.date" content="2026-11-03">'
                + script({"@type": "NewsArticle", "datePublished": "2026-11-02T00:00:00Z"}))
    meta = page_metadata(page)
    feed = datetime(2026, 11, 1, 6, 0, tzinfo=timezone(timedelta(hours=2)))
    assert resolve_published(feed, meta, page, "u", NOW) == (datetime(2026, 11, 1, 4, 0, tzinfo=UTC), "feed_date")
    assert resolve_published(None, meta, page, "u", NOW) == (datetime(2026, 11, 2, tzinfo=UTC), "jsonld_date")
    meta.jsonld = None
    assert resolve_published(None, meta, page, "u", NOW) == (datetime(2026, 11, 3, tzinfo=UTC), "meta_date")
    assert resolve_published(None, meta, page, "u", datetime(2026, 11, 2, tzinfo=UTC)) == (None, None)
    assert calls == []
    meta.meta_date = None  # as if the cheap sources had nothing: htmldate reads the page itself
    assert resolve_published(None, meta, page, "u", NOW) == (datetime(2026, 11, 3, tzinfo=UTC), "htmldate")
    assert calls == ["u"]


def test_the_jsonld_article_naming_the_page_is_chosen() -> None:
    other = {"@type": "NewsArticle", "headline": "Other story", "url": "https://e.example/other",
             "articleBody": "Another body.", "datePublished": "2026-10-01T00:00:00Z"}
    own = {"@type": "NewsArticle", "headline": "This story", "datePublished": "2026-11-01T00:00:00Z",
           "mainEntityOfPage": {"@type": "WebPage", "@id": "http://e.example/this/"}}
    page = tree('<link rel="canonical" href="https://www.e.example/this?ref=x">' + script([other, own]))
    meta = page_metadata(page)
    assert (meta.title, meta.jsonld.date_published if meta.jsonld else None) == (
        "This story", datetime(2026, 11, 1, tzinfo=UTC))
