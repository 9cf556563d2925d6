"""Pure feed parsing: bytes in, entries out. No network, no Beam.

``parse_feed`` recognises RSS/Atom/RDF (through feedparser, always on bytes it is handed, never on
a URL it could fetch), JSON Feed 1.x, sitemaps (``newsflow.transforms.feeds.sitemaps``) and HTML pages
(whose feed links it reports for discovery). XML that declares entities other than small internal
literals is refused before any parser sees it. Entries come out with absolute links, plain-text titles and summaries and UTC
dates; entries that cannot be used are returned as ``Rejection`` skips, never dropped.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from time import struct_time
from typing import Any, Literal

import feedparser
import feedparser.encodings
from defusedxml import DefusedXmlException

from newsflow.transforms.clock import not_future
from newsflow.transforms.feeds import discovery, sitemaps
from newsflow.transforms.items import FEEDS_STAGE, Entry, Rejection, utcnow
from newsflow.transforms.urls import absolute_http_url, is_http_url, normalize_url

FeedKind = Literal["rss", "atom", "rdf", "json", "sitemap", "html", "unknown"]

ENTRY_WITHOUT_LINK = "entry_without_link"
DUPLICATE_IN_FEED = "duplicate_in_feed"
XML_ENTITIES_REFUSED = "xml_entities_refused"

UPDATE_PERIOD_S = {"hourly": 3600, "daily": 86400, "weekly": 604800, "monthly": 2592000, "yearly": 31536000}

MAX_ENTITY_DECLARATIONS_BYTES = 10_000
"""Total size of the entity values a document may declare."""
MAX_ENTITY_EXPANSION_BYTES = 1_000_000
"""Total size of all entity references once expanded (references x value size): no quadratic blowup."""

_DOCTYPE = b"<!DOCTYPE"
_ENTITY = b"<!ENTITY"
_NAME = rb"[A-Za-z_:\x80-\xff][\w.:\x80-\xff-]*"
_DOCTYPE_OPEN = re.compile(rb"<!DOCTYPE\s+" + _NAME + rb"\s*\[")
_SUBSET_ITEM = re.compile(
    rb"\s+|<!--(?:(?!--).)*-->|<!ENTITY\s+(?P<name>" + _NAME + rb")\s+(?:\"(?P<dq>[^\"]*)\"|'(?P<sq>[^']*)')\s*>",
    re.DOTALL)
_SUBSET_END = re.compile(rb"\]\s*>")
_JSON_FEED_VERSION = "https://jsonfeed.org/version/1"


class FeedSecurityError(ValueError):
    """The document declares XML entities that are not provably harmless (billion laughs, XXE,
    quadratic blowup); it is refused unparsed."""

    reason = XML_ENTITIES_REFUSED


@dataclass
class ParsedFeed:
    """What one fetched body yielded. ``rejected`` holds entries that became skips (no usable link,
    duplicate link); ``alternate_links`` holds an HTML page's feed links; ``child_sitemaps`` the
    sitemaps a sitemap index lists."""

    entries: list[Entry] = field(default_factory=list)
    bozo: bool = False
    bozo_message: str | None = None
    kind: FeedKind = "unknown"
    title: str | None = None
    ttl_s: int | None = None
    update_period_s: int | None = None
    alternate_links: list[str] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    child_sitemaps: list[str] = field(default_factory=list)


def parse_feed(body: bytes, url: str, headers: Mapping[str, str] | None = None, *,
               now: datetime | None = None) -> ParsedFeed:
    """Parse a fetched feed body. ``url`` is the feed's (final) URL, the base for relative links;
    ``headers`` are the HTTP response headers (charset, Content-Location). Raises
    ``FeedSecurityError`` for XML declaring unsafe entities; every other defect is a bozo result that
    keeps the entries recovered. ``now`` bounds future dates (default: the wall clock)."""
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    now = now or utcnow()
    if sitemaps.is_gzip(body):
        try:
            body = sitemaps.gunzip_capped(body, sitemaps.MAX_SITEMAP_BYTES)
        except ValueError as exc:
            return ParsedFeed(bozo=True, bozo_message=f"{type(exc).__name__}: {exc}")
    content_type = lowered.get("content-type")
    if _looks_like_json(body, content_type):
        parsed = parse_json_feed(body, url, now=now)
    elif discovery.looks_like_html(body, content_type):
        html = body.decode(_charset(content_type) or "utf-8", errors="replace")
        return ParsedFeed(kind="html", alternate_links=discovery.find_feed_links(html, url))
    else:
        refuse_entity_declarations(body, lowered)
        if sitemaps.sitemap_root(body):
            parsed = _parse_sitemap(body, url, now)
        else:
            parsed = _parse_with_feedparser(body, url, lowered, now)
    _drop_duplicate_links(parsed, url)
    return parsed


def refuse_entity_declarations(body: bytes, headers: Mapping[str, str] | None = None) -> None:
    """Raise ``FeedSecurityError`` unless every entity the document declares is harmless.

    Allowed: a DOCTYPE without an external ID whose internal subset holds only comments and internal
    general entities with literal values (no ``&``, ``%`` or ``<``), at most
    ``MAX_ENTITY_DECLARATIONS_BYTES`` in all, referenced at most ``MAX_ENTITY_EXPANSION_BYTES`` worth
    once expanded. Everything else (parameter entities, SYSTEM/PUBLIC, nested references: XXE,
    billion laughs, quadratic blowup, or anything the strict reading does not understand) is refused.
    The check runs on the raw bytes with NULs removed (so UTF-16/32 cannot hide a declaration) and
    on feedparser's own UTF-8 conversion of them under the same response headers (so no charset
    feedparser would honour, from the HTTP header or the prolog, can hide one either)."""
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    for candidate in (body.replace(b"\x00", b""), _as_feedparser_utf8(body, lowered)):
        upper = candidate.upper()
        start = upper.find(_DOCTYPE)
        if start >= 0 and upper.find(_ENTITY, start) >= 0:
            problem = _entity_problem(candidate, start)
            if problem is not None:
                raise FeedSecurityError(f"document type declares XML entities ({problem}); refused unparsed")


def _entity_problem(document: bytes, doctype_at: int) -> str | None:
    """Why the entity declarations of the DOCTYPE at ``doctype_at`` are unsafe, or None if they are not."""
    opening = _DOCTYPE_OPEN.match(document, doctype_at)
    if opening is None:
        return "not a DOCTYPE with only an internal subset"
    values: dict[bytes, int] = {}
    position = opening.end()
    while True:
        end = _SUBSET_END.match(document, position)
        if end is not None:
            break
        item = _SUBSET_ITEM.match(document, position)
        if item is None or item.end() == position:
            return "declaration other than an internal literal general entity"
        if item.group("name") is not None:
            value = item.group("dq") if item.group("dq") is not None else item.group("sq")
            if any(char in value for char in (b"&", b"%", b"<")):
                return f"entity {item.group('name').decode('latin-1')!r} has references or markup"
            values.setdefault(item.group("name"), len(value))  # XML: the first declaration binds
        position = item.end()
    if sum(values.values()) > MAX_ENTITY_DECLARATIONS_BYTES:
        return f"declared values exceed {MAX_ENTITY_DECLARATIONS_BYTES} bytes"
    rest = document[end.end():]
    if _DOCTYPE in rest.upper() and _ENTITY in rest.upper():
        return "a second DOCTYPE"
    expanded = sum(rest.count(b"&" + name + b";") * size for name, size in values.items())
    if expanded > MAX_ENTITY_EXPANSION_BYTES:
        return f"references expand to {expanded} bytes, over {MAX_ENTITY_EXPANSION_BYTES}"
    return None


def plain_text(html: str | None) -> str | None:
    """Markup stripped, entities decoded, whitespace collapsed; None when nothing is left."""
    if not html:
        return None
    if "<" not in html and "&" not in html:
        text = html
    else:
        stripper = _TextCollector()
        stripper.feed(html)
        stripper.close()
        text = "".join(stripper.parts)
    text = " ".join(text.split())
    return text or None


def parse_json_feed(body: bytes, url: str, *, now: datetime | None = None) -> ParsedFeed:
    """JSON Feed 1.0/1.1. Anything that is not a JSON object with a jsonfeed.org version is a bozo
    result of kind ``unknown``."""
    now = now or utcnow()
    try:
        doc = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        return ParsedFeed(bozo=True, bozo_message=f"{type(exc).__name__}: {exc}")
    if not isinstance(doc, dict) or not str(doc.get("version", "")).startswith(_JSON_FEED_VERSION):
        return ParsedFeed(bozo=True, bozo_message="JSON document is not a JSON Feed (no jsonfeed.org version)")
    items = doc.get("items")
    parsed = ParsedFeed(kind="json", title=plain_text(_str(doc.get("title"))))
    language = language_tag(_str(doc.get("language")))
    if not isinstance(items, list):
        parsed.bozo, parsed.bozo_message = True, "JSON Feed has no items list"
        return parsed
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            parsed.rejected.append(_without_link(url, index, None, None, "item is not an object"))
            continue
        guid = _str(item.get("id"))
        title = plain_text(_str(item.get("title")))
        link = absolute_http_url(_str(item.get("url")) or _str(item.get("external_url")), url)
        if link is None:
            parsed.rejected.append(_without_link(url, index, guid, title, "no http(s) url"))
            continue
        summary = (plain_text(_str(item.get("summary"))) or plain_text(_str(item.get("content_text")))
                   or plain_text(_str(item.get("content_html"))))
        published = not_future(
            sitemaps.parse_w3c_datetime(_str(item.get("date_published")) or _str(item.get("date_modified"))),
            now)
        parsed.entries.append(Entry(feed_url=url, url=link, guid=guid, title=title, summary=summary,
                                    published_at=published, language=language))
    return parsed


def run_feedparser(body: bytes, url: str, headers: Mapping[str, str] | None = None) -> Any:
    """feedparser's own result dict for ``body``, produced exactly as ``parse_feed`` produces it
    (no entity refusal here: call ``refuse_entity_declarations`` first on untrusted input)."""
    return feedparser.parse(io.BytesIO(body), response_headers=_feedparser_headers(url, headers or {}))


def _feedparser_headers(url: str, headers: Mapping[str, str]) -> dict[str, str]:
    # With no Content-Type at all the XML prolog decides the charset (what feedparser does with
    # application/xml) instead of a bozo "no Content-type specified". Content-Location, made
    # absolute against the feed URL, is feedparser's base URI for relative links when it is
    # handed bytes; a BytesIO keeps it from treating the bytes as a file path.
    lowered = {k.lower(): v for k, v in headers.items()}
    response_headers = {"content-type": "application/xml", **lowered}
    response_headers["content-location"] = absolute_http_url(lowered.get("content-location") or url, url) or url
    return response_headers


def _parse_with_feedparser(body: bytes, url: str, headers: dict[str, str], now: datetime) -> ParsedFeed:
    result = run_feedparser(body, url, headers)
    feed = result.get("feed", {})
    exc = result.get("bozo_exception")
    parsed = ParsedFeed(
        bozo=bool(result.get("bozo")),
        bozo_message=f"{type(exc).__name__}: {exc}" if exc is not None else None,
        kind=_kind_of_version(result.get("version") or ""),
        title=plain_text(feed.get("title")),
        ttl_s=_ttl_seconds(feed.get("ttl")),
        update_period_s=_update_period_seconds(feed.get("sy_updateperiod"), feed.get("sy_updatefrequency")),
    )
    base = _feedparser_headers(url, headers)["content-location"]
    language = language_tag(_str(feed.get("language")))
    for index, item in enumerate(result.get("entries", [])):
        guid = _str(item.get("id"))
        title = plain_text(item.get("title"))
        link = _entry_link(item, base)
        if link is None:
            parsed.rejected.append(_without_link(url, index, guid, title, "no http(s) link"))
            continue
        summary = plain_text(item.get("summary"))
        if summary is None and item.get("content"):
            summary = plain_text(item["content"][0].get("value"))
        published = not_future(_from_struct(item.get("published_parsed") or item.get("updated_parsed")
                                             or item.get("created_parsed")), now)
        parsed.entries.append(Entry(feed_url=url, url=link, guid=guid, title=title, summary=summary,
                                    published_at=published, language=language))
    return parsed


def language_tag(value: str | None) -> str | None:
    """The primary subtag of a declared language (``en-US`` → ``en``); None unless 2-3 letters."""
    primary = (value or "").strip().replace("_", "-").split("-")[0].lower()
    return primary if 2 <= len(primary) <= 3 and primary.isascii() and primary.isalpha() else None


def _parse_sitemap(body: bytes, url: str, now: datetime) -> ParsedFeed:
    try:
        sitemap = sitemaps.parse_sitemap(body, url)
    except DefusedXmlException as exc:
        raise FeedSecurityError(f"sitemap refused: {type(exc).__name__}") from exc
    except (ValueError, SyntaxError) as exc:  # ElementTree's ParseError is a SyntaxError
        return ParsedFeed(kind="sitemap", bozo=True, bozo_message=f"{type(exc).__name__}: {exc}")
    parsed = ParsedFeed(kind="sitemap", child_sitemaps=list(sitemap.children))
    for index, item in enumerate(sitemap.urls):
        link = absolute_http_url(item.loc, url)
        if link is None:
            parsed.rejected.append(_without_link(url, index, None, item.news_title, f"loc {item.loc!r} is not http(s)"))
            continue
        parsed.entries.append(Entry(feed_url=url, url=link, title=item.news_title,
                                    published_at=not_future(item.news_publication_date or item.lastmod, now)))
    return parsed


def _drop_duplicate_links(parsed: ParsedFeed, feed_url: str) -> None:
    """Keep the first entry per normalised link; a changed GUID on the same link is the same item."""
    seen: set[str] = set()
    kept: list[Entry] = []
    for entry in parsed.entries:
        key = normalize_url(entry.url)
        if key in seen:
            parsed.rejected.append(Rejection.skip(FEEDS_STAGE, DUPLICATE_IN_FEED, entry.url, feed_url,
                                                  message=f"guid={entry.guid!r} repeats a link listed earlier"))
            continue
        seen.add(key)
        kept.append(entry)
    parsed.entries = kept


def _entry_links(item: Mapping[str, Any]) -> Iterator[str]:
    """Candidate article links of a feed entry, by the shapes real feeds use, best first: ``<link>`` or
    an Atom alternate link; FeedBurner's ``origLink`` (the publisher's URL behind a redirector); any
    HTML link; then the id (RDF ``rdf:about``, RSS ``<guid>``, Atom ``<id>``: many feeds put the
    permalink only there). The first that resolves to an http(s) URL is the entry's link (feedparser
    copies a ``urn:`` id into ``link``, so a candidate is never taken on sight)."""
    links = item.get("links") or []
    yield from filter(None, [_str(item.get("link"))])
    yield from (str(c["href"]) for c in links if c.get("rel", "alternate") == "alternate" and c.get("href"))
    yield from filter(None, [_str(item.get("feedburner_origlink"))])
    yield from (str(c["href"]) for c in links if "html" in str(c.get("type", "")) and c.get("href"))
    guid = _str(item.get("id"))
    if guid and is_http_url(guid):  # an id is a name, never a relative link
        yield guid


def _entry_link(item: Mapping[str, Any], base: str) -> str | None:
    return next(filter(None, (absolute_http_url(candidate, base) for candidate in _entry_links(item))), None)


def _without_link(feed_url: str, index: int, guid: str | None, title: str | None, why: str) -> Rejection:
    return Rejection.skip(FEEDS_STAGE, ENTRY_WITHOUT_LINK, feed_url, feed_url,
                          message=f"entry {index} ({why}): guid={guid!r} title={title!r}")


def _kind_of_version(version: str) -> FeedKind:
    if version.startswith("atom"):
        return "atom"
    if version in ("rss10", "rss090"):
        return "rdf"
    if version.startswith("rss"):
        return "rss"
    return "unknown"


def _ttl_seconds(value: Any) -> int | None:
    try:
        minutes = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return minutes * 60 if minutes > 0 else None


def _update_period_seconds(period: Any, frequency: Any) -> int | None:
    if period is None and frequency is None:
        return None
    seconds = UPDATE_PERIOD_S.get(str(period or "daily").strip().lower())
    if seconds is None:
        return None
    try:
        times = int(str(frequency).strip()) if frequency is not None else 1
    except ValueError:
        times = 1
    return seconds // times if times > 0 else seconds


def _from_struct(value: struct_time | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime(*value[:6], tzinfo=UTC)
    except (TypeError, ValueError):
        return None


def _str(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text or None


def _looks_like_json(body: bytes, content_type: str | None) -> bool:
    first = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return first == b"{" or (media in ("application/feed+json", "application/json") and first != b"<")


def _charset(content_type: str | None) -> str | None:
    match = re.search(r"charset=[\"']?([\w.:-]+)", content_type or "", re.I)
    if match is None:
        return None
    try:
        "".encode(match.group(1))
    except LookupError:
        return None
    return match.group(1)


def _as_feedparser_utf8(body: bytes, headers: dict[str, str]) -> bytes:
    try:
        return bytes(feedparser.encodings.convert_to_utf8(headers, body, feedparser.FeedParserDict()))
    except Exception:  # a conversion failure leaves the raw-bytes check as the only one
        return b""


class _TextCollector(HTMLParser):
    _SKIP = frozenset({"script", "style", "template", "noscript"})
    _BREAKS = frozenset({"p", "br", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BREAKS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skipping:
            self._skipping -= 1
        elif tag in self._BREAKS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)
