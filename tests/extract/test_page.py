"""extract_page on pages written here: JSON-LD agreement, teasers, dates, site rules, trimming."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import lxml.html
import pytest

from newsflow.transforms.extract import dates
from newsflow.transforms.extract.domain_rules import DomainRule, register_rule
from newsflow.transforms.extract.page import (
    choose_title,
    extract_page,
    fix_mojibake,
    jsonld_body_text,
    points_to_full_text_elsewhere,
    trim_body,
)
from newsflow.transforms.urls import canonical_of

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
URL = "https://www.example.com/news/bridge"
PARAS = [
    "The old harbour bridge reopened to traffic on Monday morning after eighteen months of repairs, "
    "the city council said in a statement.",
    "Engineers replaced all of the steel cables and resurfaced the deck, which had been closed since "
    "a barge struck one of its piers in the spring of last year.",
    "Commuters who had faced a detour of more than forty minutes welcomed the news, although cyclists "
    "complained that the new lanes are narrower than before.",
    "The council said the total cost of the work came to 38 million euros, about a fifth more than the "
    "original estimate, because of delays in the delivery of materials.",
    "A second bridge further upstream is due to close for similar work next year, and the council "
    "promised to publish a detailed plan for diversions by the end of March.",
]
BODY = "\n".join(PARAS)


def page(head: str = "", after: str = "", paras: list[str] = PARAS) -> str:
    body = "".join(f"<p>{p}</p>" for p in paras)
    return ('<!DOCTYPE html><html lang="en-GB"><head><meta charset="utf-8">'
            f"<title>Harbour bridge reopens | Example Times</title>{head}</head><body>"
            '<header><nav><a href="/">Home</a> <a href="/world">World</a></nav></header>'
            f"<main><article><h1>Harbour bridge reopens</h1>{body}{after}</article></main>"
            "<footer><p>Example Times, 1 Quay Street</p></footer></body></html>")


def ld(obj: Any) -> str:
    return f'<script type="application/ld+json">{json.dumps(obj)}</script>'


@pytest.fixture
def htmldate_calls(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """Counts calls of the htmldate fallback (instrumentation only: the real function still runs)."""
    calls: list[str | None] = []
    real = dates.htmldate_extensive

    def counting(tree: Any, url: str | None, now: datetime) -> str | None:
        calls.append(url)
        return real(tree, url, now)

    monkeypatch.setattr(dates, "htmldate_extensive", counting)
    return calls


def test_plain_page_body_title_language_and_no_date(htmldate_calls: list[str | None]) -> None:
    result = extract_page(page(), URL, now=NOW)
    assert result is not None
    assert result.body == BODY  # the leading headline line is dropped
    assert result.title == "Harbour bridge reopens"  # "| Example Times" suffix removed
    assert result.language == "en"
    assert result.published_at is None
    assert result.partial is False
    assert result.signals == ["trafilatura_body"]
    assert htmldate_calls == [URL]


def test_jsonld_agreeing_body_headline_date_and_authors_are_used(htmldate_calls: list[str | None]) -> None:
    graph = {"@context": "https://schema.org", "@graph": [
        {"@type": "WebSite", "name": "Example Times"},
        {"@type": ["NewsArticle"], "headline": "Harbour bridge reopens after repairs",
         "datePublished": "2026-11-27T08:30:00+01:00",
         "author": [{"@type": "Person", "name": "Ana Silva"}, {"@type": "Person", "name": "Li Wei"}],
         "articleBody": "<p>" + "</p><p>".join(PARAS) + "</p>"},
    ]}
    result = extract_page(page(ld(graph)), URL, now=NOW)
    assert result is not None
    assert result.body == BODY
    assert result.title == "Harbour bridge reopens after repairs"
    assert result.authors == ["Ana Silva", "Li Wei"]
    assert result.published_at == datetime(2026, 11, 27, 7, 30, tzinfo=UTC)
    assert result.signals == ["jsonld", "jsonld_body", "jsonld_date"]
    assert htmldate_calls == []


def test_jsonld_body_recovers_paragraphs_trafilatura_cannot_see() -> None:
    # the page shows the whole article but only two paragraphs are in <p> elements trafilatura keeps
    visible = "".join(f"<div class='c'>{p}</div>" for p in PARAS[2:])
    article = {"@type": "NewsArticle", "headline": "Harbour bridge reopens", "articleBody": "\n\n".join(PARAS)}
    result = extract_page(page(ld(article), after=f"<aside>{visible}</aside>", paras=PARAS[:2]), URL, now=NOW)
    assert result is not None
    assert result.body == BODY
    assert "jsonld_body" in result.signals


def test_jsonld_body_that_disagrees_with_the_page_is_ignored() -> None:
    stale = {"@type": "NewsArticle", "headline": "Harbour bridge reopens",
             "datePublished": "2026-11-27T08:30:00Z",
             "articleBody": "Stocks fell sharply in early trading as investors worried about rising interest "
                            "rates and weak factory data from several large economies in Asia and Europe."}
    result = extract_page(page(ld(stale)), URL, now=NOW)
    assert result is not None
    assert result.body == BODY
    assert result.signals == ["jsonld", "jsonld_body_rejected", "jsonld_date"]


def test_jsonld_paywall_teaser_is_partial() -> None:
    article = {"@type": "NewsArticle", "headline": "Harbour bridge reopens", "isAccessibleForFree": "False",
               "hasPart": {"@type": "WebPageElement", "isAccessibleForFree": False,
                           "cssSelector": ".paywall"}}
    wall = '<div class="paywall"><p>Subscribe to continue reading this article.</p></div>'
    result = extract_page(page(ld(article), after=wall, paras=PARAS[:2]), URL, now=NOW)
    assert result is not None
    assert result.body == "\n".join(PARAS[:2])  # the prompt itself is trimmed
    assert result.partial is True
    assert result.signals[-3:] == ["jsonld_paywall", "subscribe_ending", "paywall_marker"]


def test_subscribe_prompt_after_a_short_body_is_partial_without_jsonld() -> None:
    prompt = "<p>Already a subscriber? Log in to continue reading the full story.</p>"
    result = extract_page(page(after=prompt, paras=PARAS[:1]), URL, now=NOW)
    assert result is not None
    assert result.partial is True
    assert "subscribe_ending" in result.signals


def test_japanese_members_only_ending_is_partial() -> None:
    prompt = "<p>［有料会員限定］ この記事は会員限定です。電子版に登録すると続きをお読みいただけます。</p>"
    result = extract_page(page(after=prompt, paras=PARAS[:1]), URL, now=NOW)
    assert result is not None
    assert (result.partial, "subscribe_ending" in result.signals) == (True, True)


def test_body_that_is_only_the_feed_summary_is_partial() -> None:
    result = extract_page(page(paras=PARAS[:1]), URL, feed_summary=PARAS[0], now=NOW)
    assert result is not None
    assert result.body == PARAS[0]
    assert result.partial is True
    assert result.signals[-1] == "feed_summary_only"


def test_body_much_shorter_than_jsonld_word_count_is_partial() -> None:
    article = {"@type": "NewsArticle", "headline": "Harbour bridge reopens", "wordCount": 900}
    result = extract_page(page(ld(article)), URL, now=NOW)
    assert result is not None and result.partial is True
    assert "shorter_than_wordcount" in result.signals


def test_complete_article_is_not_partial() -> None:
    article = {"@type": "NewsArticle", "headline": "Harbour bridge reopens", "isAccessibleForFree": True,
               "wordCount": 130}
    result = extract_page(page(ld(article)), URL, feed_summary="Bridge reopens after repairs.", now=NOW)
    assert result is not None and result.partial is False


def test_feed_date_and_page_date_of_one_instant_keep_the_page_offset(htmldate_calls: list[str | None]) -> None:
    head = '<meta property="article:published_time" content="2026-11-21T10:15:00+01:00">'
    feed_date = datetime(2026, 11, 21, 9, 15, tzinfo=UTC)  # feeds give UTC: the offset is lost there
    result = extract_page(page(head), URL, feed_published=feed_date, now=NOW)
    assert result is not None and result.dates is not None
    assert result.published_at == feed_date
    assert result.published_at.utcoffset() == timedelta(hours=1)
    assert (result.dates.source, result.dates.offset_min) == ("meta_date+feed_date", 60)
    assert result.signals[-1] == "meta_date"
    assert htmldate_calls == []


def test_feed_date_outvoted_by_page_sources_that_agree(htmldate_calls: list[str | None]) -> None:
    head = '<meta property="article:published_time" content="2026-11-20T10:00:00Z">'
    feed_date = datetime(2026, 11, 26, 9, 15, tzinfo=UTC)  # re-listed days later
    result = extract_page(page(head), "https://www.example.com/2026/11/20/bridge", feed_published=feed_date,
                          now=NOW)
    assert result is not None and result.dates is not None
    assert result.published_at == datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    assert result.dates.source == "meta_date+url_date"
    assert htmldate_calls == []  # two agreeing page sources outweigh the feed: no htmldate needed


def test_naive_feed_date_is_taken_as_utc() -> None:
    result = extract_page(page(), URL, feed_published=datetime(2026, 11, 21, 9, 15), now=NOW)
    assert result is not None
    assert result.published_at == datetime(2026, 11, 21, 9, 15, tzinfo=UTC)


def test_future_dates_are_dropped_and_the_next_source_used(htmldate_calls: list[str | None]) -> None:
    article = {"@type": "NewsArticle", "headline": "Harbour bridge reopens",
               "datePublished": "2027-01-01T00:00:00Z"}
    head = ld(article) + '<meta name="date" content="2026-11-25">'
    result = extract_page(page(head), URL, feed_published=datetime(2026, 12, 1, tzinfo=UTC), now=NOW)
    assert result is not None
    assert result.published_at == datetime(2026, 11, 25, tzinfo=UTC)
    assert result.signals[-1] == "meta_generic"
    assert htmldate_calls == [URL]  # a generic <meta name="date"> alone is weak: htmldate confirms it


def test_only_future_dates_give_no_date(htmldate_calls: list[str | None]) -> None:
    head = '<meta property="article:published_time" content="2026-11-29T08:00:00Z">'
    result = extract_page(page(head), URL, now=NOW)
    assert result is not None
    assert result.published_at is None
    assert htmldate_calls == []  # the page has a date, only an impossible one: no guessing


def test_meta_date_avoids_htmldate(htmldate_calls: list[str | None]) -> None:
    head = '<meta property="article:published_time" content="2026-11-27T18:05:00-05:00">'
    result = extract_page(page(head), URL, now=NOW)
    assert result is not None
    assert result.published_at == datetime(2026, 11, 27, 23, 5, tzinfo=UTC)
    assert result.signals == ["trafilatura_body", "meta_date"]
    assert htmldate_calls == []


def test_url_date_settles_the_day_without_htmldate(htmldate_calls: list[str | None]) -> None:
    dated = page(after="<p class='date'>Published 2026-11-26</p>")
    result = extract_page(dated, "https://example.com/news/2026/11/26/bridge", now=NOW)
    assert result is not None and result.dates is not None
    assert result.published_at == datetime(2026, 11, 26, tzinfo=UTC)
    assert result.dates.source == "url_date"  # confident alone: the date line is not even looked for
    assert htmldate_calls == []


def test_htmldate_runs_when_the_page_has_no_cheap_date(htmldate_calls: list[str | None]) -> None:
    dated = page(after="<p>Updated on 26 November 2026 at noon.</p>")
    result = extract_page(dated, URL, now=NOW)
    assert result is not None and result.dates is not None
    assert (result.published_at, result.dates.source) == (datetime(2026, 11, 26, tzinfo=UTC), "htmldate")
    assert htmldate_calls == [URL]


def test_metadata_from_open_graph_and_links() -> None:
    head = ('<meta property="og:title" content="Bridge reopens">'
            '<meta property="og:site_name" content="Example Times">'
            '<meta name="description" content="Repairs are finished.">'
            '<meta name="author" content="Ana Silva">'
            '<link rel="canonical" href="/news/bridge?x=1">')
    result = extract_page(page(head), URL, now=NOW)
    assert result is not None
    assert (result.title, result.site_name, result.description, result.authors, result.canonical_url) == (
        "Bridge reopens", "Example Times", "Repairs are finished.", ["Ana Silva"],
        "https://www.example.com/news/bridge?x=1")


def test_registered_domain_rule_prunes_and_selects_body_and_date() -> None:
    rules: dict[str, DomainRule] = {}
    register_rule("www.example.org", DomainRule(
        remove=("//p[@class='promo']",),
        body="//div[@id='story']",
        date="//span[@class='stamp']/@data-ts",
    ), rules)
    html = ("<html><head><title>Rule page</title></head><body><div id='story'>"
            + "".join(f"<p>{p}</p>" for p in PARAS[:3])
            + "<p class='promo'>Download our app for the best experience on your phone today.</p></div>"
            + "<div><p>Most read: ten things you missed this week in the city and beyond it.</p></div>"
            + "<span class='stamp' data-ts='2026-11-26T06:00:00Z'>yesterday</span></body></html>")
    result = extract_page(html, "https://news.example.org/a/1", now=NOW, rules=rules)
    assert result is not None
    assert result.body == "\n".join(PARAS[:3])
    assert result.published_at == datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
    assert result.signals == ["rule_prune", "rule_body", "rule_date"]
    without = extract_page(html, "https://news.example.org/a/1", now=NOW, rules={})
    assert without is not None and "rule_body" not in without.signals


def test_invalid_domain_rule_is_refused() -> None:
    with pytest.raises(ValueError, match="invalid XPath"):
        DomainRule(remove=("//p[",))


@pytest.mark.parametrize("html", ["", "   ", "<html><body></body></html>"])
def test_empty_pages_give_none(html: str) -> None:
    assert extract_page(html, URL, now=NOW) is None


def test_trailing_boilerplate_and_leading_title_are_trimmed() -> None:
    body = "\n".join(["Harbour bridge reopens", *PARAS, "Share this article", "Advertisement",
                      "© 2026 Example Times. All rights reserved."])
    assert trim_body(body, ["Harbour bridge reopens"]) == BODY


def test_jsonld_body_markup_and_double_escaping_are_decoded() -> None:
    raw = "<p>First &amp;quot;quoted&amp;quot; line.</p><p>Second<br>third &ndash; end</p>"
    assert jsonld_body_text(raw) == 'First "quoted" line.\nSecond\nthird – end'


def test_headline_kicker_and_deck_are_dropped_from_the_top() -> None:
    html = ('<html><head><title>Bridge | Example Times</title>'
            '<meta name="description" content="Eighteen months of work are over."></head><body><article>'
            "<h6>Transport</h6><h1>Harbour bridge reopens to traffic</h1>"
            "<h2>Eighteen months of work are over.</h2>"
            + "".join(f"<p>{p}</p>" for p in PARAS) + "</article></body></html>")
    result = extract_page(html, URL, now=NOW)
    assert result is not None
    assert result.body == BODY


def test_section_heading_under_the_headline_is_kept() -> None:
    html = ("<html><head><title>Results</title></head><body><article><h1>Weekend results</h1>"
            "<h2>Girls basketball</h2>" + "".join(f"<p>{p}</p>" for p in PARAS) + "</article></body></html>")
    result = extract_page(html, URL, now=NOW)
    assert result is not None
    assert result.body == "Girls basketball\n" + BODY


def test_link_lists_promos_and_stamps_are_trimmed() -> None:
    related = "".join(f'<li><a href="/s/{n}">Other story number {n} about the city</a></li>' for n in range(3))
    html = page(after=(
        '<p>Related: <a href="/x">Ferry prices rise again this winter</a></p>'
        "<p>Updated: Nov. 27, 2026</p>"
        "<p>Every bridge tells a story.Click To Tweet</p>"
        "<p>Follow us on Twitter and Facebook.</p>"
        f"<h3>More stories</h3><ul>{related}</ul>"))
    result = extract_page(html, URL, now=NOW)
    assert result is not None
    assert result.body == BODY + "\nUpdated: Nov. 27, 2026\nEvery bridge tells a story."


def test_mojibake_in_jsonld_body_is_repaired() -> None:
    assert fix_mojibake("Bolton \u00e2\x80\x94 Morrison’s caf\u00c3\u00a9, já") == "Bolton — Morrison’s café, já"


def test_paywall_markup_with_the_whole_article_served_is_not_partial() -> None:
    article = {"@type": "NewsArticle", "headline": "Harbour bridge reopens", "isAccessibleForFree": False,
               "hasPart": {"@type": "WebPageElement", "isAccessibleForFree": False, "cssSelector": ".paywall"}}
    html = page(ld(article)).replace("<article>", '<article><div class="paywall">').replace(
        "</article>", "</div></article>")
    result = extract_page(html, URL, now=NOW)
    assert result is not None
    assert result.body == BODY
    assert result.partial is False


def test_login_widget_classes_are_not_paywall_markers() -> None:
    widget = '<div class="paywall-header-wrap"><a class="paywall-login-link" href="/login">Login</a></div>'
    result = extract_page(page(paras=PARAS[:2]).replace("<body>", "<body>" + widget), URL, now=NOW)
    assert result is not None
    assert result.partial is False
    assert "paywall_marker" not in result.signals


def test_bylines_and_stamps_are_dropped_but_sentences_that_look_alike_are_kept() -> None:
    top = ["By Ana Silva and Li Wei", "Updated 7:30 p.m.", "3 min read"]
    assert trim_body("\n".join([*top, *PARAS]), []) == BODY
    sentence = "By Monday, officials said, the bridge will carry trams again."
    assert trim_body("\n".join([sentence, *PARAS]), []) == "\n".join([sentence, *PARAS])


def test_all_capitals_link_lines_are_dropped_but_capitals_subheads_kept() -> None:
    paras = [*PARAS[:2], '<a href="/app">CLICK HERE TO GET OUR NEWS APP</a>', "WHAT HAPPENS NEXT FOR COMMUTERS",
             *PARAS[2:]]
    result = extract_page(page(paras=paras), URL, now=NOW)
    assert result is not None
    assert result.body == "\n".join([*PARAS[:2], "WHAT HAPPENS NEXT FOR COMMUTERS", *PARAS[2:]])


@pytest.mark.parametrize(("declared", "expected"), [
    ("/news/bridge?x=1", "https://www.example.com/news/bridge?x=1"),
    ("https://other.example/original/story", "https://other.example/original/story"),
    ("https://www.example.com/", None),  # the front page declared on an article: ignored
    ("javascript:void(0)", None),
    (None, None),
])
def test_canonical_of(declared: str | None, expected: str | None) -> None:
    assert canonical_of(declared, URL) == expected


# ---------------------------------------------------------------- titles


@pytest.mark.parametrize(("feed_title", "page_title", "expected"), [
    ("Why Donald Trump won’t change", "Why Donald Trump won't change - CNN", "Why Donald Trump won’t change"),
    ("  Bridge  reopens\n", "Harbour bridge reopens", "Bridge reopens"),
    ("Harbour bridge reopens after eighteen months of…", "Harbour bridge reopens", "Harbour bridge reopens"),
    ("Harbour bridge reopens after eighteen months of...", "Harbour bridge reopens", "Harbour bridge reopens"),
    ("Harbour bridge reopens after…", None, "Harbour bridge reopens after…"),
    ("   ", "Harbour bridge reopens", "Harbour bridge reopens"),
    (None, None, None),
])
def test_the_feed_title_wins_unless_it_is_truncated_or_empty(feed_title: str | None, page_title: str | None,
                                                              expected: str | None) -> None:
    assert choose_title(feed_title, page_title) == expected


def test_extracted_title_is_the_feeds_and_the_body_still_loses_the_page_headline() -> None:
    result = extract_page(page(), URL, feed_title="Old harbour bridge open again", now=NOW)
    assert result is not None
    assert (result.title, result.body) == ("Old harbour bridge open again", BODY)
    cut = extract_page(page(), URL, feed_title="Old harbour bridge open again after eighteen…", now=NOW)
    assert cut is not None and cut.title == "Harbour bridge reopens"


# ---------------------------------------------------------------- pointers to the full text


@pytest.mark.parametrize("pointer", [
    "Read the full story at example.org/bridge",
    "Continue reading on Example Times.",
    "The full version of this interview is available at www.example.com/bridge",
    "Lesen Sie weiter auf example.de",
    "Lesen Sie eine längere Version des Interviews bei EXAMPLE ONLINE unter www.example.de/bruecke",
    "Lesen Sie den ganzen Artikel in der aktuellen Ausgabe.",
    "Lire la suite sur example.fr",
    "Retrouvez l’intégralité de l’entretien sur example.fr",
    "Lea la noticia completa en example.es",
    "Seguir leyendo",
])
def test_closing_pointer_to_the_full_text_elsewhere_is_partial(pointer: str) -> None:
    result = extract_page(page(after=f"<p>{pointer}</p>", paras=PARAS[:3]), URL, now=NOW)
    assert result is not None
    assert (result.partial, result.signals[-1]) == (True, "full_text_elsewhere")


def test_pointer_in_a_link_box_after_the_extracted_body_counts() -> None:
    tree = lxml.html.fromstring(page(after='<div class="byline">Interview: A. Example</div><div class="linkbox">'
                                     "<span>Lesen Sie eine längere Version unter</span> <a href='/x'>example.de/x</a>"
                                     "</div>", paras=PARAS[:2]))
    assert points_to_full_text_elsewhere("\n".join(PARAS[:2]), tree)
    far = lxml.html.fromstring(page(after="<p>" + "Filler words here. " * 30 + "</p><div>Lesen Sie weiter auf "
                                    "example.de</div>", paras=PARAS[:2]))
    assert not points_to_full_text_elsewhere("\n".join(PARAS[:2]), far)  # not right after the body


@pytest.mark.parametrize("ending", [
    "<p>Read more:</p><ul><li><a href='/a'>Tunnel plans delayed again</a></li>"
    "<li><a href='/b'>Cyclists want wider lanes</a></li></ul>",
    "<p>Lesen Sie auch: <a href='/c'>Die Brücke in Zahlen</a></p>",
    "<p>Read more about the city's bridges in our archive.</p>",
])
def test_full_article_ending_with_related_links_is_not_partial(ending: str) -> None:
    result = extract_page(page(after=ending), URL, now=NOW)
    assert result is not None
    assert (result.partial, "full_text_elsewhere" in result.signals) == (False, False)
