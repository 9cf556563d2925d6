"""DropDuplicates: emit each story once, across sites and over time.

Distributed form of ``dedup.Deduplicator`` (no single global state anywhere):

1. each article becomes ``DocKeys``; each of its keys an ``Occurrence`` keyed by the 64-bit key;
2. per key, occurrences are taken in arrival order (``fetched_at``, then id) through one
   ``KeyState`` — a GroupByKey sorted per key in batch, a stateful DoFn (state + GC timer) in
   streaming — giving each occurrence its evidence: the earlier live documents with that key;
3. per document (keyed by its uid), the evidence of all its keys is gathered and the document
   decided with ``dedup.decide`` (persisted history first, then exact keys, then containment);
4. chains (a copy of a copy) are resolved to the canonical document by pointer jumping: each of
   ``resolve_rounds`` rounds replaces a pointer by its target's pointer;
5. the canonical article goes to ``articles``, the others to ``duplicates`` (``DuplicateRecord``),
   and the keys each document leaves to ``history`` (``HistoryRow``, canonical doc ids).

Batch: steps 3 and 4 are GroupByKeys over small records (uid, pointer, decision); the article itself
is shuffled once, to a last GroupByKey that joins it with its resolved record. Streaming: steps 2-4
are stateful DoFns and the article travels with its record; decisions compare on arrival against
first-seen state, so they do not depend on timers; event-time timers (horizon after the last use)
only free state. Elements are re-windowed into the global window. Works on FnApiRunner (batch) and
BundleBasedDirectRunner with TestStream.
"""

from __future__ import annotations

import dataclasses
import struct
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple, TypeVar

import apache_beam as beam
from apache_beam.coders import BytesCoder, PickleCoder, VarIntCoder
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import StandardOptions
from apache_beam.transforms import window
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import (
    BagStateSpec,
    ReadModifyWriteStateSpec,
    TimerSpec,
    on_timer,
)
from apache_beam.typehints import KV
from apache_beam.utils.timestamp import Timestamp

from newsflow.transforms.dedup.history import HistoryIndex, HistoryRow, load_history
from newsflow.transforms.dedup.keys import (
    DEFAULT_CONTAINMENT,
    DEFAULT_HORIZON,
    Decision,
    DocKeys,
    KeyEvidence,
    KeyState,
    Occurrence,
    StateEntry,
    decide,
    doc_keys,
    epoch_seconds,
    from_epoch_seconds,
    group_evidence,
    history_keys,
)
from newsflow.transforms.failures import FlatMapOrReject, StageOutputs, rejecting
from newsflow.transforms.items import DEDUP_STAGE, REJECTED, Article, utcnow

ARTICLES = "articles"
DUPLICATES = "duplicates"
HISTORY = "history"
LEAVES = "leaves"


@dataclass
class DuplicateRecord:
    """An article that was not emitted: ``article.duplicate_of`` is the canonical article id."""

    article: Article
    similarity: float
    method: str
    detected_at: datetime


class _Pointer(NamedTuple):
    """Where a document points: ``final`` once ``target_id`` is the canonical id; ``via_id`` is
    the id of the last document passed on the way (an earlier copy, the fallback answer)."""

    target_uid: int
    target_id: str | None
    final: bool
    via_id: str | None = None


class _Record(NamedTuple):
    """A decided document travelling through the streaming resolution rounds."""

    uid: int
    pointer: _Pointer
    article: Article
    decision: Decision
    keys: tuple[tuple[str, int], ...]
    site: int = 0


class _Decided(NamedTuple):
    """A decided document travelling through the batch resolution rounds, without its article.
    ``order`` (url, feed url) tells apart arrivals that share a uid (the same article id at the
    same arrival time): the least is the document, the others its copies."""

    uid: int
    order: tuple[str, str]
    doc_id: str
    pointer: _Pointer
    decision: Decision


class _Leaves(NamedTuple):
    """What a batch-decided document leaves to the history once its canonical id is known."""

    order: tuple[str, str]
    keys: tuple[tuple[str, int], ...]
    site: int


PUBLICATION_ORDER_WINDOW = timedelta(hours=24)


def arrival_time(article: Article) -> datetime:
    """When a story counts as having arrived: ``arrival_at`` where a batch job set it, else its fetch
    time (streaming: the order in which pages really came in)."""
    return article.arrival_at or article.fetched_at


def batch_arrival(published: datetime | None, reference: datetime) -> datetime:
    """Arrival time of a story in a batch run started at ``reference``, by its publication time.

    In one run every page is fetched within seconds, so fetch order (which concurrent request finished
    first) would decide which copy is canonical. Instead the copy published first arrives first: the
    arrival is ``reference`` minus the story's age squeezed into ``PUBLICATION_ORDER_WINDOW``
    (strictly increasing in publication time, so order is kept for any age; all of a run stays within
    a day, well inside the dedup horizon). Undated stories arrive at ``reference``; ties go by id.
    """
    if published is None or published >= reference:
        return reference
    age = (reference - published).total_seconds()
    window = PUBLICATION_ORDER_WINDOW.total_seconds()
    return reference - timedelta(seconds=window * age / (age + window))


def _article_keys(article: Article) -> DocKeys:
    return doc_keys(article.id, arrival_time(article), article.body, site=article.site, url=article.url,
                    canonical_url=article.canonical_url, guid=article.guid)


def _with_keys(article: Article) -> list[tuple[Article, DocKeys]]:
    return [(article, _article_keys(article))]


def _order(article: Article) -> tuple[str, str]:
    return article.url, article.feed_url


def _copy_decision(uid: int, doc_id: str) -> Decision:
    """The same article id arriving twice at the same time: a copy of the first. The id is the hash of
    the normalised canonical URL, so the match is that URL."""
    return Decision(uid, doc_id, dup_of_uid=uid, similarity=1.0, method="canonical_url")


def _first_pointer(uid: int, doc_id: str, decision: Decision) -> _Pointer:
    if decision.dup_of_id is not None:
        return _Pointer(uid, decision.dup_of_id, True)
    if decision.dup_of_uid is not None:
        return _Pointer(decision.dup_of_uid, None, False)
    return _Pointer(uid, doc_id, True)


def _gc_at(seconds: int, horizon: timedelta) -> Timestamp:
    return Timestamp(seconds=seconds) + int(horizon.total_seconds()) + 1


class _KeyStateFn(beam.DoFn):
    """Streaming per-key stage: ``KeyState`` in state, compared on arrival; the timer frees it."""

    STATE = ReadModifyWriteStateSpec("key_state", BytesCoder())
    GC = TimerSpec("gc", TimeDomain.WATERMARK)

    def __init__(self, horizon: timedelta) -> None:
        self._horizon = horizon
        self._horizon_s = int(horizon.total_seconds())

    def process(self, element: tuple[int, tuple[Any, ...]], state: Any = beam.DoFn.StateParam(STATE),
                gc: Any = beam.DoFn.TimerParam(GC)) -> Iterator[tuple[int, PlainEvidence]]:
        key, plain = element
        occ = Occurrence._make(plain)
        stored = state.read()
        key_state = KeyState.decode(stored) if stored else KeyState()
        earlier, template = key_state.observe(occ, self._horizon_s)
        if occ.indexed:
            state.write(key_state.encode())
            gc.set(_gc_at(key_state.last_ts, self._horizon))
        yield occ.uid, plain_evidence(KeyEvidence(key, occ.kind, tuple(earlier), template))

    @on_timer(GC)
    def expire(self, state: Any = beam.DoFn.StateParam(STATE)) -> Iterator[Any]:
        state.clear()
        yield from ()


def _evidence_of_group(element: tuple[int, Iterable[tuple[Any, ...]]], horizon_s: int,
                       ) -> Iterator[tuple[int, PlainEvidence]]:
    _, occurrences = element
    for uid, evidence in group_evidence(map(Occurrence._make, occurrences), horizon_s):
        yield uid, plain_evidence(evidence)


PlainEvidence = tuple[int, str, tuple[tuple[int, int, int, int], ...], bool]


def plain_evidence(evidence: KeyEvidence) -> PlainEvidence:
    """``KeyEvidence`` as plain tuples for the shuffle: Beam's coder writes tuples of numbers and
    strings natively, NamedTuples by pickling each one (~60 occurrences and as many pieces of
    evidence per article)."""
    return (evidence.key, evidence.kind, tuple((e.uid, e.ts, e.n_keys, e.site) for e in evidence.earlier),
            evidence.template)


def evidence_of_plain(plain: PlainEvidence) -> KeyEvidence:
    key, kind, earlier, template = plain
    return KeyEvidence(key, kind, tuple(map(StateEntry._make, earlier)), template)


class _DeciderFn(beam.DoFn):
    """What both per-document stages share: the persisted history (loaded in ``setup``) and the
    verdict of one document with its pointer and the keys it leaves to the history."""

    def __init__(self, threshold: float, history_root: str | None) -> None:
        self._threshold = threshold
        self._history_root = history_root
        self._history: HistoryIndex | None = None
        self._history_hits = Metrics.counter("newsflow", "dedup.history_matches")

    def setup(self) -> None:
        if self._history_root is not None:
            self._history = load_history(self._history_root)

    def _verdict(self, keys: DocKeys, evidence: list[KeyEvidence],
                 ) -> tuple[Decision, _Pointer, tuple[tuple[str, int], ...]]:
        decision = decide(keys, evidence, self._threshold, self._history)
        if decision.dup_of_id is not None:
            self._history_hits.inc()
        leaves = tuple(history_keys(keys, evidence, not decision.is_duplicate))
        return decision, _first_pointer(keys.uid, keys.doc_id, decision), leaves


class _DecideFn(_DeciderFn):
    """Streaming per-document stage: wait for the evidence of every key, then decide (history first);
    the timer decides on what has come if some evidence never does."""

    DOC = ReadModifyWriteStateSpec("doc", PickleCoder())
    EVIDENCE = BagStateSpec("evidence", PickleCoder())
    COUNT = ReadModifyWriteStateSpec("count", VarIntCoder())
    GC = TimerSpec("gc", TimeDomain.WATERMARK)

    def __init__(self, threshold: float, history_root: str | None, horizon: timedelta) -> None:
        super().__init__(threshold, history_root)
        self._horizon = horizon
        self._incomplete = Metrics.counter("newsflow", "dedup.incomplete_evidence")

    def process(self, element: tuple[int, tuple[str, Any]], doc_state: Any = beam.DoFn.StateParam(DOC),
                evidence_state: Any = beam.DoFn.StateParam(EVIDENCE),
                count: Any = beam.DoFn.StateParam(COUNT),
                gc: Any = beam.DoFn.TimerParam(GC)) -> Iterator[_Record]:
        uid, (tag, value) = element
        if tag == "doc":
            if doc_state.read() is not None:
                article = value[0]
                yield _Record(uid, _Pointer(uid, None, False), article, _copy_decision(uid, article.id), ())
                return
            article, keys = value
            doc_state.write((article, keys, len(keys.occurrences())))
            gc.set(_gc_at(keys.ts, self._horizon))
        else:
            evidence_state.add(value)
            count.write((count.read() or 0) + 1)
        doc = doc_state.read()
        if doc is None or (count.read() or 0) < doc[2]:
            return
        evidence = list(map(evidence_of_plain, evidence_state.read()))
        doc_state.clear()
        evidence_state.clear()
        count.clear()
        yield self._decide(doc[0], doc[1], evidence)

    @on_timer(GC)
    def expire(self, doc_state: Any = beam.DoFn.StateParam(DOC),
               evidence_state: Any = beam.DoFn.StateParam(EVIDENCE),
               count: Any = beam.DoFn.StateParam(COUNT)) -> Iterator[_Record]:
        doc = doc_state.read()
        if doc is not None:
            self._incomplete.inc()
            yield self._decide(doc[0], doc[1], list(map(evidence_of_plain, evidence_state.read())))
        doc_state.clear()
        evidence_state.clear()
        count.clear()

    def _decide(self, article: Article, keys: DocKeys, evidence: list[KeyEvidence]) -> _Record:
        decision, pointer, leaves = self._verdict(keys, evidence)
        return _Record(keys.uid, pointer, article, decision, leaves, keys.site)


class _DecideGroupFn(_DeciderFn):
    """Batch per-document stage: one uid's document message(s) and the evidence of all its keys,
    together after a GroupByKey. Emits ``_Decided`` records and, tagged ``LEAVES``, what each
    document leaves to the history."""

    def process(self, element: tuple[int, Iterable[tuple[str, Any]]]) -> Iterator[Any]:
        uid, messages = element
        parts = _by_tag(messages)
        docs: list[tuple[tuple[str, str], DocKeys]] = sorted(parts["doc"], key=lambda doc: doc[0])
        evidence = list(map(evidence_of_plain, parts["evidence"]))
        (order, keys), copies = docs[0], docs[1:]
        if copies:
            evidence = own_evidence(keys, evidence)
        decision, pointer, leaves = self._verdict(keys, evidence)
        yield _Decided(uid, order, keys.doc_id, pointer, decision)
        yield beam.pvalue.TaggedOutput(LEAVES, (uid, ("leaves", _Leaves(order, leaves, keys.site))))
        for copy_order, copy in copies:
            yield _Decided(uid, copy_order, copy.doc_id, _Pointer(uid, None, False),
                           _copy_decision(uid, copy.doc_id))
            yield beam.pvalue.TaggedOutput(LEAVES, (uid, ("leaves", _Leaves(copy_order, (), copy.site))))


def own_evidence(keys: DocKeys, evidence: Iterable[KeyEvidence]) -> list[KeyEvidence]:
    """One piece of evidence per key of ``keys``: arrivals sharing a uid send theirs to one place."""
    wanted = {key for _, key in keys.exact} | set(keys.sentences)
    kept: dict[tuple[int, str], KeyEvidence] = {}
    for ev in evidence:
        if ev.key in wanted:
            kept.setdefault((ev.key, ev.kind), ev)
    return list(kept.values())


def _by_tag(messages: Iterable[tuple[str, Any]]) -> defaultdict[str, list[Any]]:
    """A joined group's ``(tag, value)`` messages, listed per tag."""
    parts: defaultdict[str, list[Any]] = defaultdict(list)
    for tag, value in messages:
        parts[tag].append(value)
    return parts


def _evidence_message(keyed: tuple[int, PlainEvidence]) -> tuple[int, tuple[str, PlainEvidence]]:
    return keyed[0], ("evidence", keyed[1])


def _batch_round_messages(record: _Decided) -> Iterator[tuple[int, tuple[str, Any]]]:
    yield record.uid, ("self", (record.order, record.pointer, record.doc_id))
    if not record.pointer.final:
        yield record.pointer.target_uid, ("query", record)


def resolve_group(element: tuple[int, Iterable[tuple[str, Any]]]) -> Iterator[_Decided]:
    """One batch pointer-jumping round at one uid: each query (a record pointing here) takes the
    pointer of the document here (the least ``order`` among arrivals sharing the uid); with no
    document here, a query keeps its pointer."""
    parts = _by_tag(element[1])
    selves: list[tuple[tuple[str, str], _Pointer, str]] = parts["self"]
    queries: list[_Decided] = parts["query"]
    if not selves:
        yield from queries
        return
    _, pointer, doc_id = min(selves, key=lambda s: s[0])
    for query in queries:
        yield _follow(query, (pointer, 0, doc_id))


class _ResolveRoundFn(beam.DoFn):
    """One streaming pointer-jumping round, keyed by document uid: a query (a record pointing here) gets
    this document's pointer once it is known. Order-independent; the timer only frees state."""

    POINTER = ReadModifyWriteStateSpec("pointer", BytesCoder())
    WAITING = BagStateSpec("waiting", PickleCoder())
    GC = TimerSpec("gc", TimeDomain.WATERMARK)

    def __init__(self, horizon: timedelta) -> None:
        self._horizon = horizon

    def process(self, element: tuple[int, tuple[str, Any]], pointer_state: Any = beam.DoFn.StateParam(POINTER),
                waiting: Any = beam.DoFn.StateParam(WAITING),
                gc: Any = beam.DoFn.TimerParam(GC)) -> Iterator[_Record]:
        _, (tag, value) = element
        if tag == "self":
            pointer_state.write(encode_round_state(*value))
            gc.set(_gc_at(value[1], self._horizon))
            for record in waiting.read():
                yield _follow(record, value)
            waiting.clear()
            return
        known = pointer_state.read()
        if known is not None:
            yield _follow(value, decode_round_state(known))
            return
        waiting.add(value)
        gc.set(_gc_at(_record_ts(value), self._horizon))  # the target's state may be gone: flush at the latest then

    @on_timer(GC)
    def expire(self, pointer_state: Any = beam.DoFn.StateParam(POINTER),
               waiting: Any = beam.DoFn.StateParam(WAITING)) -> Iterator[_Record]:
        yield from waiting.read()  # target unknown: the record keeps its pointer
        waiting.clear()
        pointer_state.clear()


def encode_round_state(pointer: _Pointer, ts: int, doc_id: str) -> bytes:
    """What a resolution round keeps per document for a horizon (about 25 bytes for a canonical
    document): flags, first-seen second, own id, then only the pointer fields that differ."""
    flags = (pointer.final and 1) | (pointer.target_id not in (None, doc_id) and 2) | (
        pointer.via_id is not None and 4) | (pointer.target_id == doc_id and 8)
    out = bytearray(struct.pack(">BI", flags, ts & 0xFFFFFFFF))
    if not pointer.final:
        out += struct.pack(">q", pointer.target_uid)
    for text in (doc_id, pointer.target_id if flags & 2 else None, pointer.via_id):
        if text is not None:
            data = text.encode("utf-8")
            out += struct.pack(">H", len(data)) + data
    return bytes(out)


def canonical_round_state_bytes(doc_id: str, ts: int) -> int:
    """Bytes one resolution round keeps for a canonical document (its state key included)."""
    return 8 + len(encode_round_state(_Pointer(0, doc_id, True), ts, doc_id))


def decode_round_state(data: bytes) -> tuple[_Pointer, int, str]:
    flags, ts = struct.unpack_from(">BI", data, 0)
    pos = 5
    target_uid = 0
    if not flags & 1:
        (target_uid,) = struct.unpack_from(">q", data, pos)
        pos += 8
    texts: list[str] = []
    while pos < len(data):
        (size,) = struct.unpack_from(">H", data, pos)
        texts.append(data[pos + 2:pos + 2 + size].decode("utf-8"))
        pos += 2 + size
    doc_id, rest = texts[0], texts[1:]
    target_id = rest.pop(0) if flags & 2 else (doc_id if flags & 8 else None)
    via_id = rest.pop(0) if flags & 4 else None
    return _Pointer(target_uid, target_id, bool(flags & 1), via_id), ts, doc_id


_R = TypeVar("_R", _Record, _Decided)


def _follow(record: _R, target: tuple[_Pointer, int, str]) -> _R:
    """``record`` now points where its target points (remembering the target's id)."""
    pointer, _, target_id = target
    return record._replace(pointer=pointer if pointer.final else pointer._replace(via_id=target_id))


def _round_messages(record: _Record) -> Iterator[tuple[int, tuple[str, Any]]]:
    yield record.uid, ("self", (record.pointer, _record_ts(record), record.article.id))
    if not record.pointer.final:
        yield record.pointer.target_uid, ("query", record)


def _record_ts(record: _Record) -> int:
    return epoch_seconds(arrival_time(record.article))


class _EmitterFn(beam.DoFn):
    """Route a resolved document: canonical article, or duplicate record; plus its history rows."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self._duplicates = Metrics.counter("newsflow", "dedup.duplicates")
        self._canonical = Metrics.counter("newsflow", "dedup.canonical")
        self._unresolved = Metrics.counter("newsflow", "dedup.unresolved_chains")

    def _emit(self, article: Article, decision: Decision, pointer: _Pointer,
              keys: tuple[tuple[str, int], ...], site: int) -> Iterator[Any]:
        yield from rejecting(DEDUP_STAGE, article, lambda: self._routed(article, decision, pointer, keys, site))

    def _routed(self, article: Article, decision: Decision, pointer: _Pointer,
                keys: tuple[tuple[str, int], ...], site: int) -> Iterator[Any]:
        canonical_id = pointer.target_id if pointer.final else pointer.via_id
        if decision.is_duplicate and not pointer.final:
            # chain longer than the rounds, or its target's state expired: name the last copy
            # passed on the way; knowing none, emit the article rather than lose it
            self._unresolved.inc()
        if not decision.is_duplicate or canonical_id is None:
            self._canonical.inc()
            canonical_id = article.id
            yield article
        else:
            self._duplicates.inc()
            yield beam.pvalue.TaggedOutput(DUPLICATES, DuplicateRecord(
                article=dataclasses.replace(article, duplicate_of=canonical_id),
                similarity=decision.similarity, method=decision.method or "", detected_at=self._clock()))
        first_seen = from_epoch_seconds(epoch_seconds(arrival_time(article)))
        for kind, key in keys:
            yield beam.pvalue.TaggedOutput(HISTORY, HistoryRow(key, canonical_id, first_seen, kind, site))


class _EmitFn(_EmitterFn):
    """Streaming: the record carries its article and history keys."""

    def process(self, record: _Record) -> Iterator[Any]:
        yield from self._emit(record.article, record.decision, record.pointer, record.keys, record.site)


class _EmitJoinedFn(_EmitterFn):
    """Batch: a uid's article(s), resolved record(s) and history leaves, joined by ``order``."""

    def process(self, element: tuple[int, Iterable[tuple[str, Any]]]) -> Iterator[Any]:
        parts = _by_tag(element[1])
        articles = sorted(parts["article"], key=lambda pair: pair[0])
        records = sorted(parts["record"], key=lambda record: record.order)
        leaves = sorted(parts["leaves"], key=lambda leaf: leaf.order)
        for (_, article), record, leaf in zip(articles, records, leaves, strict=True):
            yield from self._emit(article, record.decision, record.pointer, leaf.keys, leaf.site)


class DropDuplicates(beam.PTransform):
    """PCollection[Article] → outputs ``articles`` (the first arrival of each story), ``duplicates``
    (``DuplicateRecord`` pointing at the canonical id), ``history`` (``HistoryRow`` for the persisted
    index) and ``rejected`` (an article whose keys or routing raised, as a dead letter of stage "dedup").

    Args:
      history_root: output root whose ``_state/dedup/v1/*.parquet`` rows are loaded; a document
        matching them is a duplicate of the history document (re-runs re-emit nothing).
      horizon: how long live state remembers a document (older ones: history only).
      containment_threshold: share of the shorter document's sentence keys that must be found in
        an earlier document, in (0, 1].
      streaming: stateful DoFns in arrival order instead of GroupByKeys (per key sorted by arrival);
        default: the pipeline's ``--streaming`` option.
      resolve_rounds: pointer-jumping rounds; resolves copy-of-copy chains up to 2**rounds long.
      clock: ``detected_at`` source (tests pass a fixed clock).
    """

    def __init__(self, history_root: str | None = None, horizon: timedelta = DEFAULT_HORIZON,
                 containment_threshold: float = DEFAULT_CONTAINMENT, streaming: bool | None = None,
                 resolve_rounds: int = 5, clock: Callable[[], datetime] = utcnow) -> None:
        super().__init__()
        if history_root is not None and (not isinstance(history_root, str) or not history_root):
            raise ValueError(f"history_root must be a non-empty path or None, got {history_root!r}")
        if not isinstance(horizon, timedelta) or horizon <= timedelta(0):
            raise ValueError(f"horizon must be a positive timedelta, got {horizon!r}")
        if not 0.0 < containment_threshold <= 1.0:
            raise ValueError(f"containment_threshold must be in (0, 1], got {containment_threshold!r}")
        if not isinstance(resolve_rounds, int) or not 1 <= resolve_rounds <= 16:
            raise ValueError(f"resolve_rounds must be an int in [1, 16], got {resolve_rounds!r}")
        self._history_root = history_root
        self._horizon = horizon
        self._threshold = containment_threshold
        self._streaming = streaming
        self._rounds = resolve_rounds
        self._clock = clock

    def expand(self, articles: beam.PCollection[Article]) -> StageOutputs:
        streaming = self._streaming
        if streaming is None:
            streaming = bool(articles.pipeline.options.view_as(StandardOptions).streaming)
        keyed = (articles
                 | "GlobalWindow" >> beam.WindowInto(window.GlobalWindows())
                 | "Keys" >> FlatMapOrReject(DEDUP_STAGE, _with_keys, main="docs"))
        docs = keyed.docs
        occurrences = docs | "Occurrences" >> beam.FlatMap(
            lambda doc: ((occ.key, tuple(occ)) for occ in doc[1].occurrences())).with_output_types(KV[int, Any])
        emitted = (self._expand_streaming(docs, occurrences) if streaming
                   else self._expand_batch(docs, occurrences))
        rejected = (keyed[REJECTED], emitted[REJECTED]) | "Rejected" >> beam.Flatten()
        return StageOutputs({ARTICLES: emitted[ARTICLES], DUPLICATES: emitted[DUPLICATES],
                             HISTORY: emitted[HISTORY], REJECTED: rejected})

    def _expand_batch(self, docs: beam.PCollection, occurrences: beam.PCollection) -> beam.pvalue.DoOutputsTuple:
        evidence = (occurrences
                    | "GroupByKey" >> beam.GroupByKey()
                    | "PerKeyInOrder" >> beam.FlatMap(_evidence_of_group, int(self._horizon.total_seconds())))
        doc_messages = docs | "DocMessages" >> beam.Map(
            lambda doc: (doc[1].uid, ("doc", (_order(doc[0]), doc[1])))).with_output_types(KV[int, Any])
        evidence_messages = evidence | "EvidenceMessages" >> beam.Map(_evidence_message).with_output_types(
            KV[int, Any])
        decided = ((doc_messages, evidence_messages)
                   | "PerDoc" >> beam.Flatten()
                   | "GroupByDoc" >> beam.GroupByKey()
                   | "Decide" >> beam.ParDo(_DecideGroupFn(self._threshold, self._history_root)).with_outputs(
                       LEAVES, main="decided"))
        records = self._resolve_chains(decided.decided, _batch_round_messages,
                                       lambda: beam.GroupByKey() | beam.FlatMap(resolve_group))
        article_messages = docs | "ArticleMessages" >> beam.Map(
            lambda doc: (doc[1].uid, ("article", (_order(doc[0]), doc[0])))).with_output_types(KV[int, Any])
        record_messages = records | "RecordMessages" >> beam.Map(
            lambda r: (r.uid, ("record", r))).with_output_types(KV[int, Any])
        return ((article_messages, record_messages, decided[LEAVES])
                | "PerDocResolved" >> beam.Flatten()
                | "JoinArticles" >> beam.GroupByKey()
                | "Emit" >> beam.ParDo(_EmitJoinedFn(self._clock)).with_outputs(DUPLICATES, HISTORY, REJECTED, main=ARTICLES))

    def _expand_streaming(self, docs: beam.PCollection, occurrences: beam.PCollection) -> beam.pvalue.DoOutputsTuple:
        evidence = occurrences | "PerKeyState" >> beam.ParDo(
            _KeyStateFn(self._horizon)).with_input_types(KV[int, Any])
        doc_messages = docs | "DocMessages" >> beam.Map(
            lambda doc: (doc[1].uid, ("doc", doc))).with_output_types(KV[int, Any])
        evidence_messages = evidence | "EvidenceMessages" >> beam.Map(_evidence_message).with_output_types(
            KV[int, Any])
        records = ((doc_messages, evidence_messages)
                   | "PerDoc" >> beam.Flatten()
                   | "Decide" >> beam.ParDo(_DecideFn(self._threshold, self._history_root,
                                                      self._horizon)).with_input_types(KV[int, Any]))
        records = self._resolve_chains(records, _round_messages, lambda: beam.ParDo(
            _ResolveRoundFn(self._horizon)).with_input_types(KV[int, Any]))
        return records | "Emit" >> beam.ParDo(_EmitFn(self._clock)).with_outputs(
            DUPLICATES, HISTORY, REJECTED, main=ARTICLES)

    def _resolve_chains(self, records: beam.PCollection, round_messages: Callable[[Any], Iterable[Any]],
                        resolve: Callable[[], beam.PTransform]) -> beam.PCollection:
        """``resolve_rounds`` pointer-jumping rounds: final records pass by, the others are sent with
        ``round_messages`` to their target's uid, where ``resolve`` answers them."""
        for n in range(self._rounds):
            final = records | f"Final{n}" >> beam.Filter(lambda r: r.pointer.final)
            resolved = (records
                        | f"RoundMessages{n}" >> beam.FlatMap(round_messages).with_output_types(KV[int, Any])
                        | f"Resolve{n}" >> resolve())
            records = (final, resolved) | f"Records{n}" >> beam.Flatten()
        return records
