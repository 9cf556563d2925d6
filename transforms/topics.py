"""IPTC Media Topics by weighted keyword and phrase lexicons.

The lexicon (``data/topic_lexicon.tsv``, hand-written) maps terms to a top-level or second-level
Media Topic code with a weight. A document's score per code is the sum of its matched terms, a
title match counting ``TITLE_WEIGHT`` times and a lead-paragraph match ``LEAD_WEIGHT`` times a
body match; repeats of one term count less each time. Top-level scores include their children.
"""

from __future__ import annotations

import csv
import functools
import io
from dataclasses import dataclass
from importlib import resources

import ahocorasick

from newsflow.transforms.items import TopicTag

TITLE_WEIGHT = 3.0
LEAD_WEIGHT = 1.5
LEAD_CHARS = 300
MAX_REPEATS = 3
"""A term counts at most this many times per zone, each repeat half the one before."""
MIN_TOPIC_SCORE = 2.0
"""Below this a document gets no topic at all."""
SECONDARY_RATIO = 0.8
"""Another top-level topic is tagged when it scores at least this share of the primary."""
MAX_TOPICS = 3
SECOND_LEVEL_MIN_SCORE = 4.0
SECOND_LEVEL_RATIO = 0.4
"""A second-level code is tagged when it is this share of its top level and above the minimum."""


@dataclass(frozen=True)
class MediaTopic:
    code: str
    level: int
    parent: str | None
    top: str
    label: str


@dataclass(frozen=True)
class TermHit:
    """One lexicon term found in a document: where, which code it votes for and how much."""

    start: int
    end: int
    term: str
    code: str
    weight: float


def _read_data(name: str) -> str:
    return resources.files("newsflow.transforms").joinpath("data", name).read_text(encoding="utf-8")


@functools.cache
def media_topics() -> dict[str, MediaTopic]:
    """Media Topic code → concept, for the 17 top-level and their active second-level children."""
    table = {}
    for row in csv.DictReader(io.StringIO(_read_data("iptc_topics.tsv")), delimiter="\t"):
        table[row["code"]] = MediaTopic(row["code"], int(row["level"]), row["parent"] or None,
                                        row["top"], row["label"])
    return table


def top_level_codes() -> list[str]:
    return sorted(code for code, topic in media_topics().items() if topic.level == 1)


class TopicLexicon:
    """Two Aho-Corasick automata over the lexicon: case-sensitive terms (names, acronyms) on the
    text as written, the rest on the lower-cased text."""

    def __init__(self, rows: list[tuple[str, str, float]]):
        topics = media_topics()
        self._cased = ahocorasick.Automaton()
        self._folded = ahocorasick.Automaton()
        for term, code, weight in rows:
            if code not in topics:
                raise ValueError(f"topic lexicon: unknown Media Topic code {code!r} for {term!r}")
            prefix = term.endswith("*")
            key = term.rstrip("*")
            automaton = self._folded if key == key.lower() else self._cased
            automaton.add_word(key, (term, key, prefix, code, weight))
        for automaton in (self._cased, self._folded):
            if len(automaton):
                automaton.make_automaton()

    def find(self, text: str, folded: str | None = None) -> list[TermHit]:
        """Leftmost-longest word-bounded term hits; ``folded`` is ``text.lower()`` if at hand."""
        folded = text.lower() if folded is None else folded
        candidates = []
        for automaton, haystack in ((self._cased, text), (self._folded, folded)):
            if not len(automaton):
                continue
            for end_index, (term, key, prefix, code, weight) in automaton.iter(haystack):
                end = end_index + 1
                start = end - len(key)
                if start > 0 and haystack[start - 1].isalnum():
                    continue
                if not prefix and end < len(haystack) and haystack[end].isalnum():
                    continue
                candidates.append((start, start - end, term, code, weight))
        candidates.sort(key=lambda c: (c[0], c[1]))
        hits: list[TermHit] = []
        cursor = 0
        for start, neg_len, term, code, weight in candidates:
            if start < cursor:
                continue
            cursor = start - neg_len
            hits.append(TermHit(start, cursor, term, code, weight))
        return hits


@functools.cache
def topic_lexicon() -> TopicLexicon:
    """The process-wide lexicon automata, built on first use."""
    rows = []
    for line in _read_data("topic_lexicon.tsv").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        term, code, weight = line.split("\t")
        rows.append((term, code, float(weight)))
    return TopicLexicon(rows)


def score_hits(hits: list[tuple[TermHit, float]]) -> dict[str, float]:
    """Per-code scores from (hit, zone weight) pairs; each top level also gets its children's."""
    topics = media_topics()
    seen: dict[tuple[str, float], int] = {}
    scores: dict[str, float] = {}
    for hit, zone_weight in hits:
        repeats = seen.get((hit.term, zone_weight), 0)
        seen[(hit.term, zone_weight)] = repeats + 1
        if repeats >= MAX_REPEATS:
            continue
        value = hit.weight * zone_weight / (2 ** repeats)
        scores[hit.code] = scores.get(hit.code, 0.0) + value
        top = topics[hit.code].top
        if top != hit.code:
            scores[top] = scores.get(top, 0.0) + value
    return scores


def choose_topics(scores: dict[str, float]) -> list[TopicTag]:
    """The tagged topics, primary first: top levels above the floor and close to the best one,
    each followed by its clearly supported second-level codes."""
    topics = media_topics()
    tops = sorted(((s, c) for c, s in scores.items() if topics[c].level == 1), key=lambda x: (-x[0], x[1]))
    if not tops or tops[0][0] < MIN_TOPIC_SCORE:
        return []
    total = sum(s for s, _ in tops)
    best = tops[0][0]
    tags: list[TopicTag] = []
    for score, code in tops[:MAX_TOPICS]:
        if score < SECONDARY_RATIO * best:
            break
        confidence = round(score / total, 3)
        tags.append(TopicTag(code, topics[code].label, confidence))
        children = sorted(((s, c) for c, s in scores.items()
                           if topics[c].level == 2 and topics[c].top == code), key=lambda x: (-x[0], x[1]))
        for child_score, child in children:
            if child_score >= SECOND_LEVEL_MIN_SCORE and child_score >= SECOND_LEVEL_RATIO * score:
                tags.append(TopicTag(child, topics[child].label, round(confidence * child_score / score, 3)))
    return tags
