"""Sitemaps as feed sources: Google News sitemaps, plain ``urlset`` sitemaps and sitemap indexes.

Parsing is strict XML through defusedxml (no entity expansion, no external resources, no network);
``.gz`` bodies are gunzipped with a cap on the inflated size so a small bomb cannot fill memory.
"""

from __future__ import annotations

import gzip
import io
import re
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import urljoin
from xml.etree.ElementTree import Element

from defusedxml import ElementTree as SafeElementTree

SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
NEWS_NS = "http://www.google.com/schemas/sitemap-news/0.9"
MAX_SITEMAP_BYTES = 50 * 1024 * 1024
"""The sitemaps protocol's own limit on an uncompressed sitemap."""

_GZIP_MAGIC = b"\x1f\x8b"
_ROOT_RE = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(urlset|sitemapindex)[\s>/]")


class SitemapTooLarge(ValueError):
    """A gzipped body inflates beyond the cap."""


@dataclass(frozen=True)
class SitemapUrl:
    loc: str
    lastmod: datetime | None = None
    news_title: str | None = None
    news_publication_date: datetime | None = None
    news_publication_name: str | None = None
    news_language: str | None = None


@dataclass
class Sitemap:
    kind: Literal["urlset", "sitemapindex"]
    urls: list[SitemapUrl] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    is_news: bool = False


def is_gzip(body: bytes) -> bool:
    return body[:2] == _GZIP_MAGIC


def gunzip_capped(body: bytes, max_bytes: int = MAX_SITEMAP_BYTES) -> bytes:
    """Inflate a gzip body, raising ``SitemapTooLarge`` as soon as it exceeds ``max_bytes``."""
    out = io.BytesIO()
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(body)) as stream:
            while chunk := stream.read(64 * 1024):
                out.write(chunk)
                if out.tell() > max_bytes:
                    raise SitemapTooLarge(f"gzip body inflates beyond {max_bytes} bytes")
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"invalid gzip body: {exc}") from exc
    return out.getvalue()


def sitemap_root(body: bytes) -> Literal["urlset", "sitemapindex"] | None:
    """The sitemap root element named near the start of ``body``, if any."""
    match = _ROOT_RE.search(body[:4096])
    if match is None:
        return None
    return "urlset" if match.group(1) == b"urlset" else "sitemapindex"


def parse_w3c_datetime(value: str | None) -> datetime | None:
    """A W3C datetime (``2024-05-01``, ``2024-05-01T10:00Z``, with offset) as UTC; naive means UTC."""
    if not value:
        return None
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_sitemap(body: bytes, url: str) -> Sitemap:
    """Parse a sitemap or sitemap index (gunzipping first if needed). Locations are made absolute
    against ``url``; an empty ``<loc>`` names nothing and is ignored. Raises ``ValueError`` on
    malformed XML and ``defusedxml.DefusedXmlException`` on entity declarations."""
    if is_gzip(body):
        body = gunzip_capped(body, MAX_SITEMAP_BYTES)
    root = SafeElementTree.fromstring(body, forbid_dtd=False, forbid_entities=True,
                                      forbid_external=True)
    local = _local_name(root.tag)
    if local == "sitemapindex":
        children = [urljoin(url, loc) for loc in (_text(el, "loc") for el in _children(root, "sitemap"))
                    if loc]
        return Sitemap("sitemapindex", children=children)
    if local != "urlset":
        raise ValueError(f"not a sitemap: root element <{local}>")
    urls: list[SitemapUrl] = []
    is_news = False
    for el in _children(root, "url"):
        loc = _text(el, "loc")
        if not loc:
            continue
        news = el.find(f"{{{NEWS_NS}}}news")
        if news is not None:
            is_news = True
            publication = news.find(f"{{{NEWS_NS}}}publication")
            urls.append(SitemapUrl(
                loc=urljoin(url, loc),
                lastmod=parse_w3c_datetime(_text(el, "lastmod")),
                news_title=_ns_text(news, NEWS_NS, "title"),
                news_publication_date=parse_w3c_datetime(_ns_text(news, NEWS_NS, "publication_date")),
                news_publication_name=(_ns_text(publication, NEWS_NS, "name")
                                       if publication is not None else None),
                news_language=(_ns_text(publication, NEWS_NS, "language")
                               if publication is not None else None),
            ))
        else:
            urls.append(SitemapUrl(loc=urljoin(url, loc), lastmod=parse_w3c_datetime(_text(el, "lastmod"))))
    return Sitemap("urlset", urls=urls, is_news=is_news)


def _local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(root: Element, name: str) -> list[Element]:
    """Child elements called ``name`` in the sitemap namespace or in none (lenient publishers)."""
    return [el for el in root if _local_name(el.tag) == name]


def _text(el: Element, name: str) -> str | None:
    for child in el:
        if _local_name(child.tag) == name:
            return (child.text or "").strip() or None
    return None


def _ns_text(el: Element, ns: str, name: str) -> str | None:
    child = el.find(f"{{{ns}}}{name}")
    if child is None:
        return None
    return (child.text or "").strip() or None
