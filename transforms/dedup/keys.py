"""Pure near-duplicate logic: text normalisation, exact and sentence keys, per-key state, decisions.

A document is reduced to 64-bit keys: exact keys (normalised URL, canonical URL, GUID within its
site, body hash) and sentence keys (each sentence of at least ``MIN_SENTENCE_WORDS`` words,
normalised and hashed; long sentences one key for their first and one for their last ``EDGE_WORDS``
words; CJK text by character). Decisions only look at EARLIER documents
(arrival order: ``ts``, then id):

* per key, a ``KeyState`` holds the first ``MAX_DOCS_PER_KEY`` live documents that carry it
  (64-bit doc uid, first-seen second, key count, 16-bit site hash: 15 bytes each); a sentence
  key that ``TEMPLATE_SITE_DOCS`` of them share with one site is that site's template
  (navigation, footer, newsletter box) and is no evidence linking that site's documents to each
  other (it still links them to other sites' documents: a story a site printed twice);
* an exact key shared with an earlier document makes a duplicate (similarity 1.0);
* otherwise the containment of the SHORTER document's sentence keys in an earlier document
  (shared keys / min(own keys, its stored keys)), at least ``MIN_SHARED_KEYS`` keys and at or
  above the threshold (``SAME_SITE_CONTAINMENT`` for an earlier page of the same site), makes a
  duplicate: a teaser matches its full story, a story matches its copy inside another site's page.

Only ``MAX_STORED_KEYS`` keys of a document are stored (its lead and a spread over
the rest; looked-up keys are not capped), so live state is bounded per document
(``KeyState.encoded_size`` is its byte cost). Entries older than the horizon expire; beyond it the
persisted history (``dedup_history``) answers, and remembers which keys were site templates.

``Deduplicator`` runs these pieces sequentially (the reference the Beam transform
``drop_duplicates.DropDuplicates`` distributes: per key in a GroupByKey or stateful DoFn, per
document in a second grouping, then chain resolution to the canonical id). Settings measured on
the aeb-syndication DEV kit with ``bench/dedup_bench.py``.
"""

from __future__ import annotations

import hashlib
import re
import struct
import unicodedata
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import NamedTuple, Protocol

from newsflow.transforms.urls import normalize_url

_QUOTES_AND_DASHES = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u00b4": "'",
    "\u2039": "'", "\u203a": "'", "`": "'", "\u201c": '"', "\u201d": '"', "\u201e": '"',
    "\u201f": '"', "\u2033": '"', "\u00ab": '"', "\u00bb": '"', "\u300c": '"', "\u300d": '"',
    "\u300e": '"', "\u300f": '"', "\u301d": '"', "\u301e": '"', "\u2010": "-", "\u2011": "-",
    "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-", "\u2043": "-",
    "\u00ad": "", "\u200b": "", "\u2060": "", "\ufeff": "", "\u2028": "\n", "\u2029": "\n",
    "\u0451": "\u0435",
}
"""Applied after NFKC and case folding: one kind of quote (Japanese corner brackets included) and dash,
no invisible characters, Unicode line separators as line breaks, and Russian \u0451 as \u0435 (most
Russian text writes \u0435 for both, so a copy may differ in that letter only)."""
_DOUBLE_DASH = re.compile(r"-{2,}")
"""``--`` typed for a dash: one dash, as ``\u2014`` becomes."""
_CJK = "\u3005-\u3007\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
"""Kana and CJK ideographs: scripts written without spaces, where a character is the word unit."""
_HAS_CJK = re.compile(f"[{_CJK}]")
_WORD_OR_CJK = re.compile(f"[{_CJK}]|[^\\W{_CJK}]+")
"""Tokens of a line with CJK text: each CJK character alone, other ``\\w`` runs whole."""
_CLOSERS = "'\")\\]\u2019\u201d\u00bb\u203a\u300d\u300f"
"""What may stand between a sentence's mark and the space after it: closing quotes (folded or not)
and brackets, so ``he said "yes." Then`` is two sentences whether or not a line break follows."""
_SENTENCE_END_RUN = re.compile(rf"([.!?\u2026][{_CLOSERS}]*)\s+")
"""A sentence end in Latin, Cyrillic and other spaced scripts: a mark, closing quotes, whitespace
(captured, no look-behind, so the regex engine skips ahead)."""
_SENTENCE_END_RUN_WIDE = re.compile(
    rf"([.!?\u2026\u3002][{_CLOSERS}]*)\s+|(\u3002[{_CLOSERS}]*|(?<=[{_CJK}])[!?][{_CLOSERS}]*)(?=\S)")
"""``_SENTENCE_END_RUN`` for text with non-ASCII characters: CJK text ends a sentence with \u3002,
``!`` or ``?`` (full-width ones after NFKC) and no space after it."""
_NON_WORD = re.compile(r"\W+")
_ASCII_WORD_BYTES = bytes(c if c == 0x0A or c >= 0x80 or chr(c).isalnum() or chr(c) == "_" else 0x20
                          for c in range(256))
"""``bytes.translate`` table: every ASCII byte that is not ``\\w`` (or a line break) becomes a space."""
_TRUNCATED = ("\u2026".encode(), b"...")

MIN_SENTENCE_WORDS = 6
"""Shorter sentences ("Share this", "Read more", subheads) are too common to be evidence."""
SPLIT_SENTENCE_WORDS = 12
EDGE_WORDS = 8
"""A sentence of ``SPLIT_SENTENCE_WORDS`` words or more gets two keys, its first and its last
``EDGE_WORDS`` words: an edit in the middle costs no key, a prefix (a dateline, a merged subhead)
costs only the first, a cut or a suffix only the last."""
CJK_SCALE = 2
"""In a line with CJK text a token is one character, about half a word: word thresholds are doubled."""
MAX_STORED_KEYS = 30
"""Keys stored per document, exact and sentence keys together (see ``DocKeys.indexed``); all keys
of a new document are looked up. 30 keys of 28 bytes keep a document's live state under 1 KB."""
INDEXED_HEAD = 12
MAX_DOCS_PER_KEY = 4
TEMPLATE_SITE_DOCS = 3
"""Earlier pages of one site that must share a sentence for it to be the site's template. Two are
not enough: a site that printed a story twice (an original and its re-emitted or updated copy)
would make that story its template, and its third print there would match nothing."""
DEFAULT_CONTAINMENT = 0.5
SAME_SITE_CONTAINMENT = 0.8
"""A page of the same site needs more: its header and footer sentences are shared with the site's
other pages, and the template rule only learns them from the third earlier page on (a site's second
and third pages are compared with its first ones with nothing known yet)."""
MIN_SHARED_KEYS = 2
"""A single shared key (one common sentence half) never makes a duplicate."""
DEFAULT_HORIZON = timedelta(hours=72)

SENTENCE = "sentence"
TEMPLATE = "template"
EXACT_KINDS = ("url", "canonical_url", "guid", "body_hash")
"""Exact key kinds in order of preference when several match."""
CONTAINMENT_METHOD = "sentence_containment"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_blake2b = hashlib.blake2b


def _fold(text: str) -> str:
    """NFKC, case-folded, one kind of quote and dash, ``\\r`` line breaks as ``\\n`` (line breaks
    untouched otherwise)."""
    if text.isascii():
        text = text.lower().replace("`", "'")
    else:
        text = unicodedata.normalize("NFKC", text).casefold()
        for char, replacement in _QUOTES_AND_DASHES.items():
            if char in text:
                text = text.replace(char, replacement)
    if "--" in text:
        text = _DOUBLE_DASH.sub("-", text)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def normalize_text(text: str) -> str:
    """The comparable form of a text: NFKC, lower-case, one kind of quote and dash, single spaces."""
    return " ".join(_fold(text).split())


def body_hash(text: str) -> str:
    """sha256 hex of the normalised body: equal for bodies differing only in case, quotes,
    dashes or whitespace (line breaks included)."""
    return hashlib.sha256(normalize_text(text).encode("utf-8")).hexdigest()


def key64(text: str) -> int:
    """A signed 64-bit blake2b key (fits Parquet int64)."""
    return int.from_bytes(_blake2b(text.encode("utf-8"), digest_size=8).digest(), "big", signed=True)


def split_sentences(text: str) -> list[str]:
    """Paragraphs (lines) split after ``.``, ``!``, ``?`` or an ellipsis (and closing quotes) followed
    by whitespace, and after a CJK sentence end (\u3002, or ``!``/``?`` after CJK text) without it:
    the sentences ``sentence_keys`` hashes, unfolded."""
    ended = _SENTENCE_END_RUN_WIDE.sub(_end_line, text)
    return [s.strip() for s in ended.splitlines() if s.strip()]


def sentence_keys(text: str, min_words: int = MIN_SENTENCE_WORDS) -> list[int]:
    """Distinct keys of the sentences of ``text`` in order of appearance.

    A sentence is its words (``\\w+`` of the normalised text; in a line with CJK text each CJK
    character is a word and thresholds count double, ``CJK_SCALE``) joined by single spaces, so
    copies that differ in punctuation, quotes, case or spacing share keys. A sentence under
    ``min_words`` words gets no key; one under ``SPLIT_SENTENCE_WORDS`` one key; a longer one two,
    its first and its last ``EDGE_WORDS`` words, so an edit in its middle costs nothing and a prefix
    or a cut costs one key. A sentence cut off with an ellipsis (a teaser's last sentence) keeps
    only its first words' key, if words beyond them (the last may be cut in two) show that they are
    whole: what it shares with the full sentence (teaser-prefix matching).
    """
    return _sentence_keys_of_folded(_fold(text), min_words)


def _sentence_keys_of_folded(folded: str, min_words: int) -> list[int]:
    """``sentence_keys`` of a folded text, with the per-character work done once on the whole text
    (regex calls per sentence were most of the dedup stage's time).

    Sentence ends become line breaks, so lines are sentences. The UTF-8 text translated to word
    bytes and spaces gives an ASCII line's words with ``bytes.split``; a non-ASCII line takes the
    Unicode ``\\W`` regex (and a line with CJK text the per-character tokens). Each key hashes the
    words joined by single spaces, as ``key64`` does."""
    cjk = not folded.isascii() and _HAS_CJK.search(folded) is not None  # one scan, not one per line
    text = (_SENTENCE_END_RUN_WIDE if cjk else _SENTENCE_END_RUN).sub(_end_line, folded)
    data = text.encode("utf-8", "surrogatepass")  # a lone surrogate is no word: never hashed
    digests: list[bytes] = []
    add = digests.append  # hot loop: local names
    min_length = 2 * min_words - 1  # bytes needed for min_words words
    word_lines = data.translate(_ASCII_WORD_BYTES).split(b"\n")  # same line breaks as data
    for line, word_line in zip(data.split(b"\n"), word_lines, strict=True):
        if len(line) < min_length:
            continue  # too short to hold min_words words
        scale = 1
        if not line.isascii():
            decoded = line.decode("utf-8", "surrogatepass")
            if cjk and _HAS_CJK.search(decoded):
                words = " ".join(_WORD_OR_CJK.findall(decoded)).encode("utf-8", "surrogatepass").split()
                scale = CJK_SCALE
            else:
                words = _NON_WORD.sub(" ", decoded).encode("utf-8", "surrogatepass").split()
        else:
            words = word_line.split()
        n = len(words)
        edge = EDGE_WORDS * scale
        if line.endswith(_TRUNCATED):  # cut off: only its first words (less a cut last one) are kept
            if n > edge:
                add(_blake2b(b" ".join(words[:edge]), digest_size=8).digest())
        elif n >= SPLIT_SENTENCE_WORDS * scale:
            add(_blake2b(b" ".join(words[:edge]), digest_size=8).digest())
            add(_blake2b(b" ".join(words[-edge:]), digest_size=8).digest())
        elif n >= min_words * scale:
            add(_blake2b(b" ".join(words), digest_size=8).digest())
    return list(dict.fromkeys(struct.unpack(f">{len(digests)}q", b"".join(digests))))


def _end_line(sentence_end: re.Match[str]) -> str:
    """A sentence end's mark (and closing quotes), then a line break instead of any whitespace
    after it (trailing whitespace never follows a mark, so a cut-off line ends with its ellipsis)."""
    return (sentence_end[1] or sentence_end[2]) + "\n"


def exact_keys(*, body: str, url: str | None = None, canonical_url: str | None = None,
               guid: str | None = None, site: str = "") -> list[tuple[str, int]]:
    """``(kind, key)`` for each exact identity of a document; a GUID only counts within its site."""
    return _exact_keys(body_hash(body) if body.strip() else None, url, canonical_url, guid, site)


def _exact_keys(body_digest: str | None, url: str | None, canonical_url: str | None,
                guid: str | None, site: str) -> list[tuple[str, int]]:
    keys: list[tuple[str, int]] = []
    urls = [("url", normalize_url(url))] if url else []
    if canonical_url and (normalized := normalize_url(canonical_url)) not in (u for _, u in urls):
        urls.append(("canonical_url", normalized))
    keys += [(kind, url_key64(u)) for kind, u in urls]  # one key space: a url may be a canonical
    if guid and guid.strip():
        keys.append(("guid", key64(f"guid:{site}:{guid.strip()}")))
    if body_digest:
        keys.append(("body_hash", key64("body:" + body_digest)))
    return keys


def url_key64(url: str) -> int:
    """The exact key of a URL (normalised first), shared by links and canonical URLs."""
    return key64("url:" + normalize_url(url))


def epoch_seconds(ts: datetime) -> int:
    return epoch_micros(ts) // 1_000_000


def epoch_micros(ts: datetime) -> int:
    """Microseconds since the epoch (a naive datetime is taken as UTC)."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    delta = ts - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_epoch_seconds(seconds: int) -> datetime:
    return _EPOCH + timedelta(seconds=seconds)


@dataclass(frozen=True)
class DocKeys:
    """A document reduced to what dedup needs. ``uid`` is the 64-bit node id (article id and
    arrival time): two arrivals of one article id are two nodes."""

    doc_id: str
    uid: int
    ts: int
    site: int
    exact: tuple[tuple[str, int], ...]
    sentences: tuple[int, ...]
    arrival_us: int = 0
    """Arrival time in microseconds: the order within a second (state keeps seconds)."""

    @property
    def indexed(self) -> tuple[int, ...]:
        """The sentence keys stored for this document: all of them up to ``MAX_STORED_KEYS`` less
        its exact keys; beyond, the first ``INDEXED_HEAD`` (the lead, which teasers and
        truncated copies share) and the rest spread evenly over the document, so a page whose
        first sentences are its site's header is still stored mostly by its story."""
        keys, budget = self.sentences, MAX_STORED_KEYS - len(self.exact)
        if len(keys) <= budget:
            return keys
        rest, n = keys[INDEXED_HEAD:], budget - INDEXED_HEAD
        step = len(rest) / n
        return keys[:INDEXED_HEAD] + tuple(rest[int(i * step)] for i in range(n))

    def occurrences(self) -> list[Occurrence]:
        """One occurrence per distinct key: all keys are looked up, only indexed ones are stored."""
        n = len(self.indexed)
        return [Occurrence(key, kind, self.uid, self.ts, self.site, n, stored, self.doc_id, self.arrival_us)
                for key, kind, stored in self._stored_flags()]

    def _stored_flags(self) -> list[tuple[int, str, bool]]:
        """``(key, kind, stored)`` per key, exact keys first: ``occurrences`` without the rest."""
        indexed = set(self.indexed)
        return ([(key, kind, True) for kind, key in self.exact]
                + [(key, SENTENCE, key in indexed) for key in self.sentences])


def doc_keys(doc_id: str, ts: datetime, text: str, *, site: str = "", url: str | None = None,
             canonical_url: str | None = None, guid: str | None = None) -> DocKeys:
    """The keys of one document (``text`` is folded once for both the body hash and sentences)."""
    micros = epoch_micros(ts)
    seconds = micros // 1_000_000
    folded = _fold(text)
    normalized = " ".join(folded.split())
    digest = hashlib.sha256(normalized.encode("utf-8")).hexdigest() if normalized else None
    return DocKeys(
        doc_id=doc_id,
        uid=key64(f"{doc_id}\x00{micros}"),
        ts=seconds,
        site=key64("site:" + site) & 0xFFFFFFFF,
        exact=tuple(_exact_keys(digest, url, canonical_url, guid, site)),
        sentences=tuple(_sentence_keys_of_folded(folded, MIN_SENTENCE_WORDS)),
        arrival_us=micros,
    )


class Occurrence(NamedTuple):
    """One document carrying one key: what the per-key stage sees."""

    key: int
    kind: str
    uid: int
    ts: int
    site: int
    n_keys: int
    indexed: bool
    doc_id: str = ""
    arrival_us: int = 0


class StateEntry(NamedTuple):
    """A live document stored under a key: 15 bytes encoded (``site`` is a 16-bit site hash)."""

    uid: int
    ts: int
    n_keys: int
    site: int


def _entry_of(occ: Occurrence) -> StateEntry:
    """The entry ``occ``'s document leaves under a key."""
    return StateEntry(occ.uid, occ.ts, min(occ.n_keys, 255), occ.site & 0xFFFF)


_ENTRY = struct.Struct(">qIBH")
_HEADER = struct.Struct(">IB")


@dataclass(slots=True)
class KeyState:
    """What one key remembers: its first live documents (capped), with their sites."""

    entries: list[StateEntry] = field(default_factory=list)
    last_ts: int = 0

    def lookup(self, occ: Occurrence, horizon_s: int) -> tuple[list[StateEntry], bool]:
        """Evidence for ``occ``: the earlier entries within the horizon; if the key is the template
        of ``occ``'s site, only those of other sites. A site's template sentence links none of its
        own pages, but a sentence that one site printed twice (a story it re-published, updated or
        copied again) still links them to the other sites' copy. Reads only."""
        return self._lookup(_entry_of(occ), occ.kind == SENTENCE, horizon_s)

    def observe(self, occ: Occurrence, horizon_s: int) -> tuple[list[StateEntry], bool]:
        """``lookup``, then remember ``occ`` if it is indexed (expiring entries past the horizon).
        A key that is only looked up keeps no state. Only the first documents of a key are kept,
        so a story copied many times by one site does not turn into that site's template."""
        return self._observe(_entry_of(occ), occ.kind == SENTENCE, occ.indexed, horizon_s)

    def _lookup(self, entry: StateEntry, sentence: bool, horizon_s: int) -> tuple[list[StateEntry], bool]:
        """``lookup`` for the document whose entry is ``entry``."""
        ts = entry.ts
        if ts - self.last_ts > horizon_s:
            return [], False  # untouched for a horizon: as if garbage-collected
        uid, site = entry.uid, entry.site
        earlier = [e for e in self.entries if e.ts <= ts and ts - e.ts <= horizon_s and e.uid != uid]
        if sentence and [e.site for e in self.entries].count(site) >= TEMPLATE_SITE_DOCS:
            return [e for e in earlier if e.site != site], True
        return earlier, False

    def _observe(self, entry: StateEntry, sentence: bool, indexed: bool, horizon_s: int,
                 ) -> tuple[list[StateEntry], bool]:
        """``observe`` for the document whose entry is ``entry`` (one ``StateEntry`` serves all its keys)."""
        evidence, template = self._lookup(entry, sentence, horizon_s)
        if indexed:
            ts = entry.ts
            self.entries = entries = [e for e in self.entries if ts - e.ts <= horizon_s]
            self.last_ts = max(self.last_ts, ts)
            if len(entries) < MAX_DOCS_PER_KEY and entry.uid not in [e.uid for e in entries]:
                entries.append(entry)
        return evidence, template

    def encode(self) -> bytes:
        out = bytearray(_HEADER.pack(self.last_ts & 0xFFFFFFFF, len(self.entries)))
        for e in self.entries:
            out += _ENTRY.pack(e.uid, e.ts & 0xFFFFFFFF, e.n_keys, e.site)
        return bytes(out)

    @classmethod
    def decode(cls, data: bytes) -> KeyState:
        last_ts, n = _HEADER.unpack_from(data, 0)
        entries = [StateEntry(*_ENTRY.unpack_from(data, _HEADER.size + i * _ENTRY.size)) for i in range(n)]
        return cls(entries, last_ts)

    def encoded_size(self) -> int:
        """Bytes of this state including its 8-byte key."""
        return 8 + _HEADER.size + _ENTRY.size * len(self.entries)


class KeyEvidence(NamedTuple):
    """The per-key stage's answer for one occurrence."""

    key: int
    kind: str
    earlier: tuple[StateEntry, ...]
    template: bool = False


@dataclass(frozen=True)
class Decision:
    """A document's verdict against its direct best match (before chains are resolved).

    ``dup_of_uid`` is a live node; ``dup_of_id`` is set when the match is a history document
    (already canonical, no chain to resolve)."""

    uid: int
    doc_id: str
    dup_of_uid: int | None = None
    dup_of_id: str | None = None
    similarity: float = 0.0
    method: str | None = None

    @property
    def is_duplicate(self) -> bool:
        return self.dup_of_uid is not None or self.dup_of_id is not None


class HistoryLookup(Protocol):
    """What ``decide`` asks the persisted index (``dedup_history.HistoryIndex``)."""

    def exact(self, key: int) -> str | None:
        """The canonical doc id of an exact key, if any."""

    def sentence_docs(self, key: int) -> Iterable[str]:
        """The canonical doc ids carrying a sentence key."""

    def n_keys(self, doc_id: str) -> int:
        """How many sentence keys a history doc has."""

    def template(self, key: int, site: int) -> bool:
        """Whether a sentence key is the template of a site (by its 32-bit hash)."""


def key_containment(shared: int, own_keys: int, other_keys: int) -> float:
    """Share of the shorter document's keys found in the other one."""
    smaller = min(own_keys, other_keys)
    return shared / smaller if smaller else 0.0


def decide(doc: DocKeys, evidence: Iterable[KeyEvidence], threshold: float = DEFAULT_CONTAINMENT,
           history: HistoryLookup | None = None) -> Decision:
    """The verdict for ``doc`` given each of its keys' evidence (earlier live documents).

    The best match wins, live or in the history: an exact key (similarity 1.0) before containment,
    then the higher containment, and on a tie the history (older than anything live). A history
    match does not pre-empt a better live one: a page that carries an old story in its wrapper
    (a related-stories rail, a site's repeated box) and a new story in its body is a copy of the
    new story."""
    evidence = list(evidence)
    live = _decide_live(doc, evidence, threshold)
    if history is None:
        return live
    found = _decide_on_history(doc, evidence, threshold, history)
    if found is None or (live.is_duplicate and live.similarity > found.similarity):
        return live
    return found


def _decide_live(doc: DocKeys, evidence: list[KeyEvidence], threshold: float) -> Decision:
    """``decide`` against the earlier live documents only."""
    exact: list[tuple[int, int, str, int]] = []
    shared: Counter[int] = Counter()
    n_keys: dict[int, int] = {}
    first_ts: dict[int, int] = {}
    same_site: set[int] = set()
    site = doc.site & 0xFFFF
    for ev in evidence:
        for e in ev.earlier:
            if ev.kind == SENTENCE:
                shared[e.uid] += 1
                n_keys[e.uid] = e.n_keys
                first_ts[e.uid] = e.ts
                if e.site == site:
                    same_site.add(e.uid)
            else:
                exact.append((e.ts, EXACT_KINDS.index(ev.kind), ev.kind, e.uid))
    if exact:
        _, _, kind, uid = min(exact)
        return Decision(doc.uid, doc.doc_id, dup_of_uid=uid, similarity=1.0, method=kind)
    best: tuple[float, int, int] | None = None
    for uid, count in shared.items():
        score = key_containment(count, len(doc.sentences), n_keys[uid])
        if count < MIN_SHARED_KEYS or score < (max(threshold, SAME_SITE_CONTAINMENT) if uid in same_site
                                               else threshold):
            continue
        if best is None or (score, -first_ts[uid]) > (best[0], -best[1]):  # best, then earliest
            best = (score, first_ts[uid], uid)
    if best is None:
        return Decision(doc.uid, doc.doc_id)
    return Decision(doc.uid, doc.doc_id, dup_of_uid=best[2], similarity=round(best[0], 4),
                    method=CONTAINMENT_METHOD)


def _decide_on_history(doc: DocKeys, evidence: list[KeyEvidence], threshold: float,
                       history: HistoryLookup) -> Decision | None:
    for kind in EXACT_KINDS:
        for k, key in doc.exact:
            if k == kind and (found := history.exact(key)) is not None:
                return Decision(doc.uid, doc.doc_id, dup_of_id=found, similarity=1.0, method=kind)
    template = {ev.key for ev in evidence if ev.template}
    shared: Counter[str] = Counter()
    for key in doc.sentences:
        if key not in template and not history.template(key, doc.site):
            shared.update(set(history.sentence_docs(key)))
    best: tuple[float, str] | None = None
    for doc_id, count in shared.items():
        score = key_containment(count, len(doc.sentences), history.n_keys(doc_id))
        if count >= MIN_SHARED_KEYS and score >= threshold and (best is None or (score, doc_id) > best):
            best = (score, doc_id)
    if best is None:
        return None
    return Decision(doc.uid, doc.doc_id, dup_of_id=best[1], similarity=round(best[0], 4),
                    method=CONTAINMENT_METHOD)


def history_keys(doc: DocKeys, evidence: Iterable[KeyEvidence], canonical: bool,
                 ) -> list[tuple[str, int]]:
    """The ``(kind, key)`` pairs a document leaves in the persisted history: its exact keys, the
    keys that were its site's template (kind ``"template"``: they stay template in later runs), and
    for a canonical document its other indexed sentence keys (later copies are compared with the
    canonical text, as live ones are with its live entries)."""
    evidence = list(evidence)
    template = [(TEMPLATE, ev.key) for ev in evidence if ev.template]
    if not canonical:
        return list(doc.exact) + template
    skip = {key for _, key in template}
    return list(doc.exact) + template + [(SENTENCE, k) for k in doc.indexed if k not in skip]


@dataclass
class Deduplicator:
    """The sequential reference of the streaming semantics: feed documents in arrival order.

    It keeps exactly the state the distributed transform keeps (per-key ``KeyState``, one
    canonical pointer per live document) and expires it by the horizon, so ``state_bytes`` is the
    figure the Beam state would hold."""

    horizon: timedelta = DEFAULT_HORIZON
    threshold: float = DEFAULT_CONTAINMENT
    history: HistoryLookup | None = None
    keys: dict[int, KeyState] = field(default_factory=dict)
    canonical: dict[int, tuple[str, int]] = field(default_factory=dict)
    _touched: deque[tuple[int, int]] = field(default_factory=deque, repr=False)
    _born: deque[tuple[int, int]] = field(default_factory=deque, repr=False)

    def add(self, doc: DocKeys) -> tuple[Decision, str | None, list[KeyEvidence]]:
        """Decide ``doc``, remember it; returns the decision, the canonical id it duplicates
        (``None`` if new) and the per-key evidence (for history rows)."""
        horizon_s = int(self.horizon.total_seconds())
        keys, touched, ts = self.keys, self._touched, doc.ts  # hot loop: local names
        entry = StateEntry(doc.uid, ts, min(len(doc.indexed), 255), doc.site & 0xFFFF)
        evidence = []
        for key, kind, is_indexed in doc._stored_flags():  # doc.occurrences(), less per-key objects
            state = keys.get(key)
            if state is None:  # a key never seen (most of them): nothing earlier, nothing to check
                if is_indexed:
                    keys[key] = KeyState([entry], ts)
                    touched.append((ts, key))
                evidence.append(KeyEvidence(key, kind, ()))
                continue
            earlier, template = state._observe(entry, kind == SENTENCE, is_indexed, horizon_s)
            evidence.append(KeyEvidence(key, kind, tuple(earlier), template))
            if is_indexed:
                touched.append((ts, key))
        decision = decide(doc, evidence, self.threshold, self.history)
        if decision.dup_of_id is not None:
            canonical_id: str | None = decision.dup_of_id
        elif decision.dup_of_uid is not None:
            canonical_id = self.canonical[decision.dup_of_uid][0]
        else:
            canonical_id = None
        self.canonical[doc.uid] = (canonical_id or doc.doc_id, doc.ts)
        self._born.append((doc.ts, doc.uid))
        return decision, canonical_id, evidence

    def expire(self, now_ts: int) -> None:
        """Drop state not touched within the horizon (what the Beam GC timers do)."""
        horizon_s = int(self.horizon.total_seconds())
        while self._touched and now_ts - self._touched[0][0] > horizon_s:
            key = self._touched.popleft()[1]
            state = self.keys.get(key)
            if state is not None and now_ts - state.last_ts > horizon_s:
                del self.keys[key]
        # pointers outlive entries (an entry may be read up to a horizon after it was written)
        while self._born and now_ts - self._born[0][0] > 2 * horizon_s:
            self.canonical.pop(self._born.popleft()[1], None)

    def key_state_bytes(self) -> int:
        """Encoded bytes of the live per-key states (keys included)."""
        return sum(s.encoded_size() for s in self.keys.values())

    def state_bytes(self) -> int:
        """Encoded bytes of the live state: per-key states plus 8 + 8 + 4 bytes per canonical
        pointer (uid, canonical short hash, first-seen)."""
        return self.key_state_bytes() + 20 * len(self.canonical)


def group_evidence(occurrences: Iterable[Occurrence], horizon_s: int,
                   ) -> Iterable[tuple[int, KeyEvidence]]:
    """The batch form of the per-key stage: all occurrences of ONE key, in arrival order
    (ts, then document id), each with its evidence. Same ``KeyState`` as the streaming stage."""
    state = KeyState()
    for occ in sorted(occurrences, key=lambda o: (o.arrival_us, o.doc_id, o.uid)):
        earlier, template = state.observe(occ, horizon_s)
        yield occ.uid, KeyEvidence(occ.key, occ.kind, tuple(earlier), template)

