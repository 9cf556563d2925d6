"""ExtractArticles on the FnApiRunner: exact articles, named skips and error rejections."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from typing import Any

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import TimestampedValue

from newsflow.transforms.extract import extract_articles
from newsflow.transforms.extract.extract_articles import ExtractArticles, build_article
from newsflow.transforms.extract.page import Extracted
from newsflow.transforms.items import REJECTED, Article, Entry, Page, Rejection
from newsflow.transforms.urls import article_id

FETCHED = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
PARAS = [
    "The old harbour bridge reopened to traffic on Monday morning after eighteen months of repairs, "
    "the city council said in a statement.",
    "Engineers replaced all of the steel cables and resurfaced the deck, which had been closed since "
    "a barge struck one of its piers in the spring of last year.",
    "Commuters who had faced a detour of more than forty minutes welcomed the news, although cyclists "
    "complained that the new lanes are narrower than before.",
]
BODY = "\n".join(PARAS)
JSONLD = {"@type": "NewsArticle", "headline": "Harbour bridge reopens", "author": {"name": "Ana Silva"},
          "datePublished": "2026-11-27T08:30:00Z"}
GOOD_HTML = (
    '<html lang="en"><head><title>Harbour bridge reopens | Example Times</title>'
    '<link rel="canonical" href="https://www.example.com/news/bridge?utm_source=rss">'
    f'<script type="application/ld+json">{json.dumps(JSONLD)}</script></head><body>'
    "<nav><a href='/'>Home</a></nav><article><h1>Harbour bridge reopens</h1>"
    + "".join(f"<p>{p}</p>" for p in PARAS) + "</article></body></html>"
)
SHORT_HTML = "<html><head><title>Gallery</title></head><body><article><p>Photo gallery: the bridge.</p></article></body></html>"


def make_page(url: str, html: str, **entry: Any) -> Page:
    return Page(
        entry=Entry(feed_url="https://example.com/feed.xml", url=url, guid=url.rsplit("/", 1)[-1],
                    feed_name="Example", tags=("local",), region_hint="IE", **entry),
        final_url=url + "?amp=1", html=html, fetched_at=FETCHED, redirect_chain=[url],
    )


def expected_good(page: Page) -> Article:
    canonical = "https://www.example.com/news/bridge"  # normalised: tracking parameter dropped
    return Article(
        id=article_id(canonical), url=page.entry.url, canonical_url=canonical,
        feed_url="https://example.com/feed.xml", site="example.com", body=BODY,
        body_sha256=hashlib.sha256(BODY.encode()).hexdigest(), fetched_at=FETCHED, feed_name="Example",
        guid="bridge", title="Harbour bridge reopens", authors=["Ana Silva"],
        published_at=datetime(2026, 11, 27, 8, 30, tzinfo=UTC), language="en", summary="Teaser.",
        partial=False, redirect_chain=["https://example.com/news/bridge"], feed_tags=["local"],
        region_hint="IE", published_date=date(2026, 11, 27), published_offset_min=0,
        published_source="jsonld_date",
    )


def rejection_key(r: Rejection) -> tuple[Any, ...]:
    return (r.kind, r.stage, r.reason, r.url, r.feed_url, r.error_class, r.message)


def test_build_article_falls_back_to_final_url_and_feed_title() -> None:
    page = make_page("https://example.com/a/1", "", title="Feed title")
    body = "x" * 250
    article = build_article(page, Extracted(body=body))
    assert isinstance(article, Article)
    assert (article.canonical_url, article.id, article.site, article.title) == (
        "https://example.com/a/1?amp=1", article_id("https://example.com/a/1?amp=1"), "example.com", "Feed title")


def test_build_article_takes_the_feed_language_when_the_page_declares_none() -> None:
    page = make_page("https://example.com/a/1", "", language="zh")
    assert build_article(page, Extracted(body="x" * 250)).language == "zh"
    assert build_article(page, Extracted(body="x" * 250, language="en")).language == "en"


def test_build_article_skips_short_complete_bodies_but_keeps_short_teasers() -> None:
    page = make_page("https://example.com/a/1", "")
    skipped = build_article(page, Extracted(body="Short."))
    assert isinstance(skipped, Rejection)
    assert rejection_key(skipped) == ("skip", "extract", "empty_extraction", "https://example.com/a/1",
                                      "https://example.com/feed.xml", None, "body of 6 chars (minimum 200)")
    teaser = build_article(page, Extracted(body="Short.", partial=True))
    assert isinstance(teaser, Article) and teaser.partial is True


def run_stage(pages: list[Page], workers: int, expected_articles: list[Article],
              expected_rejections: list[tuple[Any, ...]]) -> dict[str, int]:
    pipeline = test_pipeline.TestPipeline(runner="FnApiRunner")
    outputs = pipeline | beam.Create(pages) | ExtractArticles(workers=workers)
    assert_that(outputs.articles, equal_to(expected_articles), label="articles")
    assert_that(outputs[REJECTED] | beam.Map(rejection_key), equal_to(expected_rejections), label="rejected")
    result = pipeline.run()
    result.wait_until_finish()
    counters = result.metrics().query(MetricsFilter().with_namespace("newsflow"))["counters"]
    return {c.key.metric.name: c.committed for c in counters}


def test_extract_articles_outputs_articles_skips_and_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    real = extract_articles.extract_page

    def failing_for_broken(html: str, url: str, **kwargs: Any) -> Extracted | None:
        if "broken" in url:  # failure injection: the extractor raises on this page
            raise RuntimeError("parser exploded")
        return real(html, url, **kwargs)

    monkeypatch.setattr(extract_articles, "extract_page", failing_for_broken)
    good = make_page("https://example.com/news/bridge", GOOD_HTML, summary="Teaser.")
    pages = [good, make_page("https://example.com/news/empty", ""),
             make_page("https://example.com/news/short", SHORT_HTML),
             make_page("https://example.com/news/broken", GOOD_HTML)]
    counters = run_stage(pages, 0, [expected_good(good)], [
        ("skip", "extract", "empty_extraction", "https://example.com/news/empty",
         "https://example.com/feed.xml", None, "body of 0 chars (minimum 200)"),
        ("skip", "extract", "empty_extraction", "https://example.com/news/short",
         "https://example.com/feed.xml", None, "body of 26 chars (minimum 200)"),
        ("error", "extract", "RuntimeError", "https://example.com/news/broken",
         "https://example.com/feed.xml", "RuntimeError", "parser exploded"),
    ])
    assert counters == {"extract.articles": 1, "extract.skipped.empty_extraction": 2, "extract.failed": 1}


def test_extract_articles_with_a_process_pool_gives_the_same_outputs() -> None:
    good = make_page("https://example.com/news/bridge", GOOD_HTML, summary="Teaser.")
    pages = [good, make_page("https://example.com/news/empty", "")]
    counters = run_stage(pages, 2, [expected_good(good)], [
        ("skip", "extract", "empty_extraction", "https://example.com/news/empty",
         "https://example.com/feed.xml", None, "body of 0 chars (minimum 200)"),
    ])
    assert counters == {"extract.articles": 1, "extract.skipped.empty_extraction": 1}


def test_negative_workers_are_refused() -> None:
    with pytest.raises(ValueError, match="workers must be >= 0"):
        ExtractArticles(workers=-1)


@pytest.mark.parametrize("workers", [0, 2])
def test_outputs_keep_their_page_timestamps(workers: int) -> None:
    good = make_page("https://example.com/news/bridge", GOOD_HTML, summary="Teaser.")
    empty = make_page("https://example.com/news/empty", "")
    stamped = [(good, 1_700_000_000), (empty, 1_700_000_500)]
    pipeline = test_pipeline.TestPipeline(runner="FnApiRunner")
    outputs = (pipeline | beam.Create(stamped) | beam.MapTuple(TimestampedValue)
               | ExtractArticles(workers=workers))

    def with_time(item: Any, ts: Any = beam.DoFn.TimestampParam) -> tuple[str, float]:
        return item.url, float(ts)

    assert_that(outputs.articles | "ArticleTime" >> beam.Map(with_time),
                equal_to([("https://example.com/news/bridge", 1_700_000_000.0)]), label="articles")
    assert_that(outputs[REJECTED] | "RejectedTime" >> beam.Map(with_time),
                equal_to([("https://example.com/news/empty", 1_700_000_500.0)]), label="rejected")
    pipeline.run().wait_until_finish()
