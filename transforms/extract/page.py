"""Clean article bodies and metadata from a page's HTML: pure functions, no Beam.

``extract_page`` parses the HTML once (trafilatura's loader, an lxml tree) and reuses the tree for
metadata, per-site rules and trafilatura (``fast=True``, no comments, never ``deduplicate``). The
JSON-LD ``articleBody`` replaces trafilatura's text only when it agrees with the page, the body is
trimmed of leading title/byline lines and trailing boilerplate with general rules, and teasers
and paywalled pages are flagged ``partial``.
"""

from __future__ import annotations

import functools
import html as html_lib
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import lxml.html
import trafilatura
from lxml import etree
from lxml.html import HtmlElement
from trafilatura.utils import load_html
from trafilatura.xml import xmltotxt

from newsflow.transforms.extract.dates import ResolvedDate, resolve_page_date
from newsflow.transforms.extract.domain_rules import DomainRule, prune, rule_for, select_text
from newsflow.transforms.extract.metadata import (
    JsonLdArticle,
    PageMetadata,
    clean_text,
    page_metadata,
)
from newsflow.transforms.urls import canonical_of, site_of

JSONLD_AGREEMENT = 0.8
"""Share of the JSON-LD body's 4-gram shingles that must occur in the page for it to be used."""

JSONLD_COMPLETE = 0.9
"""Share of trafilatura's shingles the JSON-LD body must contain to be preferred (not a teaser)."""

_WORD = re.compile(r"\w+")
_SHINGLE = 4


@dataclass
class Extracted:
    """The clean body of one page and what the page says about itself."""

    body: str
    title: str | None = None
    authors: list[str] = field(default_factory=list)
    language: str | None = None
    site_name: str | None = None
    canonical_url: str | None = None
    published_at: datetime | None = None
    description: str | None = None
    partial: bool = False
    signals: list[str] = field(default_factory=list)
    dates: ResolvedDate | None = None
    """How ``published_at`` was decided, its local day and offset, and ``modified_at``."""


def words(text: str) -> list[str]:
    return _WORD.findall(text)


def shingle_set(tokens: list[str], n: int = _SHINGLE) -> set[tuple[str, ...]]:
    if len(tokens) < n:
        return {tuple(tokens)} if tokens else set()
    return {tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)}


def shingle_containment(part: str, whole_shingles: set[tuple[str, ...]]) -> float:
    """Share of ``part``'s shingles found in ``whole_shingles`` (0.0 for an empty part)."""
    own = shingle_set(words(part))
    return len(own & whole_shingles) / len(own) if own else 0.0


_VISIBLE_TEXT = etree.XPath(
    "//body//text()[not(ancestor::script or ancestor::style or ancestor::noscript or ancestor::template)]",
    smart_strings=False,  # plain str: a third of the cost of this call goes to building "smart" results
)


def visible_text(tree: HtmlElement) -> str:
    """The text a reader could see: every text node of <body> outside scripts and styles."""
    return " ".join(str(t) for t in _VISIBLE_TEXT(tree))


def normalize_body(text: str) -> str:
    """NFC, whitespace collapsed inside lines, one paragraph per line, no empty lines."""
    text = unicodedata.normalize("NFC", text)
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


_MARKUP = re.compile(r"</?[a-zA-Z][^>]*>")
_BLOCKS = ("p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "pre", "div", "br", "tr")


def jsonld_body_text(raw: str) -> str:
    """The JSON-LD ``articleBody`` as paragraphs: some sites put HTML in it, so markup is parsed
    and each block element becomes a line; entities are decoded."""
    raw = fix_mojibake(_unescape(raw))
    if not _MARKUP.search(raw):
        return normalize_body(raw)
    fragment = lxml.html.fragment_fromstring(raw, create_parent="div")
    for node in fragment.iter("script", "style", "figure", "figcaption"):
        node.drop_tree()
    for node in fragment.iter(*_BLOCKS):
        node.tail = "\n" + (node.tail or "")
        if node.tag != "br":
            node.text = "\n" + (node.text or "")
    return normalize_body(_unescape(fragment.text_content()))


_MOJIBAKE = re.compile("[\u00c2-\u00f4][\u0080-\u00bf\u0152-\u2122]{1,3}")


def _redecode(match: re.Match[str]) -> str:
    for codec in ("latin-1", "cp1252"):
        try:
            return match.group().encode(codec).decode("utf-8")
        except UnicodeError:
            continue
    return match.group()


def fix_mojibake(text: str) -> str:
    """UTF-8 sequences that were decoded as Latin-1/cp1252 (``â\x80\x94`` for an em dash),
    re-decoded one by one; sequences that do not round-trip stay as they are."""
    return _MOJIBAKE.sub(_redecode, text)


def _unescape(text: str) -> str:
    """HTML entities decoded, also when a site escaped them twice (``&amp;quot;``)."""
    for _ in range(3):
        decoded = html_lib.unescape(text)
        if decoded == text:
            break
        text = decoded
    return text


def jsonld_body_agrees(jsonld_body: str, extracted: str, tree: HtmlElement) -> bool:
    """Whether the JSON-LD body is the article on the page: most of its shingles occur in the
    extracted text or, failing that, in the page's visible text (stale or foreign bodies do not)."""
    if shingle_containment(jsonld_body, shingle_set(words(extracted))) >= JSONLD_AGREEMENT:
        return True
    return shingle_containment(jsonld_body, shingle_set(words(visible_text(tree)))) >= JSONLD_AGREEMENT


def choose_body(extracted: str, jsonld: JsonLdArticle | None, tree: HtmlElement) -> tuple[str, str | None]:
    """The body text and its signal: the JSON-LD body when it agrees with the page and is not a
    truncated teaser of what trafilatura found, else trafilatura's text."""
    candidate = jsonld_body_text(jsonld.body) if jsonld and jsonld.body else ""
    if not candidate:
        return extracted, ("trafilatura_body" if extracted else None)
    if not extracted:
        agrees = jsonld_body_agrees(candidate, "", tree)
        return (candidate, "jsonld_body") if agrees else ("", "jsonld_body_rejected")
    if not jsonld_body_agrees(candidate, extracted, tree):
        return extracted, "jsonld_body_rejected"
    # both describe the article: the JSON-LD copy is cleaner (no captions, no page furniture)
    # unless it is truncated, i.e. misses much of what trafilatura found
    if shingle_containment(extracted, shingle_set(words(candidate))) >= JSONLD_COMPLETE:
        return candidate, "jsonld_body"
    return extracted, "trafilatura_body"


# ---------------------------------------------------------------- body trimming

TRAILING_LINE_MAX_CHARS = 250
"""Only lines up to this length are tested against the trailing boilerplate patterns."""
_TRAILING_BOILERPLATE = re.compile(
    r"^(share( this( article| story| post| page)?)?( on \w+)?|advertisement|advertising|sponsored|"
    r"see also|tags?:.*|topics?:.*|filed under.*|explore further|comments?|leave a (comment|reply)|"
    r"(copyright|©|\(c\)).*|all rights reserved.*|sources?:.{0,80}|"
    r"(additional )?(reporting|writing|editing)( and \w+)? by .*|"
    r"follow (us|him|her|them|@\w+)\b.*|follow .*\b(on|at) (twitter|facebook|instagram|linkedin|youtube|"
    r"https?://).*|click here\b.*|(have a tip|got a tip)\b.*|.*\b(can|may) be reached at\b.*|"
    r"(get|receive|want|never miss|stay)\b.*\b(newsletters?|inbox)\b.*|subscribe\b.*|sign up\b.*|updated( at| on)? [\d:.apm ]+|"
    r"image credit:?.*|"
    r"(listen|watch) (to |live|back|the full|more|now)\b.*)[.:!…]*$",
    re.IGNORECASE,
)
_SECTION_END = re.compile(
    r"^(you (may|might) (also )?(like|enjoy)|related( articles| stories| coverage| content| posts| news)?|"
    r"more (stories|from .{0,60}|on this( story| topic)?|news|coverage)|recommended( for you)?|"
    r"read (more|next|also)|trending( now| stories)?|most (read|popular|viewed)|popular( now| stories)?|"
    r"latest( news| stories| videos)?|further reading|what to read next|don't miss|also on .{0,40})[.:!…]*$",
    re.IGNORECASE,
)
SECTION_END_MIN_SHARE = 0.5
LINK_LINE_MAX_CHARS = 150
"""A "Related"/"More stories" header cuts the body only in its second half and only when what
follows it is a list of short (headline-like) lines; an inline promo mid-article does not."""


_MONTH = (r"(jan|feb|m[aä]r|apr|ma[iy]|jun|jul|aug|sep|o[ck]t|nov|de[cz]|januar|febru|"
          r"janeiro|fevereiro|março|abril|maio|junho|julho|agosto|setembro|outubro|novembro|dezembro|"
          r"enero|febrero|marzo|mayo|junio|julio|septiembre|octubre|noviembre|diciembre|"
          r"janvier|février|mars|avril|juin|juillet|août|septembre|octobre|novembre|décembre)")
_DATELINE = re.compile(
    r"\b\d{1,2}[/.]\d{1,2}[/.]\d{2,4}\b|\b\d{4}-\d{2}-\d{2}\b|\b\d{1,2}:\d{2}\b|"
    rf"\b{_MONTH}\w*\.?\s+\d{{1,2}}\b|\b\d{{1,2}}\.?\s+(de\s+)?{_MONTH}\w*\b",
    re.IGNORECASE,
)
_BYLINE_OR_STAMP = re.compile(
    r"^(by|por|von|par|di|door)\s+\w|^(updated|published|posted|last updated|atualizado|publicado|"
    r"aktualisiert|mis à jour)\b",
    re.IGNORECASE,
)
_READING_TIME_OR_URL = re.compile(
    r"\b(min(ute)?s? read|reading time|tempo de leitura|lesezeit|temps de lecture|tiempo de lectura)\b|"
    r"^https?://\S+$",
    re.IGNORECASE,
)
STAMP_MAX_WORDS = 12
LEAD_LINE_MAX_CHARS = 120
"""Lines above the article that may be dropped are short: kickers, datelines, bylines, headlines."""
MAX_LEADING_LINES = 3


def is_heading_copy(line: str, titles: list[str]) -> bool:
    """Whether ``line`` is the headline again (the same words, give or take a few)."""
    line_words = {w.lower() for w in words(line)}
    if not line_words:
        return False
    for title in titles:
        title_words = {w.lower() for w in words(title)}
        if title_words and len(line_words & title_words) / max(len(line_words), len(title_words)) >= 0.6:
            return True
    return False


def is_stamp_line(line: str) -> bool:
    """A byline, date/time stamp, reading time or bare URL above the article. A short sentence
    that merely starts like a byline ("By Monday, the bridge…") is not one: bylines and stamps
    do not end a sentence unless they carry a date or time."""
    if len(line) > LEAD_LINE_MAX_CHARS:
        return False
    if _READING_TIME_OR_URL.search(line):
        return True
    if len(words(line)) > STAMP_MAX_WORDS:
        return False
    dated = _DATELINE.search(line) is not None
    if _BYLINE_OR_STAMP.search(line):
        return dated or not line.rstrip().endswith((".", "!", "?"))
    return dated and not line.endswith(".")


def trim_leading(lines: list[str], titles: list[str]) -> list[str]:
    """Drop the headline (and the kicker/stamp lines above it) and stamp lines from the top."""
    top = lines[:MAX_LEADING_LINES]
    for index, line in enumerate(top):
        if len(line) > LEAD_LINE_MAX_CHARS * 2:
            break
        if is_heading_copy(line, titles) and all(len(x) <= LEAD_LINE_MAX_CHARS for x in top[:index]):
            lines = lines[index + 1:]
            break
    while len(lines) > 1 and is_stamp_line(lines[0]):
        lines = lines[1:]
    return lines


_PROMO_LABEL = (r"(more|related( \w+)?|read more|see more|see also|also see|also read|read also|read next|"
                r"don'?t miss|most read( in [\w ]{1,40})?|recommended( for you| reading)?|trending( now)?|"
                r"you (may|might) also like|more on this( story| topic)?|related coverage)")
_PROMO_LINE = re.compile(
    rf"^({_PROMO_LABEL}[.:!…]*|{_PROMO_LABEL}\s*[:|»]\s*.{{3,150}})$", re.IGNORECASE)
_PROMO_SUFFIX = re.compile(r"\s*click to tweet$", re.IGNORECASE)
_SHORTCODE_LINE = re.compile(r"^\[\w+\s[^\]]*=[^\]]*\]")
"""A line opening with an unrendered CMS shortcode (``[button link="…"]``): page furniture."""
MAX_PROMO_LINKS = 3
"""Link lines right under a promo label ("Don't miss") that go with it."""


def drop_inline_promos(lines: list[str], links: Callable[[], set[str]] | None) -> list[str]:
    """Remove promo lines inside the body ("Related: …", "Read more", "More:") with up to
    ``MAX_PROMO_LINKS`` following lines that are link texts, all-capitals link lines, lines of
    unrendered shortcodes, and "Click to Tweet" suffixes."""
    kept: list[str] = []
    skip_links = 0
    for line in lines:
        if skip_links and links is not None and _link_key(line.lstrip("-*• ")) in links():
            skip_links -= 1
            continue
        skip_links = 0
        if _PROMO_LINE.match(line.strip()):
            skip_links = MAX_PROMO_LINKS
            continue
        if _SHORTCODE_LINE.match(line) or (links is not None and is_shouted_link(line, links)):
            continue
        kept.append(_PROMO_SUFFIX.sub("", line))
    return kept or lines


SHOUTED_LINK_MIN_WORDS = 4


def is_shouted_link(line: str, links: Callable[[], set[str]]) -> bool:
    """An all-capitals line that is exactly a link's text: an inline "read this too" link to
    another story or an app ("CLICK HERE TO GET THE … APP"), not a subhead (subheads are not links)."""
    return line.isupper() and len(words(line)) >= SHOUTED_LINK_MIN_WORDS \
        and _link_key(line.lstrip("-*• ")) in links()


MIN_LINK_RUN = 2
"""Runs of at least this many link-text lines at the top or bottom of a body are navigation."""


def link_texts(tree: HtmlElement) -> set[str]:
    """The lower-cased word sequences of the page's link texts (to spot link lists in a body)."""
    texts = {_link_key(anchor.text_content()) for anchor in tree.iter("a")}
    texts.discard("")
    return texts


def _link_key(text: str) -> str:
    return " ".join(words(text.lower()))


def _link_run(lines: list[str], links: set[str]) -> int:
    """Length of the run of link-text lines at the start of ``lines``."""
    run = 0
    for line in lines:
        if len(line) > LINK_LINE_MAX_CHARS or _link_key(line.lstrip("-*• ")) not in links:
            break
        run += 1
    return run


def trim_body(body: str, titles: list[str], links: Callable[[], set[str]] | None = None) -> str:
    """Drop the headline and byline/date lines at the top, lists of links at either end (when
    ``links`` gives the page's link texts), and boilerplate lines at the end. General rules only;
    the body keeps at least one line."""
    if links is not None:
        links = functools.cache(links)
    lines = drop_inline_promos(trim_leading(body.split("\n"), titles), links)
    for index in range(max(1, int(len(lines) * SECTION_END_MIN_SHARE)), len(lines)):
        if _SECTION_END.match(lines[index].strip()) \
                and all(len(line) <= LINK_LINE_MAX_CHARS for line in lines[index + 1:]):
            lines = lines[:index]
            break
    lines = _drop_trailing_boilerplate(lines)
    short = [len(line) <= LINK_LINE_MAX_CHARS for line in lines]
    if links is not None and len(lines) > MIN_LINK_RUN \
            and (all(short[:MIN_LINK_RUN]) or all(short[-MIN_LINK_RUN:])):
        texts = links()
        if MIN_LINK_RUN <= (head := _link_run(lines, texts)) < len(lines):
            lines = lines[head:]
        if MIN_LINK_RUN <= (tail := _link_run(lines[::-1], texts)) < len(lines):
            lines = _drop_trailing_boilerplate(lines[:-tail])
    return "\n".join(lines)


def _drop_trailing_boilerplate(lines: list[str]) -> list[str]:
    end = len(lines)
    while end > 1 and len(lines[end - 1]) <= TRAILING_LINE_MAX_CHARS \
            and _TRAILING_BOILERPLATE.match(lines[end - 1].strip()):
        end -= 1
    return lines[:end]


# ---------------------------------------------------------------- teasers and paywalls

PAYWALL_CLASSES = ("paywall", "pay-wall", "regwall", "piano-offer", "subscriber-only",
                   "subscription-required", "premium-content", "premium-article", "premium-wall",
                   "meteredContent")

_SUBSCRIBE_ENDING = re.compile(
    r"(subscribe|subscription|sign in|log ?in|register|become a (member|subscriber)|already a subscriber)"
    r".{0,80}(continue|read|access|full (story|article))|"
    r"(continue|keep) reading.{0,40}(subscri|sign|log ?in|member)|"
    r"(this (article|content|story) is (only )?(available|reserved|exclusive)).{0,40}(subscri|member)|"
    r"to (read|continue|unlock).{0,60}(subscri|member|premium)|"
    r"会員限定|続きをお読みいただけます",
    re.IGNORECASE,
)
SHORT_BODY_CHARS = 1500
"""A body shorter than this that ends with a subscribe prompt or sits under a paywall is a teaser."""


PAYWALLED_PART_MIN_CHARS = 500
"""Text the page must carry inside its JSON-LD paywalled part for that part to count as served."""
_SIMPLE_SELECTOR = re.compile(r"^([.#])([\w-]+)$")


def _paywalled_content_served(body: str, jsonld: JsonLdArticle, tree: HtmlElement) -> bool:
    """Whether a page marked paywalled (isAccessibleForFree false) still carries the whole article:
    the body has the JSON-LD word count, or the part the markup names (``hasPart.cssSelector``,
    simple ``.class``/``#id`` selectors) is on the page with text in it (as served to crawlers)."""
    if jsonld.word_count and len(words(body)) >= 0.8 * jsonld.word_count:
        return True
    for selector in (s.strip() for joined in jsonld.paywalled_selectors for s in joined.split(",")):
        match = _SIMPLE_SELECTOR.match(selector)
        if match is None:
            continue
        kind, name = match.groups()
        query = (f"//*[contains(concat(' ', normalize-space(@class), ' '), ' {name} ')]" if kind == "."
                 else f"//*[@id='{name}']")
        if any(len(node.text_content().strip()) >= PAYWALLED_PART_MIN_CHARS for node in tree.xpath(query)):
            return True
    return False


def _paywall_wall(tree: HtmlElement) -> bool:
    """Whether the page has a paywall element (by class or id) that is a wall, not a wrapper
    around the served article text."""
    names = set(PAYWALL_CLASSES)
    nodes = [node for node in tree.iter()
             if node.get("id") in names or names & set((node.get("class") or "").split())]
    return bool(nodes) and all(len(n.text_content().strip()) < PAYWALLED_PART_MIN_CHARS for n in nodes)


POINTER_LINE_MAX_CHARS = 250
POINTER_WINDOW_CHARS = 300
"""How far past the body's last line (in the page's visible text) a pointer to the full text is
looked for: extractors often leave such a closing line out as a link box."""
_FULL_TEXT_ELSEWHERE = re.compile(
    r"\bread the (full|whole|complete|entire|rest of the) (story|article|report|interview|piece)\b.{0,60}\b(at|on)\b|"
    r"\bcontinue reading (at|on)\b|"
    r"\bthe (full|complete|whole|longer) (version|story|article|text|interview)\b.{0,40}\b(is|are) available (at|on)\b|"
    r"\blesen sie (weiter|mehr) (auf|bei|unter)\b|"
    r"\blesen sie (den ganzen|die ganze|das ganze|den vollständigen|die vollständige|das vollständige|"
    r"eine längere|die längere|eine ausführliche|die ausführliche)\b|"
    r"\blire la suite\b|\bretrouvez l['’]intégralité\b|"
    r"\b(lee|lea) la noticia completa\b|\bseguir leyendo\b",
    re.IGNORECASE,
)


def points_to_full_text_elsewhere(body: str, tree: HtmlElement) -> bool:
    """Whether the article closes with a pointer to its full or longer text elsewhere ("Read the
    full story at …", "Lesen Sie eine längere Version … unter …"): as the body's last line, or in
    the page text right after it. A "Read more:" list of related links is not such a pointer."""
    last = " ".join(body.rsplit("\n", 1)[-1].split())
    if not last:
        return False
    if len(last) <= POINTER_LINE_MAX_CHARS and _FULL_TEXT_ELSEWHERE.search(last):
        return True
    page = " ".join(visible_text(tree).split())
    anchor = last[-80:]
    at = page.rfind(anchor)
    return at >= 0 and _FULL_TEXT_ELSEWHERE.search(page[at + len(anchor):at + len(anchor) + POINTER_WINDOW_CHARS]) is not None


def partial_signals(body: str, html: str, tree: HtmlElement, jsonld: JsonLdArticle | None,
                    feed_summary: str | None) -> list[str]:
    """The reasons to think ``body`` is only part of the article (empty when it looks complete):
    "jsonld_paywall", "subscribe_ending", "paywall_marker", "shorter_than_wordcount",
    "feed_summary_only", "full_text_elsewhere"."""
    reasons: list[str] = []
    if jsonld is not None and (jsonld.is_accessible_for_free is False or jsonld.paywalled_part) \
            and not _paywalled_content_served(body, jsonld, tree):
        reasons.append("jsonld_paywall")
    short = len(body) < SHORT_BODY_CHARS
    tail = body[-300:]
    if short and _SUBSCRIBE_ENDING.search(tail):
        reasons.append("subscribe_ending")
    if short and any(name in html for name in PAYWALL_CLASSES) and _paywall_wall(tree):
        reasons.append("paywall_marker")
    if jsonld is not None and jsonld.word_count and len(words(body)) < 0.5 * jsonld.word_count:
        reasons.append("shorter_than_wordcount")
    if points_to_full_text_elsewhere(body, tree):
        reasons.append("full_text_elsewhere")
    if feed_summary:
        summary = clean_text(feed_summary) or ""
        body_words, summary_words = words(body), words(summary)
        if summary_words and len(body_words) <= 1.2 * len(summary_words) \
                and shingle_containment(summary, shingle_set(body_words)) >= 0.8:
            reasons.append("feed_summary_only")
    return reasons


# ---------------------------------------------------------------- the whole page


def _trafilatura_text(tree: HtmlElement, url: str, description: str | None) -> str:
    document = trafilatura.bare_extraction(tree, url=url or None, fast=True, include_comments=False)
    body = getattr(document, "body", None) if document is not None else None
    if body is None:
        return ""
    drop_leading_headings(body, description)
    return normalize_body(xmltotxt(body, include_formatting=False))


DECK_MIN_WORDS = 6
"""A heading right under the headline with at least this many words is a deck, not a section."""


def _block_text(element: etree._Element) -> str:
    return " ".join(" ".join(element.itertext()).split())


def drop_leading_headings(body: etree._Element, description: str | None) -> None:
    """Remove the headline block from the top of trafilatura's XML body, in place: any <h1> among
    the first blocks (and the short kicker/date blocks above it), then a deck: a heading right
    under it that repeats the page description or reads like a sentence."""
    blocks = list(body)[:MAX_LEADING_LINES]
    h1 = [k for k, el in enumerate(blocks) if el.tag == "head" and el.get("rend") == "h1"]
    drop: list[etree._Element] = []
    if h1 and all(len(_block_text(el)) <= LEAD_LINE_MAX_CHARS for el in blocks[:h1[-1]]):
        drop = blocks[:h1[-1] + 1]
    rest = list(body)[len(drop):]
    if len(rest) > 1 and rest[0].tag == "head":
        text = _block_text(rest[0])
        repeats_description = bool(description) and words(text.lower()) == words((description or "").lower())
        if repeats_description or (drop and len(words(text)) >= DECK_MIN_WORDS):
            drop.append(rest[0])
    for element in drop:
        body.remove(element)


_TRUNCATED = ("…", "...")


def choose_title(feed_title: str | None, page_title: str | None) -> str | None:
    """The feed's title when it gives a whole one: the publisher's own headline for syndication,
    without the " | Site" suffixes and SEO rewrites of page titles. A feed title cut short ("…",
    "...") or empty yields to the page's (JSON-LD headline, og:title, cleaned <title>)."""
    feed = clean_text(feed_title)
    if feed and not feed.endswith(_TRUNCATED):
        return feed
    return page_title or feed


def extract_page(
    html: str,
    url: str,
    *,
    feed_published: datetime | None = None,
    feed_title: str | None = None,
    feed_summary: str | None = None,
    now: datetime | None = None,
    rules: Mapping[str, DomainRule] | None = None,
) -> Extracted | None:
    """The clean body and metadata of one page, or None when the page has no body at all.

    ``title`` prefers ``feed_title`` unless it is truncated (``choose_title``). ``published_at``
    is the day ``feed_published``, a site rule's date and the page's own dates agree on
    (``dates.resolve_page_date``), in the source's offset; anything after ``now`` (default: the
    current time) is dropped. ``rules``
    defaults to ``domain_rules.DEFAULT_RULES``. ``signals`` names the sources used (see
    ``choose_body``, ``metadata.resolve_published`` and ``partial_signals``)."""
    now = now or datetime.now(UTC)
    tree = load_html(html) if html and html.strip() else None
    if tree is None:
        return None
    meta: PageMetadata = page_metadata(tree)
    signals = list(meta.signals)
    rule = rule_for(site_of(url), rules) if url else None
    rule_body: str | None = None
    rule_date_text: str | None = None
    if rule is not None:
        if prune(tree, rule):
            signals.append("rule_prune")
        rule_body = select_text(tree, rule.body)
        rule_date_text = select_text(tree, rule.date)

    source: str | None
    if rule_body:
        body, source = normalize_body(rule_body), "rule_body"
    else:
        body, source = choose_body(_trafilatura_text(tree, url, meta.description), meta.jsonld, tree)
    if source:
        signals.append(source)
    title = choose_title(feed_title, meta.title)
    partial = partial_signals(body, html, tree, meta.jsonld, feed_summary)  # before trimming the ending
    body = trim_body(body, meta.title_variants + ([title] if title else []), lambda: link_texts(tree))
    if not body:
        return None

    dates = resolve_page_date(tree, tags=meta.tags, jsonld_dates=meta.jsonld.dates if meta.jsonld else {},
                              url=url or None, language=meta.language, feed_published=feed_published,
                              rule_text=rule_date_text, now=now)
    if dates.winner:
        signals.append(dates.winner)
    signals.extend(partial)
    return Extracted(
        body=body,
        title=title,
        authors=meta.authors,
        language=meta.language,
        site_name=meta.site_name,
        canonical_url=canonical_of(meta.canonical_url, url),
        published_at=dates.published_at,
        description=meta.description,
        partial=bool(partial),
        signals=signals,
        dates=dates,
    )
