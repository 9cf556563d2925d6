"""Publication dates from every source a page has, decided by agreement between them.

Why not first-wins: each cheap source is wrong on some sites (a generic ``<meta name="date">`` that
is the crawl day, a JSON-LD time converted to UTC that moves the story to the previous day, a
``<time>`` of a related story), while a full date in the URL is almost always right. So every
source gives a candidate, each candidate votes for the calendar days it can mean with a weight that
says how reliable that kind of source is, and the day with most weight wins. htmldate's extensive
search (about 2.4 ms a page) votes only when the cheap sources are missing, weak or disagree.

The day that counts is the one a reader of the source saw: the day in the offset the source
states. A value given only in UTC (``Z``/``+00:00``, as feeds and many CMS write it) can mean
that UTC day or the one before or after; it is read in the site's own time zone when the site's
country or language pins one down (``site_zone``), else it votes for each day it can mean, the UTC
day most. The resolved value keeps the source's offset (``published_at`` is aware, in that offset;
``published_date`` is its calendar day; ``offset_min`` the offset in minutes, None when none was
stated nor inferred).

No date is better than a guess: a page without any date says None, and htmldate's own guesses
(1 January of a copyright year) count only when another source gives the same day.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil import parser as dateutil_parser
from htmldate import find_date
from htmldate.extractors import try_date_expr
from lxml import etree
from lxml.html import HtmlElement

from newsflow.transforms.clock import not_future

# ---------------------------------------------------------------- sources and their weights

FEED = "feed_date"
RULE = "rule_date"
JSONLD = "jsonld_date"
JSONLD_CREATED = "jsonld_created"
META = "meta_date"
META_GENERIC = "meta_generic"
ITEMPROP = "itemprop_date"
TIME = "time_date"
URL = "url_date"
TEXT = "text_date"
HTMLDATE = "htmldate"

WEIGHTS: Mapping[str, float] = {
    RULE: 2.0,  # a site rule written for this site
    URL: 1.2,  # a full date in the URL was right on 170 of 174 such pages
    FEED: 1.0, JSONLD: 1.0, META: 1.0,
    ITEMPROP: 0.9, HTMLDATE: 0.9,
    JSONLD_CREATED: 0.6, TEXT: 0.6, TIME: 0.5,
    META_GENERIC: 0.5,  # <meta name="date"> and kin: right on only 10 of 16 pages
}
"""How much one source's vote counts. Sources of one kind vote once per day (several meta keys
copied from one CMS field are one witness, not several)."""

CONFIDENT = 1.0
"""The winning day needs at least this much weight to be taken without htmldate's vote."""
DISSENT_SHARE = 0.5
"""htmldate also votes when sources against the winning day weigh this share of its weight."""
UTC_NEIGHBOUR_FACTOR = 0.6
"""Share of its weight a UTC-only time gives the neighbouring day its local time may fall on."""
UTC_WEST, UTC_EAST = timedelta(hours=-10), timedelta(hours=13)
"""The offsets between which nearly all news is published: the days a UTC time can mean locally."""
HTMLDATE_ECHO_SCALE = 1 / 3
"""htmldate reads the same meta tags and JSON-LD: when it names a day a page source already gives,
it mostly echoes that source, so its vote only breaks ties."""
MIN_YEAR = 1995

PUBLISHED_META_KEYS = (
    "article:published_time", "og:article:published_time", "article.published", "published_time",
    "datepublished", "og:published_time", "sailthru.date", "parsely-pub-date", "publishdate",
    "publish-date", "publish_date", "pubdate", "cxenseparse:recs:publishtime", "article_date_original",
    "originalpublicationdate", "citation_publication_date", "bt:pubdate", "dc.date.issued",
    "dcterms.issued", "article:published", "date_published", "publication_date",
)
GENERIC_META_KEYS = ("date", "dc.date", "dcterms.date", "datecreated", "dcterms.created",
                     "dc.date.created", "created", "dc.created")
MODIFIED_META_KEYS = ("article:modified_time", "og:updated_time", "datemodified", "article:modified",
                      "last-modified", "dcterms.modified", "dc.date.modified", "modified_time",
                      "lastmod", "revised")


@dataclass(frozen=True)
class ParsedDate:
    """One date value as the source wrote it: its calendar day in the source's own offset, and the
    instant when a time was given (aware, in the stated offset; a time without offset as UTC)."""

    day: date
    at: datetime | None = None
    offset_min: int | None = None
    """The offset the source stated, in minutes east of UTC; None for a bare date or a time
    without an offset (a local wall time whose day is still the local day)."""

    @property
    def utc_only(self) -> bool:
        """Whether the source stated a time in UTC: its local day may be the next or previous one."""
        return self.at is not None and self.offset_min == 0

    def days(self) -> dict[date, float]:
        """The calendar days this value can mean, with the share of a vote each gets."""
        votes = {self.day: 1.0}
        if self.utc_only and self.at is not None:
            for shift in (UTC_WEST, UTC_EAST):
                votes.setdefault((self.at + shift).date(), UTC_NEIGHBOUR_FACTOR)
        return votes


@dataclass(frozen=True)
class Candidate:
    """A date one source on the page gives: which source, where exactly (``key``), the value."""

    source: str
    key: str
    value: ParsedDate
    scale: float = 1.0

    @property
    def weight(self) -> float:
        return WEIGHTS[self.source] * self.scale


@dataclass
class ResolvedDate:
    """The publication date of a page and what decided it."""

    published_at: datetime | None = None
    """Aware, in the source's offset (UTC for a bare date: midnight of ``published_date``)."""
    published_date: date | None = None
    """The calendar day a reader of the source saw."""
    offset_min: int | None = None
    source: str | None = None
    """The source that gave ``published_at``, then the others that agree on the day, joined by "+"."""
    modified_at: datetime | None = None
    candidates: list[Candidate] = field(default_factory=list)
    used_htmldate: bool = False

    @property
    def winner(self) -> str | None:
        return self.source.split("+", 1)[0] if self.source else None


# ---------------------------------------------------------------- parsing one value

_COMPACT_OFFSET = re.compile(r"([+-]\d\d)(\d\d)$")
_SPACE_BEFORE_OFFSET = re.compile(r"\s+(?=[+-]\d\d:?\d\d$|Z$)")
_YYYYMMDD = re.compile(r"(\d{4})(\d{2})(\d{2})(?:T?(\d{2})(\d{2})(\d{2})?)?$")
_CJK_DATE = re.compile(r"((?:19|20)\d{2})\s*[年년]\s*(\d{1,2})\s*[月월]\s*(\d{1,2})\s*[日일]")
_HAS_LETTERS_OR_SLASH = re.compile(r"[A-Za-z/.]")
_TZ_ABBREVIATIONS = {name: hours * 3600 for name, hours in {
    "UTC": 0, "GMT": 0, "UT": 0, "Z": 0, "EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7,
    "MDT": -6, "PST": -8, "PDT": -7, "AKST": -9, "AKDT": -8, "HST": -10, "BST": 1, "CET": 1, "CEST": 2,
    "EET": 2, "EEST": 3, "MSK": 3, "IST": 5.5, "JST": 9, "KST": 9, "HKT": 8, "SGT": 8, "AEST": 10,
    "AEDT": 11, "ACST": 9.5, "AWST": 8, "NZST": 12, "NZDT": 13, "WIB": 7, "PHT": 8, "ICT": 7,
}.items()}
_SENTINELS = (datetime(1904, 2, 29, 3, 7, 11), datetime(1908, 1, 1, 5, 9, 13))
_MIN_NAIVE = datetime(MIN_YEAR, 1, 1)


def _offset_minutes(value: datetime) -> int | None:
    delta = value.utcoffset()
    return None if delta is None else int(delta.total_seconds() // 60)


def from_datetime(value: datetime) -> ParsedDate:
    """A datetime as a ParsedDate: aware values keep their offset, naive ones are a local wall
    time (the day is theirs; the instant is taken as UTC)."""
    if value.tzinfo is None:
        return ParsedDate(value.date(), value.replace(tzinfo=UTC), None)
    return ParsedDate(value.date(), value, _offset_minutes(value))


def _iso(text: str) -> datetime | None:
    text = text.replace("z", "Z")
    text = _SPACE_BEFORE_OFFSET.sub("", text)
    text = _COMPACT_OFFSET.sub(r"\1:\2", text) if re.search(r"\d[T ]\d", text) else text
    for candidate in (text, text.replace(" ", "T", 1)):
        try:
            return datetime.fromisoformat(candidate)
        except ValueError:
            continue
    return None


def _dateutil(text: str, day_first: bool) -> datetime | None:
    """dateutil's reading of ``text``, only when the text itself names year, month and day (dateutil
    fills what is missing from a default: two different defaults expose that)."""
    results = []
    if re.match(r"\d{4}\D", text):
        day_first = False  # year first is always year-month-day (2008/01/10: 10 January)
    for default in _SENTINELS:
        try:
            with warnings.catch_warnings():  # an unknown zone name leaves the time naive: a local wall time
                warnings.simplefilter("ignore", dateutil_parser.UnknownTimezoneWarning)
                results.append(dateutil_parser.parse(text, default=default, dayfirst=day_first,
                                                     tzinfos=_TZ_ABBREVIATIONS))
        except (ValueError, OverflowError, TypeError):
            return None
    first, second = results
    if first.date() != second.date():
        return None
    if (first.hour, first.minute, first.second) != (second.hour, second.minute, second.second):
        return first.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)  # date only
    return first


def parse_date_value(value: Any, *, day_first: bool = True) -> ParsedDate | None:
    """A date string as the source wrote it, keeping its offset: ISO 8601 (with ``Z``, ``+0100``,
    fractions, a space for ``T``), ``YYYYMMDD``, RFC 822 (``Tue, Sep 15 2020 10:01:41 EDT``), other
    English and numeric forms (``15.09.2020``, ``09/15/2020`` when ``day_first`` is False), and the
    localised forms htmldate knows (``15. September 2020``, ``2020年9月15日``: day only).

    Bare dates have no time and no offset; times without an offset keep their day (a local wall
    time) and are taken as UTC for the instant. None for anything that is not a full date."""
    if isinstance(value, datetime):
        return from_datetime(value)
    if not isinstance(value, str):
        return None
    text = " ".join(value.split())
    if not text or len(text) > 200:
        return None
    parsed = _parse_text(text, day_first)
    if parsed is None or parsed.day.year < MIN_YEAR:
        return None
    return parsed


def _parse_text(text: str, day_first: bool) -> ParsedDate | None:
    if (match := _YYYYMMDD.match(text)) is not None:
        try:
            day = date(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            return None
        if match[4] is None:
            return ParsedDate(day)
        try:
            return from_datetime(datetime(day.year, day.month, day.day, int(match[4]), int(match[5])))
        except ValueError:
            return ParsedDate(day)
    if (iso := _iso(text)) is not None:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return ParsedDate(iso.date())
        return from_datetime(iso)
    if (match := _CJK_DATE.search(text)) is not None:
        try:
            return ParsedDate(date(int(match[1]), int(match[2]), int(match[3])))
        except ValueError:
            return None
    if "," in text or re.search(r"[A-Za-z]{3}", text):
        try:
            rfc = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            rfc = None
        if rfc is not None and (rfc.tzinfo is not None or re.search(r"\d:\d\d", text)):
            return from_datetime(rfc)
    if (_HAS_LETTERS_OR_SLASH.search(text) or "-" in text) \
            and (parsed := _dateutil(text, day_first)) is not None:
        if parsed.tzinfo is None and parsed.hour == parsed.minute == parsed.second == 0 \
                and not re.search(r"\d:\d\d", text):
            return ParsedDate(parsed.date())
        return from_datetime(parsed)
    return _htmldate_expression(text)


def _htmldate_expression(text: str) -> ParsedDate | None:
    """htmldate's cheap reading of a date expression in many languages (no dateparser: it takes
    tens of milliseconds to seconds on its first calls)."""
    found = try_date_expr(text, "%Y-%m-%d", False, _MIN_NAIVE, datetime(2100, 1, 1))
    return ParsedDate(date.fromisoformat(found)) if found else None


# ---------------------------------------------------------------- the page's sources

_URL_DATE = re.compile(
    r"(?<![\d])((?:19|20)\d{2})([/_.-]?)(0[1-9]|1[0-2])\2(0[1-9]|[12]\d|3[01])(?![\d])")
_URL_DATE_NAMED = re.compile(r"(?<![\d])((?:19|20)\d{2})/(\d{1,2})/(\d{1,2})/")


def url_date(url: str | None) -> date | None:
    """The full date in a URL's path (``/2020/09/15/``, ``/2020-09-15-``, ``/20200915/``), or None.

    Compact ``YYYYMMDD`` counts only as a whole path segment or between separators, so that a long
    article number is not read as a date."""
    if not url:
        return None
    path = urlsplit(url).path
    for match in _URL_DATE.finditer(path):
        if not match[2]:  # compact: must stand alone between separators
            before = path[match.start() - 1] if match.start() else "/"
            after = path[match.end()] if match.end() < len(path) else "/"
            if before.isalnum() or after.isalnum():
                continue
        try:
            return date(int(match[1]), int(match[3]), int(match[4]))
        except ValueError:
            continue
    if (named := _URL_DATE_NAMED.search(path)) is not None:
        try:
            return date(int(named[1]), int(named[2]), int(named[3]))
        except ValueError:
            return None
    return None


_TIME_XPATH = etree.XPath("//time[@datetime]")
_ITEMPROP_XPATH = etree.XPath("//*[@itemprop]")
_NAMED_XPATH = etree.XPath("//body//*[@class or @id]")
_DATE_LINE_NAME = re.compile(r"date|publish|posted|byline|dateline|timestamp|datum|fecha|time", re.I)
_ITEMPROPS = frozenset({"datePublished", "dateCreated", "dateModified"})
_NOT_DATE_LINES = frozenset({"script", "style", "meta", "time", "html", "body", "head", "link"})
DATE_LINE_MAX_CHARS = 120
MAX_DATE_LINES = 6
"""Date lines are looked for in the first few short elements so named (the byline area)."""
MAX_NAMED_ELEMENTS = 300
"""Elements with a class or id looked at, in document order: a byline sits in the first few hundred."""
MAX_DATE_LINE_ELEMENTS = 40
"""Elements so named that are looked at, at most (their text is read, which costs)."""


def _attribute_value(element: HtmlElement) -> str | None:
    for name in ("content", "datetime"):
        if (value := element.get(name)) and value.strip():
            return value
    text = element.text_content().strip()
    return text if 0 < len(text) <= DATE_LINE_MAX_CHARS else None


def itemprop_values(tree: HtmlElement) -> dict[str, str]:
    """The first ``datePublished``/``dateCreated``/``dateModified`` microdata value of any element
    (``<span itemprop=... content=...>``, ``<time itemprop=... datetime=...>``, or its text)."""
    found: dict[str, str] = {}
    for element in _ITEMPROP_XPATH(tree):
        prop = element.get("itemprop")
        if prop in _ITEMPROPS and prop not in found and (value := _attribute_value(element)):
            found[prop] = value
    return found


def time_values(tree: HtmlElement) -> list[str]:
    """``datetime`` values of the page's ``<time>`` elements marked as the publication time
    (``pubdate``, a class or parent naming publishing), else of the first ``<time>`` only."""
    elements = _TIME_XPATH(tree)
    marked = [el for el in elements if el.get("pubdate") is not None
              or re.search(r"publish|posted|pubdate|created", (el.get("class") or "") + " "
                           + (el.getparent().get("class") or "" if el.getparent() is not None else ""), re.I)]
    chosen = marked[:1] or elements[:1]
    return [el.get("datetime") for el in chosen]


def _short_text(element: HtmlElement) -> str | None:
    """The element's text on one line, or None as soon as it grows past a date line's length
    (a container of the whole article is not read to its end)."""
    chunks: list[str] = []
    size = 0
    for chunk in element.itertext():
        size += len(chunk)
        if size > 4 * DATE_LINE_MAX_CHARS:
            return None
        chunks.append(chunk)
    return " ".join("".join(chunks).split())


def date_lines(tree: HtmlElement) -> list[str]:
    """Short texts of the first elements whose class or id names a date or byline: the visible
    "Published 15 September 2020" lines under a headline."""
    lines: list[str] = []
    looked = 0
    for element in _NAMED_XPATH(tree)[:MAX_NAMED_ELEMENTS]:
        if element.tag in _NOT_DATE_LINES \
                or not _DATE_LINE_NAME.search(f"{element.get('class', '')} {element.get('id', '')}"):
            continue
        looked += 1
        text = _short_text(element)
        if text and len(text) <= DATE_LINE_MAX_CHARS and sum(c.isdigit() for c in text) >= 4 \
                and text not in lines:
            lines.append(text)
        if len(lines) >= MAX_DATE_LINES or looked >= MAX_DATE_LINE_ELEMENTS:
            break
    return lines


# ---------------------------------------------------------------- local conventions

_DMY_TLDS = frozenset({"uk", "ie", "au", "nz", "in", "za", "ng", "ke", "pk", "sg", "my", "gh"})
_MDY_TLDS = frozenset({"us", "ph"})


def day_first(language: str | None, url: str | None) -> bool:
    """Whether numeric dates on the page are day-first (``05/09/2020`` = 5 September): everywhere
    but on English-language sites outside the day-first countries (the US convention)."""
    tld = (urlsplit(url).hostname or "").rsplit(".", 1)[-1] if url else ""
    if tld in _MDY_TLDS:
        return False
    return not (language == "en" and tld not in _DMY_TLDS)


TLD_ZONES: Mapping[str, str] = {
    "jp": "Asia/Tokyo", "kr": "Asia/Seoul", "cn": "Asia/Shanghai", "tw": "Asia/Taipei",
    "hk": "Asia/Hong_Kong", "sg": "Asia/Singapore", "my": "Asia/Kuala_Lumpur", "ph": "Asia/Manila",
    "th": "Asia/Bangkok", "vn": "Asia/Ho_Chi_Minh", "in": "Asia/Kolkata", "pk": "Asia/Karachi",
    "bd": "Asia/Dhaka", "np": "Asia/Kathmandu", "lk": "Asia/Colombo", "ir": "Asia/Tehran",
    "il": "Asia/Jerusalem", "tr": "Europe/Istanbul", "ae": "Asia/Dubai", "sa": "Asia/Riyadh",
    "qa": "Asia/Qatar", "eg": "Africa/Cairo", "za": "Africa/Johannesburg", "ng": "Africa/Lagos",
    "ke": "Africa/Nairobi", "nz": "Pacific/Auckland", "de": "Europe/Berlin", "at": "Europe/Vienna",
    "ch": "Europe/Zurich", "fr": "Europe/Paris", "it": "Europe/Rome", "es": "Europe/Madrid",
    "nl": "Europe/Amsterdam", "be": "Europe/Brussels", "pl": "Europe/Warsaw", "cz": "Europe/Prague",
    "sk": "Europe/Bratislava", "hu": "Europe/Budapest", "ro": "Europe/Bucharest", "bg": "Europe/Sofia",
    "gr": "Europe/Athens", "fi": "Europe/Helsinki", "se": "Europe/Stockholm", "no": "Europe/Oslo",
    "dk": "Europe/Copenhagen", "ua": "Europe/Kyiv", "pt": "Europe/Lisbon", "ie": "Europe/Dublin",
    "uk": "Europe/London", "hr": "Europe/Zagreb", "rs": "Europe/Belgrade", "si": "Europe/Ljubljana",
    "lt": "Europe/Vilnius", "lv": "Europe/Riga", "ee": "Europe/Tallinn", "ar": "America/Argentina/Buenos_Aires",
    "cl": "America/Santiago", "co": "America/Bogota", "pe": "America/Lima", "mx": "America/Mexico_City",
    "ve": "America/Caracas", "uy": "America/Montevideo",
}
"""Countries (by top-level domain) that keep one time zone, or whose press keeps the capital's."""
LANGUAGE_ZONES: Mapping[str, str] = {
    "ja": "Asia/Tokyo", "ko": "Asia/Seoul", "zh": "Asia/Shanghai", "th": "Asia/Bangkok",
    "vi": "Asia/Ho_Chi_Minh", "id": "Asia/Jakarta", "hi": "Asia/Kolkata", "mr": "Asia/Kolkata",
    "ta": "Asia/Kolkata", "te": "Asia/Kolkata", "ml": "Asia/Kolkata", "kn": "Asia/Kolkata",
    "gu": "Asia/Kolkata", "fa": "Asia/Tehran", "he": "Asia/Jerusalem", "tr": "Europe/Istanbul",
    "de": "Europe/Berlin", "it": "Europe/Rome", "nl": "Europe/Amsterdam", "pl": "Europe/Warsaw",
    "cs": "Europe/Prague", "sk": "Europe/Bratislava", "hu": "Europe/Budapest", "ro": "Europe/Bucharest",
    "bg": "Europe/Sofia", "el": "Europe/Athens", "fi": "Europe/Helsinki", "sv": "Europe/Stockholm",
    "da": "Europe/Copenhagen", "nb": "Europe/Oslo", "no": "Europe/Oslo", "uk": "Europe/Kyiv",
    "hr": "Europe/Zagreb", "sl": "Europe/Ljubljana", "lt": "Europe/Vilnius", "lv": "Europe/Riga",
    "et": "Europe/Tallinn", "ru": "Europe/Moscow",
}
"""Languages whose press sits almost all in one time zone (not en, es, pt, fr, ar: spread wide)."""


@lru_cache(maxsize=64)
def _zone(name: str) -> tzinfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def site_zone(url: str | None, language: str | None) -> tzinfo | None:
    """The time zone a site's readers live in, when its country domain or its language pins one
    down; None for generic domains in widely spread languages."""
    host = (urlsplit(url).hostname or "") if url else ""
    labels = host.split(".")
    tld = labels[-1] if labels else ""
    name = TLD_ZONES.get(tld) or LANGUAGE_ZONES.get(language or "")
    return _zone(name) if name else None


def in_zone(value: ParsedDate, zone: tzinfo | None) -> ParsedDate:
    """A UTC-only time read in the site's zone (its day is then the local day); others unchanged."""
    if zone is None or not value.utc_only or value.at is None:
        return value
    local = value.at.astimezone(zone)
    fixed = local.astimezone(timezone(local.utcoffset() or timedelta(0)))
    return ParsedDate(fixed.date(), fixed, _offset_minutes(fixed))


# ---------------------------------------------------------------- gathering and deciding


def page_candidates(
    *, tags: Mapping[str, str], jsonld_dates: Mapping[str, str], itemprops: Mapping[str, str],
    times: Iterable[str], lines: Iterable[str], url: str | None, feed_published: datetime | None,
    rule_text: str | None, day_first: bool,
) -> list[Candidate]:
    """Every publication-date candidate of a page, from the values its sources carry (pure)."""
    found: list[Candidate] = []

    def add(source: str, key: str, raw: Any) -> None:
        if (value := parse_date_value(raw, day_first=day_first)) is not None:
            found.append(Candidate(source, key, value))

    if feed_published is not None:
        add(FEED, "entry", feed_published)
    if rule_text:
        add(RULE, "rule", rule_text)
    add(JSONLD, "datePublished", jsonld_dates.get("datePublished"))
    add(JSONLD_CREATED, "dateCreated", jsonld_dates.get("dateCreated"))
    for key in PUBLISHED_META_KEYS:
        add(META, key, tags.get(key))
    for key in GENERIC_META_KEYS:
        add(META_GENERIC, key, tags.get(key))
    add(ITEMPROP, "datePublished", itemprops.get("datePublished"))
    for raw in times:
        add(TIME, "time", raw)
    if (day := url_date(url)) is not None:
        found.append(Candidate(URL, "path", ParsedDate(day)))
    for line in lines:
        before = len(found)
        add(TEXT, "line", line)
        if len(found) > before:
            break  # the first date line is the byline's; later ones belong to other stories
    return found


def not_future_value(value: ParsedDate, now: datetime) -> bool:
    """Whether a value passes the one future rule: its instant (a bare date: midnight UTC of its
    day) is not after ``now``."""
    at = value.at or datetime(value.day.year, value.day.month, value.day.day, tzinfo=UTC)
    return not_future(at, now) is not None


def day_scores(candidates: Iterable[Candidate]) -> dict[date, float]:
    """Weight of the votes for each day; each source votes once per day (its strongest vote)."""
    best: dict[tuple[str, date], float] = {}
    for candidate in candidates:
        for day, share in candidate.value.days().items():
            key = (candidate.source, day)
            best[key] = max(best.get(key, 0.0), share * candidate.weight)
    scores: dict[date, float] = {}
    for (_, day), weight in best.items():
        scores[day] = scores.get(day, 0.0) + weight
    return scores


def choose_day(candidates: list[Candidate]) -> tuple[date | None, float, float]:
    """The day with most weight (the earliest on a tie: the original publication, not an update),
    its weight, and the weight of the sources that do not vote for it at all."""
    scores = day_scores(candidates)
    if not scores:
        return None, 0.0, 0.0
    day = min(scores, key=lambda d: (-round(scores[d], 6), d))
    dissent: dict[str, float] = {}
    for candidate in candidates:
        if day not in candidate.value.days():
            dissent[candidate.source] = max(dissent.get(candidate.source, 0.0), candidate.weight)
    supporters = {c.source for c in candidates if day in c.value.days()}
    return day, scores[day], sum(w for s, w in dissent.items() if s not in supporters)


def needs_htmldate(candidates: list[Candidate]) -> bool:
    """Whether the cheap sources leave the day open: none, only weak ones, or a strong dissent."""
    day, weight, dissent = choose_day(candidates)
    return day is None or weight < CONFIDENT or dissent >= DISSENT_SHARE * weight


def htmldate_extensive(tree: HtmlElement, url: str | None, now: datetime) -> str | None:
    """htmldate's extensive search for the original date (YYYY-MM-DD), never after ``now``."""
    return find_date(tree, extensive_search=True, original_date=True, url=url,
                     max_date=now.astimezone(UTC).strftime("%Y-%m-%d"))


def htmldate_candidate(found: str | None, others: list[Candidate]) -> Candidate | None:
    """htmldate's date as a vote; its fallbacks for pages without a day (1 January of a copyright
    or a lone year) only count when another source gives that very day."""
    if not found:
        return None
    value = parse_date_value(found)
    if value is None:
        return None
    echo = any(value.day in c.value.days() for c in others)
    if (value.day.month, value.day.day) == (1, 1) and not echo:
        return None
    return Candidate(HTMLDATE, "echo", value, HTMLDATE_ECHO_SCALE) if echo else Candidate(HTMLDATE, "extensive", value)


def _representative(day: date, candidates: list[Candidate]) -> Candidate:
    """The candidate that gives the day's time: a time with a stated offset on that very day first,
    then a UTC time, a local wall time, a bare date; the weightier source within each."""
    def rank(c: Candidate) -> tuple[int, bool, float]:
        value = c.value
        if value.day != day:
            tier = 4  # a UTC time whose local day is the neighbouring one
        elif value.at is not None and value.offset_min not in (None, 0):
            tier = 0
        elif value.utc_only:
            tier = 1
        elif value.at is not None:
            tier = 2
        else:
            tier = 3
        return tier, c.source == HTMLDATE, -c.weight  # htmldate confirms; a page source is named
    return min((c for c in candidates if day in c.value.days()), key=rank)


def resolve(candidates: list[Candidate], now: datetime, *, zone: tzinfo | None = None,
            extensive: Any = None) -> ResolvedDate:
    """The publication date the candidates agree on (pure but for ``extensive``, the htmldate call,
    made only when ``needs_htmldate``). Candidates after ``now`` are dropped first; UTC-only times
    are read in ``zone`` when given."""
    kept = [Candidate(c.source, c.key, in_zone(c.value, zone), c.scale) for c in candidates
            if not_future_value(c.value, now)]
    result = ResolvedDate(candidates=kept)
    if candidates and not kept:
        return result  # the page states dates, only impossible ones: do not guess another
    if extensive is not None and needs_htmldate(kept):
        result.used_htmldate = True
        vote = htmldate_candidate(extensive(), kept)
        if vote is not None and not_future_value(vote.value, now):
            kept.append(vote)
    day, _, _ = choose_day(kept)
    if day is None:
        return result
    chosen = _representative(day, kept)
    value = chosen.value
    if value.at is not None and value.day == day:
        result.published_at, result.offset_min = value.at, value.offset_min
    elif value.at is not None:  # a UTC time whose local day is the neighbouring one: keep the instant
        result.published_at = value.at
    else:
        result.published_at = datetime(day.year, day.month, day.day, tzinfo=UTC)
    result.published_date = day
    agreeing = sorted({c.source for c in kept if day in c.value.days()} - {chosen.source},
                      key=lambda s: (-WEIGHTS[s], s))
    result.source = "+".join([chosen.source, *agreeing])
    return result


def modified_at(tags: Mapping[str, str], jsonld_dates: Mapping[str, str], itemprops: Mapping[str, str],
                published: datetime | None, now: datetime) -> datetime | None:
    """When the page says it was last changed (JSON-LD ``dateModified``, modified meta tags,
    microdata), aware in its own offset; None when absent, after ``now`` or before publication."""
    raws = [jsonld_dates.get("dateModified"), itemprops.get("dateModified"),
            *(tags.get(key) for key in MODIFIED_META_KEYS)]
    for raw in raws:
        value = parse_date_value(raw)
        if value is None:
            continue
        at = value.at or datetime(value.day.year, value.day.month, value.day.day, tzinfo=UTC)
        if not_future(at, now) is None:
            continue
        if published is not None and (value.day < published.date() if value.at is None else at < published):
            return None  # a "modified" time before publication is some other field's value
        return at
    return None


def resolve_page_date(
    tree: HtmlElement, *, tags: Mapping[str, str], jsonld_dates: Mapping[str, str], url: str | None,
    language: str | None, feed_published: datetime | None, rule_text: str | None, now: datetime,
) -> ResolvedDate:
    """The publication date of a parsed page from all its sources, and its modification time.

    ``tags`` are the page's meta tags (``metadata.meta_tags``), ``jsonld_dates`` the raw date
    fields of its own JSON-LD article. htmldate's extensive search runs only when the cheap
    sources do not settle the day."""
    itemprops = itemprop_values(tree)
    first = day_first(language, url)
    candidates = page_candidates(
        tags=tags, jsonld_dates=jsonld_dates, itemprops=itemprops, times=time_values(tree),
        lines=(), url=url, feed_published=feed_published, rule_text=rule_text, day_first=first)
    if needs_htmldate(candidates) or any(c.value.utc_only for c in candidates):
        # the visible date line (about 2 ms to find) votes when the day is open or only given in UTC
        candidates += page_candidates(tags={}, jsonld_dates={}, itemprops={}, times=(), lines=date_lines(tree),
                                      url=None, feed_published=None, rule_text=None, day_first=first)
    result = resolve(candidates, now, zone=site_zone(url, language),
                     extensive=lambda: htmldate_extensive(tree, url, now))
    result.modified_at = modified_at(tags, jsonld_dates, itemprops, result.published_at, now)
    return result
