"""Page metadata from one parsed tree: JSON-LD articles, <meta>/Open Graph tags, and dates.

Dates are resolved cheapest-first: the feed entry's date, then JSON-LD ``datePublished``, then
meta tags; only when none of them has one does ``htmldate`` scan the page (its cost dominates
metadata extraction). A date later than ``now`` is never accepted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from htmldate import find_date
from lxml.html import HtmlElement

from newsflow.transforms.clock import not_future as not_future  # the one future rule, re-exported
from newsflow.transforms.urls import same_page

ARTICLE_TYPES = frozenset({"NewsArticle", "Article", "ReportageNewsArticle", "BlogPosting",
                           "AnalysisNewsArticle", "OpinionNewsArticle", "BackgroundNewsArticle",
                           "ReviewNewsArticle", "LiveBlogPosting", "Report", "TechArticle",
                           "ScholarlyArticle", "SocialMediaPosting"})

DATE_META_KEYS = (
    "article:published_time", "og:article:published_time", "article.published", "published_time",
    "datepublished", "date", "dc.date", "dc.date.issued", "dcterms.date", "dcterms.created",
    "dc.date.created", "sailthru.date", "parsely-pub-date", "pubdate", "publishdate", "publish-date",
    "publish_date", "cxenseparse:recs:publishtime", "article_date_original", "originalpublicationdate",
    "og:published_time", "datecreated", "created", "citation_publication_date", "bt:pubdate",
)
_AUTHOR_META_KEYS = ("author", "article:author", "dc.creator", "parsely-author", "sailthru.author",
                     "byl", "citation_author")
_WS = re.compile(r"\s+")
_JSONLD_DATE_KEYS = ("datePublished", "dateCreated", "dateModified")


@dataclass
class JsonLdArticle:
    """The fields of a schema.org article object that extraction uses."""

    body: str | None = None
    headline: str | None = None
    date_published: datetime | None = None
    authors: list[str] = field(default_factory=list)
    is_accessible_for_free: bool | None = None
    paywalled_part: bool = False
    paywalled_selectors: list[str] = field(default_factory=list)
    word_count: int | None = None
    description: str | None = None
    language: str | None = None
    url: str | None = None
    publisher: str | None = None
    dates: dict[str, str] = field(default_factory=dict)
    """The raw ``datePublished``/``dateCreated``/``dateModified`` strings (``dates.py`` reads them
    with their offsets)."""


@dataclass
class PageMetadata:
    """What the page says about itself in JSON-LD, <meta>, Open Graph and <link> elements."""

    title: str | None = None
    authors: list[str] = field(default_factory=list)
    language: str | None = None
    site_name: str | None = None
    canonical_url: str | None = None
    description: str | None = None
    meta_date: datetime | None = None
    jsonld: JsonLdArticle | None = None
    signals: list[str] = field(default_factory=list)
    title_variants: list[str] = field(default_factory=list)
    """Every form of the headline the page shows (to recognise it at the top of the body)."""
    tags: dict[str, str] = field(default_factory=dict)
    """All meta tags (``meta_tags``): the date resolver reads its date keys from them."""


def clean_text(value: Any) -> str | None:
    """A single-line, stripped string, or None for empty and non-string values."""
    if not isinstance(value, str):
        return None
    text = _WS.sub(" ", value).strip()
    return text or None


def parse_date(value: Any) -> datetime | None:
    """An ISO-8601-like date string as an aware UTC datetime (naive values are taken as UTC)."""
    text = clean_text(value)
    if not text:
        return None
    text = text.replace("Z", "+00:00").replace("z", "+00:00")
    text = re.sub(r"([+-]\d\d)(\d\d)$", r"\1:\2", text)  # +0100 -> +01:00
    text = re.sub(r"\s+(?=[+-]\d\d:\d\d$)", "", text)
    candidates = [text, text.replace(" ", "T", 1)]
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}T.*", text) and "." in text:
        candidates.append(re.sub(r"\.\d+", "", text))
    for candidate in candidates:
        try:
            parsed = datetime.fromisoformat(candidate)
        except ValueError:
            continue
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    match = re.match(r"(\d{4})(\d{2})(\d{2})$", text)
    if match:
        try:
            return datetime(int(match[1]), int(match[2]), int(match[3]), tzinfo=UTC)
        except ValueError:
            return None
    return None


def _walk_jsonld(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, list):
        for item in node:
            yield from _walk_jsonld(item)
    elif isinstance(node, dict):
        yield node
        if "@graph" in node:
            yield from _walk_jsonld(node["@graph"])
        main = node.get("mainEntity")
        if isinstance(main, dict | list):
            yield from _walk_jsonld(main)


def _types(node: dict[str, Any]) -> set[str]:
    kind = node.get("@type")
    if isinstance(kind, str):
        return {kind.rsplit("/", 1)[-1]}
    if isinstance(kind, list):
        return {k.rsplit("/", 1)[-1] for k in kind if isinstance(k, str)}
    return set()


def _names(value: Any) -> list[str]:
    """Person names from a schema.org author value (string, object, or list of either)."""
    items = value if isinstance(value, list) else [value]
    names: list[str] = []
    for item in items:
        name = clean_text(item.get("name")) if isinstance(item, dict) else clean_text(item)
        if name and not name.startswith(("http://", "https://")) and name not in names:
            names.append(name)
    return names


def _entity_url(value: Any) -> str | None:
    if isinstance(value, dict):
        return clean_text(value.get("@id")) or clean_text(value.get("url"))
    return clean_text(value)


def _free_flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"false", "true"}:
        return value.strip().lower() == "true"
    return None


def _paywalled_selectors(value: Any) -> list[str] | None:
    """The cssSelectors of the parts marked not free (None when no part is marked)."""
    parts = [p for p in (value if isinstance(value, list) else [value])
             if isinstance(p, dict) and _free_flag(p.get("isAccessibleForFree")) is False]
    if not parts:
        return None
    return [sel.strip() for p in parts if isinstance(sel := p.get("cssSelector"), str) and sel.strip()]


def _load_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        # common breakage: raw control characters (newlines) inside strings
        try:
            return json.loads(re.sub(r"[\x00-\x1f]", " ", text))
        except ValueError:
            return None


def jsonld_articles(tree: HtmlElement) -> list[JsonLdArticle]:
    """Every schema.org article object in the page's JSON-LD blocks, in document order."""
    found: list[JsonLdArticle] = []
    for script in tree.iterfind(".//script[@type='application/ld+json']"):
        data = _load_json(script.text or "")
        for node in _walk_jsonld(data):
            if not _types(node) & ARTICLE_TYPES:
                continue
            word_count = node.get("wordCount")
            publisher = node.get("publisher")
            found.append(JsonLdArticle(
                body=node.get("articleBody") if isinstance(node.get("articleBody"), str) else None,
                headline=clean_text(node.get("headline")) or clean_text(node.get("name")),
                date_published=parse_date(node.get("datePublished")),
                authors=_names(node.get("author")),
                is_accessible_for_free=_free_flag(node.get("isAccessibleForFree")),
                paywalled_part=(selectors := _paywalled_selectors(node.get("hasPart"))) is not None,
                paywalled_selectors=selectors or [],
                word_count=int(str(word_count)) if str(word_count).isdigit() else None,
                description=clean_text(node.get("description")),
                language=clean_text(node.get("inLanguage")),
                url=clean_text(node.get("url")) or _entity_url(node.get("mainEntityOfPage")),
                publisher=clean_text(publisher.get("name")) if isinstance(publisher, dict) else None,
                dates={key: value for key in _JSONLD_DATE_KEYS if isinstance(value := node.get(key), str)},
            ))
    return found


def meta_tags(tree: HtmlElement) -> dict[str, str]:
    """<meta> contents keyed by lower-cased name/property/itemprop/http-equiv (first occurrence wins)."""
    tags: dict[str, str] = {}
    for meta in tree.iter("meta"):
        key = meta.get("property") or meta.get("name") or meta.get("itemprop") or meta.get("http-equiv")
        content = meta.get("content")
        if not key or content is None:
            if meta.get("itemprop") and meta.get("datetime"):
                key, content = meta.get("itemprop"), meta.get("datetime")
            else:
                continue
        value = clean_text(content)
        if value and key:
            tags.setdefault(key.strip().lower(), value)
    return tags


_TITLE_SEPARATOR = re.compile(r"\s+[|\-–—·:»]+\s+")


def title_without_site(title: str, heading: str | None, site_name: str | None) -> str:
    """A <title> without the site name: the part equal to the page's <h1> when there is one, else
    without parts naming the site, else the longest part."""
    parts = [p for p in _TITLE_SEPARATOR.split(title) if p.strip()]
    if len(parts) < 2:
        return title
    if heading and heading in parts:
        return heading
    site = (site_name or "").lower()
    kept = [p for p in parts if not site or p.lower() != site]
    if len(kept) < len(parts):
        return " - ".join(kept) if kept else title
    return max(parts, key=len)


def _meta_authors(tags: dict[str, str]) -> list[str]:
    for key in _AUTHOR_META_KEYS:
        value = tags.get(key)
        if value and not value.startswith(("http://", "https://")):
            return [value]
    return []


def _canonical_link(tree: HtmlElement) -> str | None:
    for link in tree.iter("link"):
        if (link.get("rel") or "").strip().lower() == "canonical":
            return clean_text(link.get("href"))
    return None


def _language(tree: HtmlElement, tags: dict[str, str]) -> str | None:
    lang = clean_text(tree.get("lang")) or clean_text(tree.get("xml:lang"))
    if not lang:
        lang = tags.get("og:locale") or tags.get("content-language") or tags.get("dc.language")
    if not lang:
        return None
    return lang.replace("_", "-").split("-")[0].lower()[:3] or None


def page_metadata(tree: HtmlElement) -> PageMetadata:
    """Title, authors, language, site name, canonical URL, description and the meta date of a page.

    JSON-LD wins over Open Graph, Open Graph over plain <meta> and <title>. The canonical URL is
    returned as written (absolute or not); the caller resolves and normalises it."""
    tags = meta_tags(tree)
    link_canonical = _canonical_link(tree) or tags.get("og:url")
    articles = jsonld_articles(tree)
    # the page's own article: the one naming this page, else the first with a body, else the first
    jsonld = next((a for a in articles if same_page(a.url, link_canonical)), None) \
        or next((a for a in articles if a.body), articles[0] if articles else None)
    meta = PageMetadata(jsonld=jsonld, tags=tags)
    title_el = tree.find(".//title")
    page_title = clean_text(title_el.text_content()) if title_el is not None else None
    h1 = tree.find(".//h1")
    heading = clean_text(h1.text_content()) if h1 is not None else None
    site_name = tags.get("og:site_name") or (jsonld.publisher if jsonld else None)
    meta.title = (
        (jsonld.headline if jsonld else None) or tags.get("og:title") or tags.get("twitter:title")
        or (title_without_site(page_title, heading, site_name) if page_title else heading)
    )
    meta.title_variants = [t for t in (
        jsonld.headline if jsonld else None, tags.get("og:title"), tags.get("twitter:title"),
        page_title, title_without_site(page_title, heading, site_name) if page_title else None, heading,
    ) if t]
    meta.authors = list(jsonld.authors) if jsonld and jsonld.authors else _meta_authors(tags)
    meta.language = _language(tree, tags) or (jsonld.language.split("-")[0].lower()
                                               if jsonld and jsonld.language else None)
    meta.site_name = site_name or tags.get("application-name")
    meta.canonical_url = link_canonical or (jsonld.url if jsonld else None)
    meta.description = tags.get("description") or tags.get("og:description") \
        or (jsonld.description if jsonld else None)
    for key in DATE_META_KEYS:
        if (date := parse_date(tags.get(key))) is not None:
            meta.meta_date = date
            break
    if meta.meta_date is None:
        for time_el in tree.iterfind(".//time[@itemprop='datePublished']"):
            if (date := parse_date(time_el.get("datetime"))) is not None:
                meta.meta_date = date
                break
    if jsonld is not None:
        meta.signals.append("jsonld")
    return meta


def htmldate_published(tree: HtmlElement, url: str | None, now: datetime) -> datetime | None:
    """The expensive fallback: htmldate's scan of the page (no extensive search), UTC midnight."""
    found = find_date(tree, extensive_search=False, original_date=True, url=url,
                      max_date=now.strftime("%Y-%m-%d"))
    return parse_date(found) if found else None


def resolve_published(
    feed_published: datetime | None, meta: PageMetadata, tree: HtmlElement, url: str | None,
    now: datetime,
) -> tuple[datetime | None, str | None]:
    """The publication date and its source ("feed_date", "jsonld_date", "meta_date",
    "htmldate"), cheapest source first; dates after ``now`` are skipped. htmldate runs only when
    no cheaper source has any date (not when they only have future ones)."""
    if feed_published is not None and feed_published.tzinfo is None:
        feed_published = feed_published.replace(tzinfo=UTC)
    candidates = (
        ("feed_date", feed_published),
        ("jsonld_date", meta.jsonld.date_published if meta.jsonld else None),
        ("meta_date", meta.meta_date),
    )
    for source, value in candidates:
        if (date := not_future(value, now)) is not None:
            return date.astimezone(UTC), source
    if any(value is not None for _, value in candidates):
        return None, None  # the page states a date, only an impossible one: do not guess another
    date = not_future(htmldate_published(tree, url, now), now)
    return (date, "htmldate") if date is not None else (None, None)
