"""IPTC Media Topics by weighted keyword and phrase lexicons.

The lexicon (``data/topic_lexicon.tsv``, hand-written) maps terms to a top-level or second-level
Media Topic code (or ``NO_TOPIC``) with a weight. Each other language with a lexicon
(``data/topics_<lang>.tsv``, hand-written general news vocabulary, one line per code and weight) adds
its terms to the English ones for texts in that language; inflected forms are matched by stems
(``term*``), words of scripts written without spaces (Chinese, Japanese, Thai) need no word
boundary, and Arabic and Hebrew terms may carry their clitics (``والحكومة`` for ``حكومة``). A document's score per code is the sum of its
matched terms, a title match counting ``TITLE_WEIGHT`` times and a lead-paragraph match
``LEAD_WEIGHT`` times a body match; repeats of one term count less each time. A term may vote for
several codes (a story of two topics, such as a drug maker's recall). Top-level scores include their
children.
"""

from __future__ import annotations

import csv
import functools
import io
from dataclasses import dataclass

import ahocorasick

from newsflow.transforms.data_files import read_data
from newsflow.transforms.items import TopicTag
from newsflow.transforms.tag.gazetteer import no_space_letter

TITLE_WEIGHT = 2.0
LEAD_WEIGHT = 1.5
LEAD_CHARS = 300
MAX_REPEATS = 3
"""A term counts at most this many times per code, each repeat half the one before, whatever the
zone: a headline word repeated in the lead adds half as much again (short items, such as a title
and a one-sentence summary, often say the same thing twice)."""
MIN_TOPIC_SCORE = 2.0
"""Below this a document gets no topic at all."""
SECONDARY_RATIO = 0.9
"""Another top-level topic is tagged when it scores at least this share of the primary."""
MAX_TOPICS = 3
ECONOMY = "medtop:04000000"
BUSINESS_SIDE = frozenset({"medtop:09000000", "medtop:07000000", "medtop:02000000"})
"""Labour, health and crime stories that also carry clear business vocabulary (a strike at an
airline, a drug maker's recall, an executive's fraud trial) are company news as well..."""
BUSINESS_SIDE_RATIO = 0.5
"""...so they are also tagged economy when it scores at least this share of the primary."""
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


@functools.cache
def media_topics() -> dict[str, MediaTopic]:
    """Media Topic code → concept, for the 17 top-level and their active second-level children."""
    table = {}
    for row in csv.DictReader(io.StringIO(read_data("iptc_topics.tsv")), delimiter="\t"):
        table[row["code"]] = MediaTopic(row["code"], int(row["level"]), row["parent"] or None,
                                        row["top"], row["label"])
    return table


def top_level_codes() -> list[str]:
    return sorted(code for code, topic in media_topics().items() if topic.level == 1)


NO_TOPIC = "-"
"""Lexicon code of a phrase that votes for nothing but, being longer, keeps a shorter term inside
it from matching ("won't" is not "won", "team up" is not a sports team)."""


PROCLITICS = {
    "ar": frozenset({"ال", "وال", "فال", "بال", "كال", "لل", "ولل", "و", "ف", "ب", "ل", "ك", "س"}),
    "he": frozenset({"ה", "ו", "ב", "ל", "מ", "ש", "כ", "וה", "וב", "ול", "ומ", "שה", "שב", "של", "מה", "בה"}),
}
"""Articles, conjunctions and prepositions written as one word with the next (Arabic, Hebrew): a term
may start right after one of them."""


def _starts_word(haystack: str, start: int, proclitics: frozenset[str]) -> bool:
    if start == 0 or not haystack[start - 1].isalnum():
        return True
    if no_space_letter(haystack[start]) or no_space_letter(haystack[start - 1]):
        return True
    if not proclitics:
        return False
    i = start
    while i > 0 and start - i < 3 and haystack[i - 1].isalnum():
        i -= 1
    return (i == 0 or not haystack[i - 1].isalnum()) and haystack[i:start] in proclitics


def _ends_word(haystack: str, end: int, prefix: bool) -> bool:
    return (prefix or end == len(haystack) or not haystack[end].isalnum()
            or no_space_letter(haystack[end]) or no_space_letter(haystack[end - 1]))


class TopicLexicon:
    """Two Aho-Corasick automata over the lexicon: case-sensitive terms (names, acronyms) on the
    text as written, the rest on the lower-cased text. ``proclitics`` may precede a term (see
    ``PROCLITICS``)."""

    def __init__(self, rows: list[tuple[str, str, float]], proclitics: frozenset[str] = frozenset()):
        self._proclitics = proclitics
        topics = media_topics()
        entries: dict[tuple[bool, str], list[tuple[str, str, bool, str, float]]] = {}
        for term, code, weight in rows:
            if code != NO_TOPIC and code not in topics:
                raise ValueError(f"topic lexicon: unknown Media Topic code {code!r} for {term!r}")
            prefix = term.endswith("*")
            key = term.rstrip("*")
            votes = entries.setdefault((key == key.lower(), key), [])
            if any(entry[2] != prefix or entry[3] == code for entry in votes):
                raise ValueError(f"topic lexicon: {term!r} is listed twice for {code!r} or with and without '*'")
            votes.append((term, key, prefix, code, weight))
        self._cased = ahocorasick.Automaton()
        self._folded = ahocorasick.Automaton()
        for (folded, key), votes in entries.items():
            (self._folded if folded else self._cased).add_word(key, tuple(votes))
        for automaton in (self._cased, self._folded):
            if len(automaton):
                automaton.make_automaton()

    def find(self, text: str, folded: str | None = None) -> list[TermHit]:
        """Leftmost-longest word-bounded term hits, one per code the term votes for; ``folded`` is
        ``text.lower()`` if at hand."""
        folded = text.lower() if folded is None else folded
        candidates = []
        for automaton, haystack in ((self._cased, text), (self._folded, folded)):
            if not len(automaton):
                continue
            for end_index, votes in automaton.iter(haystack):
                _, key, prefix, _, _ = votes[0]
                end = end_index + 1
                start = end - len(key)
                if not _starts_word(haystack, start, self._proclitics) or not _ends_word(haystack, end, prefix):
                    continue
                candidates.append((start, start - end, votes))
        candidates.sort(key=lambda c: (c[0], c[1]))
        hits: list[TermHit] = []
        cursor = 0
        for start, neg_len, votes in candidates:
            if start < cursor:
                continue
            cursor = start - neg_len
            hits += [TermHit(start, cursor, term, code, weight) for term, _, _, code, weight in votes
                     if code != NO_TOPIC]
        return hits


def _english_rows() -> list[tuple[str, str, float]]:
    rows = []
    for line in read_data("topic_lexicon.tsv").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        term, code, weight = line.split("\t")
        rows.append((term, code, float(weight)))
    return rows


def _language_rows(language: str) -> list[tuple[str, str, float]] | None:
    """Rows of ``data/topics_<language>.tsv`` (``code<TAB>weight<TAB>term | term | ...``), None
    when the language has no lexicon."""
    try:
        text = read_data(f"topics_{language}.tsv")
    except FileNotFoundError:
        return None
    rows = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        code, weight, terms = line.split("\t")
        rows += [(term.strip(), code, float(weight)) for term in terms.split("|") if term.strip()]
    return rows


def merge_rows(base: list[tuple[str, str, float]], extra: list[tuple[str, str, float]]) -> list[tuple[str, str, float]]:
    """``base`` plus the rows of ``extra`` for terms and codes it does not have yet; a term of
    ``extra`` takes the base's stem marking (``*``) when the base has it, and ``-`` in ``extra``
    removes the base's readings of that term (an English word that is a common word of the
    language: "art" in German, "mayor" in Spanish)."""
    removed = {term.rstrip("*") for term, code, _ in extra if code == NO_TOPIC}
    rows = [row for row in base if row[0].rstrip("*") not in removed]
    marked = {row[0].rstrip("*"): row[0] for row in rows}
    seen = {(row[0].rstrip("*"), row[1]) for row in rows}
    for term, code, weight in extra:
        key = term.rstrip("*")
        if code == NO_TOPIC or (key, code) in seen:
            continue
        seen.add((key, code))
        rows.append((marked.setdefault(key, term), code, weight))
    return rows


@functools.cache
def topic_lexicon(language: str | None = None) -> TopicLexicon:
    """The process-wide lexicon automata of a language (English terms plus the language's own),
    built on first use; English only for None or a language without a lexicon."""
    local = _language_rows(language) if language and language != "en" else None
    if local is None:
        return _english_lexicon()
    return TopicLexicon(merge_rows(_english_terms(), local), PROCLITICS.get(language or "", frozenset()))


@functools.cache
def _english_terms() -> list[tuple[str, str, float]]:
    return merge_rows(_english_rows(), _language_rows("en") or [])


@functools.cache
def _english_lexicon() -> TopicLexicon:
    """One automaton for English and every language without a lexicon of its own."""
    return TopicLexicon(_english_terms())


def score_hits(hits: list[tuple[TermHit, float]]) -> dict[str, float]:
    """Per-code scores from (hit, zone weight) pairs; each top level also gets its children's."""
    topics = media_topics()
    seen: dict[tuple[str, str], int] = {}
    scores: dict[str, float] = {}
    for hit, zone_weight in hits:
        repeats = seen.get((hit.term, hit.code), 0)
        seen[(hit.term, hit.code)] = repeats + 1
        if repeats >= MAX_REPEATS:
            continue
        value = hit.weight * zone_weight / (2 ** repeats)
        scores[hit.code] = scores.get(hit.code, 0.0) + value
        top = topics[hit.code].top
        if top != hit.code:
            scores[top] = scores.get(top, 0.0) + value
    return scores


def choose_topics(scores: dict[str, float]) -> list[TopicTag]:
    """The tagged topics, primary first: top levels above the floor and close to the best one (or
    a business side of the primary, see ``BUSINESS_SIDE``), each followed by its clearly supported
    second-level codes."""
    topics = media_topics()
    tops = sorted(((s, c) for c, s in scores.items() if topics[c].level == 1), key=lambda x: (-x[0], x[1]))
    if not tops or tops[0][0] < MIN_TOPIC_SCORE:
        return []
    total = sum(s for s, _ in tops)
    best, primary = tops[0]
    chosen = [(score, code) for score, code in tops[:MAX_TOPICS] if score >= SECONDARY_RATIO * best]
    side = scores.get(ECONOMY, 0.0)
    if (primary in BUSINESS_SIDE and len(chosen) < MAX_TOPICS and ECONOMY not in (c for _, c in chosen)
            and side >= BUSINESS_SIDE_RATIO * best):
        chosen.append((side, ECONOMY))
    tags: list[TopicTag] = []
    for score, code in chosen:
        confidence = round(score / total, 3)
        tags.append(TopicTag(code, topics[code].label, confidence))
        children = sorted(((s, c) for c, s in scores.items()
                           if topics[c].level == 2 and topics[c].top == code), key=lambda x: (-x[0], x[1]))
        for child_score, child in children:
            if child_score >= SECOND_LEVEL_MIN_SCORE and child_score >= SECOND_LEVEL_RATIO * score:
                tags.append(TopicTag(child, topics[child].label, round(confidence * child_score / score, 3)))
    return tags
