"""Feed autodiscovery for a config entry that is an HTML page (a homepage or an article).

The page's own ``<link rel="alternate">`` feed links come first, in document order and resolved
against ``<base href>`` and the page URL; then the well-known feed paths on the site root, in a
fixed order. The caller fetches the candidates in that order and keeps the first real feed.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urlsplit, urlunsplit

from newsflow.transforms.urls import absolute_http_url, normalize_url

FEED_LINK_TYPES = frozenset({
    "application/rss+xml", "application/atom+xml", "application/feed+json", "application/rdf+xml",
})
WELL_KNOWN_FEED_PATHS = (
    "/feed", "/rss", "/rss.xml", "/atom.xml", "/feed.xml", "/index.xml", "/feeds/posts/default",
)

_FEED_ROOT_RE = re.compile(rb"<(?:[a-z_][\w.-]*:)?(rss|feed|rdf|urlset|sitemapindex|channel)[\s>/]")
_HTML_RE = re.compile(rb"<!doctype\s+html|<html[\s>]")


def looks_like_html(body: bytes, content_type: str | None = None) -> bool:
    """True when ``body`` is an HTML page rather than a feed. A feed root element near the start
    wins over everything (feeds are often served as text/html); then an HTML doctype or ``<html>``
    tag; then the media type."""
    head = body[:4096].replace(b"\x00", b"").lower()
    if _FEED_ROOT_RE.search(head):
        return False
    if _HTML_RE.search(head):
        return True
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media in ("text/html", "application/xhtml+xml") and not head.lstrip().startswith((b"{", b"<?xml"))


def find_feed_links(html: str, page_url: str) -> list[str]:
    """The page's alternate feed links, absolute, deduplicated, in document order."""
    collector = _LinkCollector()
    try:
        collector.feed(html)
        collector.close()
    except AssertionError:  # html.parser asserts on some malformed declarations
        pass
    base = page_url
    if collector.base_href:
        base = absolute_http_url(collector.base_href, page_url) or page_url
    links: list[str] = []
    seen: set[str] = set()
    for href in collector.feed_hrefs:
        url = absolute_http_url(href, base)
        if url and normalize_url(url) not in seen:
            seen.add(normalize_url(url))
            links.append(url)
    return links


def well_known_feed_urls(page_url: str) -> list[str]:
    """The well-known feed locations on the page's site root, in the order to try them."""
    parts = urlsplit(page_url)
    return [urlunsplit((parts.scheme, parts.netloc, path, "", "")) for path in WELL_KNOWN_FEED_PATHS]


def candidate_feed_urls(html: str, page_url: str) -> list[str]:
    """Everything worth fetching to find the page's feed: its feed links, then the well-known paths."""
    return feed_candidates(find_feed_links(html, page_url), page_url)


def feed_candidates(feed_links: list[str], page_url: str, *also_not: str) -> list[str]:
    """``feed_links`` then the well-known paths, without repeats, never the page itself (nor
    ``also_not``, e.g. the URL requested before a redirect)."""
    seen = {normalize_url(url) for url in (page_url, *also_not)}
    candidates: list[str] = []
    for url in [*feed_links, *well_known_feed_urls(page_url)]:
        key = normalize_url(url)
        if key not in seen:
            seen.add(key)
            candidates.append(url)
    return candidates


class _LinkCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.base_href: str | None = None
        self.feed_hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ("link", "base"):
            return
        values = {name.lower(): (value or "") for name, value in attrs}
        href = values.get("href", "").strip()
        if not href:
            return
        if tag == "base":
            if self.base_href is None:
                self.base_href = href
            return
        rels = values.get("rel", "").lower().split()
        media = values.get("type", "").split(";", 1)[0].strip().lower()
        if "alternate" in rels and media in FEED_LINK_TYPES:
            self.feed_hrefs.append(href)

    handle_startendtag = handle_starttag
