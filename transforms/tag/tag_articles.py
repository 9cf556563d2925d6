"""Topic (IPTC Media Topics) and region (ISO 3166-1 countries, UN M49 roll-ups) tags per article.

``tag_text`` is the pure tagger; ``TagArticles`` applies it to a PCollection of ``Article``.

Countries are split by salience (title, dateline and lead count more than the body; names more than
demonyms): ``countries`` are the ones the story is about (the most salient one, and any other scoring
at least ``ABOUT_RATIO`` of it and ``ABOUT_MIN_SCORE``), ``mentioned_countries`` the rest. A
publisher's region hint is a weak prior: it breaks a tie, never adds a country.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import apache_beam as beam

from newsflow.transforms.failures import rejecting
from newsflow.transforms.items import REJECTED, TAG_STAGE, Article, TopicTag
from newsflow.transforms.tag.gazetteer import (
    KIND_WEIGHT,
    PlaceMention,
    dateline_places,
    find_places,
    m49_table,
    resolve_mentions,
)
from newsflow.transforms.tag.language import load_identifier, resolve_language
from newsflow.transforms.tag.topics import (
    LEAD_CHARS,
    LEAD_WEIGHT,
    TITLE_WEIGHT,
    TermHit,
    choose_topics,
    media_topics,
    score_hits,
    topic_lexicon,
)

DATELINE_WEIGHT = 3.0
PLACE_TITLE_WEIGHT = 3.0
PLACE_LEAD_WEIGHT = 1.5
ABOUT_RATIO = 0.3
"""A country is one the story is about when it scores at least this share of the top country..."""
ABOUT_MIN_SCORE = 2.0
"""...and at least this much (a single body mention of a name scores 1)."""

_DATE = r",\s*[A-Za-z]{3,9}\.?\s+\d{1,2}"
_AGENCY = r"\s*\([A-Za-z ]+\)"
_DASH = r"\s*(?:--|-|–|—)\s+"
_DATELINE = re.compile(
    # "TOKYO, April 8 -", "NEW YORK (Reuters) -", "SANTA MONICA, Calif., April 8 -"
    r"\A\s*[A-Z][A-Z.'\- ]*[A-Z.](?:,\s*[A-Z][A-Za-z.' ]*[A-Za-z.])?"
    rf"(?:{_AGENCY})?(?:{_DATE})?{_DASH}"
    # "Toronto, April 8 -", "Orlando, Fla, April 13 -": a mixed-case place needs the date
    rf"|\A\s*[A-Z][A-Za-z.'\- ]*[a-z.](?:,\s*[A-Z][A-Za-z.' ]*[A-Za-z.])?(?:{_AGENCY})?{_DATE}{_DASH}")


@dataclass
class Tags:
    """What the tagger says about one text. ``evidence`` (matched terms per tag) only on request."""

    topics: list[TopicTag] = field(default_factory=list)
    primary_topic: str | None = None
    countries: list[str] = field(default_factory=list)
    mentioned_countries: list[str] = field(default_factory=list)
    subregions: list[str] = field(default_factory=list)
    regions: list[str] = field(default_factory=list)
    primary_region: str | None = None
    evidence: dict[str, Any] | None = None




def split_dateline(body: str) -> tuple[str, str]:
    """("TOKYO, April 8 -", rest) when the body opens with a wire-style dateline, else ("", body)."""
    match = _DATELINE.match(body)
    if not match:
        return "", body
    return body[:match.end()], body[match.end():]


_LOCAL_DATELINE = re.compile(
    # "Wien – ", "Rom (APA) – ", "Los Angeles — ": a capitalised place of one to three words and a dash,
    # at the start of the body or of a sentence of the lead (a teaser often comes first)
    r"(?:\A|(?<=[.!?\"“”»«]\s))\s*(?P<place>[^\W\d_][\w.'’\-]*(?:[ /][^\W\d_][\w.'’\-]*){0,2})"
    r"(?:\s*\([^()]{1,30}\))?\s+(?:–|—|-)\s+")


def local_dateline(body: str, language: str | None) -> tuple[int, int]:
    """(start, end) in ``body`` of a dateline in the style of non-English news ("Wien – ", after a
    teaser or at the start), when its place part is a known place of the language; else (0, 0)."""
    if not language or language == "en":
        return 0, 0
    for match in _LOCAL_DATELINE.finditer(body, 0, LEAD_CHARS + 100):
        place = match.group("place")
        if place[:1].isupper() and dateline_places(place, language):
            return match.start("place"), match.end()
    return 0, 0


def _is_all_caps(text: str) -> bool:
    return text == text.upper() and sum(ch.isalpha() for ch in text[:40]) >= 4


def _normalize_hint(region_hint: str | None) -> str | None:
    if region_hint and len(region_hint.strip()) == 2 and region_hint.strip().isalpha():
        return region_hint.strip().upper()
    return None


def _find_all_places(document: str, title: str, body: str, body_start: int, dateline: tuple[int, int],
                     language: str | None) -> list[PlaceMention]:
    """Resolved place mentions of the whole document, offsets into ``document``; ``dateline`` is the
    dateline's span in ``body``."""
    mentions = find_places(title, all_caps=_is_all_caps(title), language=language)
    for start, end in ((0, dateline[0]), (dateline[1], len(body))):
        part = body[start:end]
        if part:
            offset = body_start + start
            mentions += [dataclasses.replace(m, start=m.start + offset, end=m.end + offset)
                         for m in find_places(part, all_caps=_is_all_caps(part), language=language)]
    offset = body_start + dateline[0]
    settled = [dataclasses.replace(m, start=m.start + offset, end=m.end + offset)
               for m in dateline_places(body[dateline[0]:dateline[1]], language)]
    return sorted(settled + resolve_mentions(document, mentions, context=settled), key=lambda m: m.start)


def score_countries(mentions: list[PlaceMention], title_end: int, dateline_end: int,
                    lead_end: int, dateline_start: int = 0) -> dict[str, float]:
    """Salience per country: the best title and dateline mention, the lead mentions, and the body
    mentions with repeats of one surface counting less each time."""
    title_best: dict[str, float] = {}
    dateline_best: dict[str, float] = {}
    rest: dict[str, float] = {}
    repeats: dict[str, int] = {}
    for mention in mentions:
        weight = KIND_WEIGHT[mention.kind]
        if mention.start < title_end:
            title_best[mention.iso] = max(title_best.get(mention.iso, 0.0), weight)
        elif dateline_start <= mention.start < dateline_end:
            dateline_best[mention.iso] = max(dateline_best.get(mention.iso, 0.0), weight)
        else:
            seen = repeats.get(mention.surface, 0)
            repeats[mention.surface] = seen + 1
            zone = PLACE_LEAD_WEIGHT if mention.start < lead_end else 1.0
            rest[mention.iso] = rest.get(mention.iso, 0.0) + weight * zone / math.sqrt(1 + seen)
    scores: dict[str, float] = {}
    for iso in set(title_best) | set(dateline_best) | set(rest):
        scores[iso] = (PLACE_TITLE_WEIGHT * title_best.get(iso, 0.0)
                       + DATELINE_WEIGHT * dateline_best.get(iso, 0.0) + rest.get(iso, 0.0))
    return scores


def _rank_countries(scores: dict[str, float], hint: str | None) -> tuple[list[str], list[str]]:
    ranked = sorted(scores, key=lambda iso: (-round(scores[iso], 6), iso != hint, iso))
    if not ranked:
        return [], []
    best = scores[ranked[0]]
    about = [iso for iso in ranked
             if iso == ranked[0] or (scores[iso] >= ABOUT_RATIO * best and scores[iso] >= ABOUT_MIN_SCORE)]
    return about, [iso for iso in ranked if iso not in about]


def _roll_up(countries: list[str]) -> tuple[list[str], list[str]]:
    table = m49_table()
    subregions: list[str] = []
    regions: list[str] = []
    for iso in countries:
        if iso in table:
            _, subregion, region = table[iso]
            if subregion not in subregions:
                subregions.append(subregion)
            if region not in regions:
                regions.append(region)
    return subregions, regions


def tag_text(title: str | None, body: str, *, region_hint: str | None = None,
             language: str | None = None, explain: bool = False) -> Tags:
    """Topic and region tags of one article. Pure; the automata are built once per process.
    ``language`` (ISO 639-1, see ``language.resolve_language``) picks the place names and topic
    terms of that language on top of the English ones; None means English only."""
    title = title or ""
    body = body or ""
    body_start = len(title) + 2 if title else 0
    document = f"{title}\n\n{body}" if title else body
    if title and body.startswith(title):  # extracted bodies often repeat the headline first
        body_start += len(title)
        body = body[len(title):]
    dateline_text, _ = split_dateline(body)
    dateline = (0, len(dateline_text)) if dateline_text else local_dateline(body, language)
    title_end = len(title)
    dateline_end = body_start + dateline[1]
    lead_end = dateline_end + LEAD_CHARS

    hits = topic_lexicon(language).find(document)
    weighted: list[tuple[TermHit, float]] = []
    for hit in hits:
        zone = TITLE_WEIGHT if hit.start < title_end else LEAD_WEIGHT if hit.start < lead_end else 1.0
        weighted.append((hit, zone))
    topics = choose_topics(score_hits(weighted))

    mentions = _find_all_places(document, title, body, body_start, dateline, language)
    scores = score_countries(mentions, title_end, dateline_end, lead_end, body_start + dateline[0])
    countries, mentioned = _rank_countries(scores, _normalize_hint(region_hint))
    subregions, regions = _roll_up(countries)
    primary_region = subregions[0] if subregions else None  # of the most salient country with one

    evidence = None
    if explain:
        evidence = {"topics": _evidence_topics(hits), "countries": _evidence_places(document, mentions),
                    "country_scores": {iso: round(s, 3) for iso, s in sorted(scores.items())},
                    "dateline": body[dateline[0]:dateline[1]].strip() or None}
    return Tags(topics=topics, primary_topic=topics[0].code if topics else None, countries=countries,
                mentioned_countries=mentioned, subregions=subregions, regions=regions,
                primary_region=primary_region, evidence=evidence)


def _evidence_topics(hits: list[TermHit]) -> dict[str, list[str]]:
    topics = media_topics()
    out: dict[str, list[str]] = {}
    for hit in hits:
        for code in {hit.code, topics[hit.code].top}:
            terms = out.setdefault(code, [])
            if hit.term not in terms:
                terms.append(hit.term)
    return dict(sorted(out.items()))


def _evidence_places(document: str, mentions: list[PlaceMention]) -> dict[str, list[str]]:
    """Surfaces per country: the name as listed, or the word as written when it is an inflected form
    ("Москве" for the key "Москв")."""
    out: dict[str, list[str]] = {}
    for mention in mentions:
        written = document[mention.start:mention.end]
        surface = mention.surface if written.lower() == mention.surface.lower() else written
        surfaces = out.setdefault(mention.iso, [])
        if surface not in surfaces:
            surfaces.append(surface)
    return dict(sorted(out.items()))


def load_tables() -> None:
    """Build the topic lexicon, M49 table and gazetteer (with its dateline table) now, once per
    process, rather than inside the first text tagged."""
    topic_lexicon()
    m49_table()
    dateline_places("")


class _TagArticleFn(beam.DoFn):
    def __init__(self, explain: bool):
        self._explain = explain
        self._articles = beam.metrics.Metrics.counter("newsflow", "tag.articles")
        self._no_topic = beam.metrics.Metrics.counter("newsflow", "tag.no_topic")
        self._no_country = beam.metrics.Metrics.counter("newsflow", "tag.no_country")

    def setup(self) -> None:
        load_tables()
        load_identifier()

    def process(self, article: Article) -> Iterator[Any]:
        yield from rejecting(TAG_STAGE, article, lambda: [self._tagged(article)])

    def _tagged(self, article: Article) -> Article:
        language = resolve_language(article.language, article.title, article.body)
        tags = tag_text(article.title, article.body, region_hint=article.region_hint, language=language,
                        explain=self._explain)
        self._articles.inc()
        if not tags.topics:
            self._no_topic.inc()
        if not tags.countries:
            self._no_country.inc()
        return dataclasses.replace(
            article, language=language, topics=tags.topics, primary_topic=tags.primary_topic,
            countries=tags.countries, mentioned_countries=tags.mentioned_countries, subregions=tags.subregions,
            regions=tags.regions, primary_region=tags.primary_region,
            tag_evidence=json.dumps(tags.evidence, sort_keys=True) if tags.evidence is not None else None)


class TagArticles(beam.PTransform):
    """PCollection[Article] → ``articles`` (main: topic and region tags filled in) and ``rejected``
    (an article whose tagging raised, as a dead letter of stage "tag").

    Element-wise (a ParDo, no grouping): works the same in batch and streaming and keeps each
    element's window and timestamp. Every input article comes out once; tags already on an article
    are replaced. The article's ``language`` is checked against its text first (filled when none was
    declared, replaced when the text clearly contradicts the declaration; see ``language``) and picks the
    language-specific names and terms. With ``explain=True`` each article also carries ``tag_evidence`` (JSON: matched
    terms per topic and surfaces per country). Counters: newsflow tag.articles, tag.no_topic,
    tag.no_country.
    """

    def __init__(self, explain: bool = False, label: str | None = None):
        super().__init__(label)
        if not isinstance(explain, bool):
            raise TypeError(f"explain must be a bool, got {type(explain).__name__}")
        self._explain = explain

    def expand(self, articles):
        return articles | "Tag" >> beam.ParDo(_TagArticleFn(self._explain)).with_outputs(REJECTED, main="articles")
