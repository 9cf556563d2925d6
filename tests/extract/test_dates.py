"""The date resolver on small pages written here, one test per error class of issue #17."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from newsflow.transforms.clock import not_future
from newsflow.transforms.extract import dates
from newsflow.transforms.extract.dates import ParsedDate, parse_date_value, url_date
from newsflow.transforms.extract.extract_articles import build_article
from newsflow.transforms.extract.page import extract_page
from newsflow.transforms.items import Entry, Page, Rejection

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
TEXT = {
    "en": ["The old harbour bridge reopened to traffic on Monday morning after eighteen months of repairs.",
           "Engineers replaced all of the steel cables and resurfaced the deck of the old bridge.",
           "Commuters who had faced a long detour welcomed the news, although cyclists complained."],
    "ja": ["港の古い橋が十八か月の修理を終え、月曜日の朝に通行を再開したと市が発表した。",
           "技術者たちは鋼製ケーブルをすべて交換し、橋の路面を舗装し直したという。",
           "長い迂回を強いられていた通勤者は歓迎したが、自転車利用者からは不満の声も出た。"],
    "de": ["Die alte Hafenbrücke ist nach achtzehn Monaten Reparatur am Montagmorgen wieder freigegeben worden.",
           "Ingenieure haben alle Stahlseile ersetzt und die Fahrbahn der Brücke erneuert.",
           "Pendler, die lange Umwege fahren mussten, begrüßten die Nachricht, Radfahrer klagten jedoch."],
    "es": ["El viejo puente del puerto reabrió al tráfico el lunes por la mañana tras dieciocho meses de obras.",
           "Los ingenieros sustituyeron todos los cables de acero y renovaron el firme del puente.",
           "Los conductores que sufrían un largo desvío celebraron la noticia, aunque los ciclistas se quejaron."],
}


def html(lang: str = "en", head: str = "", top: str = "", foot: str = "") -> str:
    body = "".join(f"<p>{p}</p>" for p in TEXT[lang])
    return (f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8"><title>Bridge</title>{head}</head>'
            f"<body><main><article><h1>Bridge</h1>{top}{body}</article></main><footer>{foot}</footer>"
            "</body></html>")


def ld(**fields: Any) -> str:
    return '<script type="application/ld+json">' + json.dumps({"@type": "NewsArticle", **fields}) + "</script>"


@pytest.fixture
def htmldate_calls(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """Counts htmldate's extensive search (instrumentation only: the real function still runs)."""
    calls: list[str | None] = []
    real = dates.htmldate_extensive

    def counting(tree: Any, url: str | None, now: datetime) -> str | None:
        calls.append(url)
        return real(tree, url, now)

    monkeypatch.setattr(dates, "htmldate_extensive", counting)
    return calls


def resolved(page_html: str, url: str, **kwargs: Any) -> tuple[date | None, int | None, str | None]:
    result = extract_page(page_html, url, now=kwargs.pop("now", NOW), **kwargs)
    assert result is not None and result.dates is not None
    if result.published_at is not None:  # the aware value's own day is the local day
        assert result.published_at.date() == result.dates.published_date or result.dates.offset_min is None
    return result.dates.published_date, result.dates.offset_min, result.dates.source


# ---------------------------------------------------------------- parsing values


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-11-27T07:00:00+09:00", ParsedDate(date(2026, 11, 27), datetime(2026, 11, 27, 7, tzinfo=timezone(timedelta(hours=9))), 540)),
    ("2026-11-27T07:00:00+0900", ParsedDate(date(2026, 11, 27), datetime(2026, 11, 27, 7, tzinfo=timezone(timedelta(hours=9))), 540)),
    ("2026-11-26T22:00:00Z", ParsedDate(date(2026, 11, 26), datetime(2026, 11, 26, 22, tzinfo=UTC), 0)),
    ("2026-11-27", ParsedDate(date(2026, 11, 27))),
    ("20261127", ParsedDate(date(2026, 11, 27))),
    ("Tue, Sep 15 2020 10:01:41 EDT", ParsedDate(date(2020, 9, 15), datetime(2020, 9, 15, 10, 1, 41, tzinfo=timezone(timedelta(hours=-4))), -240)),
    ("Tue, 15 Sep 2020 10:01:41 +0200", ParsedDate(date(2020, 9, 15), datetime(2020, 9, 15, 10, 1, 41, tzinfo=timezone(timedelta(hours=2))), 120)),
    ("15.09.2020", ParsedDate(date(2020, 9, 15))),
    ("05/09/2020", ParsedDate(date(2020, 9, 5))),  # day first by default
    ("2008/01/10", ParsedDate(date(2008, 1, 10))),  # year first: never year-day-month
    ("2013/04/05 13:25:05", ParsedDate(date(2013, 4, 5), datetime(2013, 4, 5, 13, 25, 5, tzinfo=UTC), None)),
    ("15. September 2020", ParsedDate(date(2020, 9, 15))),
    ("2020年9月15日 10:00", ParsedDate(date(2020, 9, 15))),
    ("2020-09-15 10:01:41", ParsedDate(date(2020, 9, 15), datetime(2020, 9, 15, 10, 1, 41, tzinfo=UTC), None)),
    ("September 2020", None), ("2020", None), ("yesterday", None), ("", None), (None, None), (42, None),
])
def test_parse_date_value_keeps_the_offset(text: object, expected: ParsedDate | None) -> None:
    assert parse_date_value(text) == expected


def test_numeric_dates_follow_the_site_convention() -> None:
    assert parse_date_value("05/09/2020", day_first=False) == ParsedDate(date(2020, 5, 9))
    assert dates.day_first("en", "https://www.example.com/a") is False
    assert dates.day_first("en", "https://www.example.co.uk/a") is True
    assert dates.day_first("de", "https://www.example.com/a") is True


@pytest.mark.parametrize(("url", "expected"), [
    ("https://ex.com/2020/09/15/bridge-reopens", date(2020, 9, 15)),
    ("https://ex.com/news/2020-09-15-bridge", date(2020, 9, 15)),
    ("https://ex.com/20200915/bridge", date(2020, 9, 15)),
    ("https://ex.com/2020/9/5/bridge", date(2020, 9, 5)),
    ("https://ex.com/story/120200915777", None),  # an article number, not a date
    ("https://ex.com/2020/09/bridge", None),  # no day
    ("https://ex.com/2020/13/45/x", None),
    (None, None),
])
def test_url_date(url: str | None, expected: date | None) -> None:
    assert url_date(url) == expected


# ---------------------------------------------------------------- error classes of the issue


def test_offset_is_kept_not_converted_to_the_utc_day(htmldate_calls: list[str | None]) -> None:
    # class 1: newsflow's own UTC conversion moved a Tokyo morning story to the previous day
    page = html("ja", head=ld(headline="橋", datePublished="2026-11-27T07:00:00+09:00"))
    assert resolved(page, "https://www.example.jp/news/bridge") == (date(2026, 11, 27), 540, "jsonld_date")
    assert htmldate_calls == []


def test_utc_only_time_is_read_in_the_sites_zone() -> None:
    # class 2: the page gives only UTC; a .jp site's readers saw the next day
    page = html("ja", head='<meta property="article:published_time" content="2026-11-26T22:00:00Z">')
    assert resolved(page, "https://www.example.jp/news/bridge") == (date(2026, 11, 27), 540, "meta_date")
    # a generic domain in a widely spread language keeps the UTC day
    page = html("en", head='<meta property="article:published_time" content="2026-11-26T22:00:00Z">')
    assert resolved(page, "https://www.example.com/news/bridge") == (date(2026, 11, 26), 0, "meta_date")


def test_utc_only_time_takes_the_local_day_a_url_gives() -> None:
    page = html("en", head=ld(headline="Bridge", datePublished="2026-11-26T22:00:00Z"))
    day, offset, source = resolved(page, "https://www.example.com/2026/11/27/bridge")
    assert (day, offset, source) == (date(2026, 11, 27), None, "url_date+jsonld_date")


def test_no_metadata_date_falls_back_to_htmldate_extensive(htmldate_calls: list[str | None]) -> None:
    # class 3: no JSON-LD or meta date; the date is only in the running text
    page = html("de", top="<p>Veröffentlicht am 26.11.2026, 14:05 Uhr</p>")
    assert resolved(page, "https://www.example.de/bruecke") == (date(2026, 11, 26), None, "htmldate")
    assert htmldate_calls == ["https://www.example.de/bruecke"]


def test_url_date_outvotes_a_single_disagreeing_meta_date() -> None:
    # class 4: a full date in the URL is right almost always; a lone generic meta date is not
    page = html("en", head='<meta name="date" content="2026-11-20">')
    day, _, source = resolved(page, "https://www.example.com/2026/11/25/bridge")
    assert (day, source) == (date(2026, 11, 25), "url_date")


def test_rfc822_in_jsonld_is_parsed(htmldate_calls: list[str | None]) -> None:
    # class 5: formats not parsed
    page = html("en", head=ld(headline="Bridge", datePublished="Tue, Nov 24 2026 10:01:41 EST"))
    assert resolved(page, "https://www.example.com/news/bridge") == (date(2026, 11, 24), -300, "jsonld_date")
    assert htmldate_calls == []


def test_jsonld_date_created_and_itemprop_span_are_read() -> None:
    created = html("es", head=ld(headline="Puente", dateCreated="2026-11-24T09:00:00-03:00"),
                   top='<span itemprop="datePublished" content="2026-11-24T10:00:00-03:00"></span>')
    assert resolved(created, "https://www.example.com.ar/puente") == (
        date(2026, 11, 24), -180, "itemprop_date+jsonld_created")


def test_generic_meta_date_loses_to_the_published_time() -> None:
    page = html("en", head='<meta name="date" content="2026-11-27">'
                           '<meta property="article:published_time" content="2026-11-24T08:00:00-05:00">')
    day, offset, source = resolved(page, "https://www.example.com/news/bridge")
    assert (day, offset, source) == (date(2026, 11, 24), -300, "meta_date")


def test_visible_date_line_and_time_element_agree() -> None:
    page = html("de", top='<div class="article-date">26. November 2026</div>'
                          '<time datetime="2026-11-26T18:30:00+01:00">18:30</time>')
    assert resolved(page, "https://www.example.de/bruecke") == (date(2026, 11, 26), 60, "time_date+text_date")


def test_page_without_any_date_says_none(htmldate_calls: list[str | None]) -> None:
    # a copyright year is not a date: htmldate's 1 January guess does not count alone
    page = html("en", foot="<p>© 2025 Example Times. All rights reserved.</p>")
    result = extract_page(page, "https://www.example.com/news/bridge", now=NOW)
    assert result is not None and result.dates is not None
    assert (result.published_at, result.dates.published_date, result.dates.source) == (None, None, None)
    assert htmldate_calls == ["https://www.example.com/news/bridge"]


def test_no_date_in_the_future_of_the_fetch() -> None:
    page = html("en", head='<meta property="article:published_time" content="2026-11-28T12:00:01Z">')
    result = extract_page(page, "https://www.example.com/2026/11/29/bridge", now=NOW)
    assert result is not None and result.published_at is None
    on_time = html("en", head='<meta property="article:published_time" content="2026-11-28T12:00:00Z">')
    result = extract_page(on_time, "https://www.example.com/news/bridge", now=NOW)
    assert result is not None and result.published_at == NOW
    assert not_future(datetime(2026, 11, 28, 13), NOW) is None  # naive: taken as UTC


def test_modified_at_is_read_and_never_before_publication() -> None:
    page = html("en", head=ld(headline="Bridge", datePublished="2026-11-24T08:00:00-05:00",
                              dateModified="2026-11-25T09:30:00-05:00"))
    result = extract_page(page, "https://www.example.com/news/bridge", now=NOW)
    assert result is not None and result.dates is not None
    assert result.dates.modified_at == datetime(2026, 11, 25, 14, 30, tzinfo=UTC)
    stale = html("en", head=ld(headline="Bridge", datePublished="2026-11-24T08:00:00-05:00",
                               dateModified="2026-11-01T09:30:00-05:00"))
    result = extract_page(stale, "https://www.example.com/news/bridge", now=NOW)
    assert result is not None and result.dates is not None and result.dates.modified_at is None


def test_short_body_skip_keeps_the_known_date_in_its_message() -> None:
    # the dead-letter record has no date field: the message carries it
    short = ('<html lang="en"><head><meta property="article:published_time" content="2026-11-27T07:00:00+09:00">'
             "</head><body><article><p>Only a short note about the bridge.</p></article></body></html>")
    entry = Entry(feed_url="https://www.example.jp/feed", url="https://www.example.jp/news/bridge")
    page = Page(entry=entry, final_url=entry.url, html=short, fetched_at=NOW)
    result = build_article(page, extract_page(short, entry.url, now=NOW))
    assert isinstance(result, Rejection)
    assert result.message == ("body of 35 chars (minimum 200); published_at=2026-11-27T07:00:00+09:00 "
                              "published_date=2026-11-27 source=meta_date")


def test_resolve_decides_by_agreement_not_order() -> None:
    candidates = [
        dates.Candidate(dates.META_GENERIC, "date", ParsedDate(date(2026, 11, 20))),
        dates.Candidate(dates.JSONLD, "datePublished", ParsedDate(date(2026, 11, 25))),
        dates.Candidate(dates.URL, "path", ParsedDate(date(2026, 11, 25))),
    ]
    result = dates.resolve(candidates, NOW)
    assert (result.published_date, result.source, result.used_htmldate) == (
        date(2026, 11, 25), "url_date+jsonld_date", False)
    assert dates.needs_htmldate(candidates[:1]) is True  # a weak source alone asks htmldate
    assert dates.needs_htmldate(candidates[1:]) is False
