"""The persisted dedup index: which keys earlier runs saw, and for which canonical document.

Rows live under ``<root>/_state/dedup/v1/`` as Parquet files (``part-<run_id>.parquet``), one row
per (64-bit key, canonical doc id, first seen, kind, 32-bit site hash): about 40 bytes a row
before compression, 6 rows per document on the DEV kit (a canonical document leaves its exact
and stored sentence keys, a duplicate its exact keys). A run loads all of them (``load_history``)
so that re-runs and later days never re-emit an old story; it writes its own rows at the end
(``history_table`` for the lead's atomic writer, ``write_history`` or ``WriteHistory``).
Everything goes through Beam's ``FileSystems``: local paths and ``gs://`` alike. The index is
loaded whole into each worker's memory (``HistoryIndex``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

import apache_beam as beam
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from apache_beam.io.filesystem import BeamIOError
from apache_beam.io.filesystems import FileSystems

from newsflow.transforms.dedup.keys import (
    MAX_DOCS_PER_KEY,
    SENTENCE,
    TEMPLATE,
    TEMPLATE_SITE_DOCS,
)
from newsflow.transforms.storage import move, write_bytes

HISTORY_DIR = "_state/dedup/v1"

SCHEMA = pa.schema([
    pa.field("key", pa.int64(), nullable=False),
    pa.field("doc_id", pa.string(), nullable=False),
    pa.field("first_seen", pa.timestamp("us", tz="UTC"), nullable=False),
    pa.field("kind", pa.string(), nullable=False),
    pa.field("site", pa.uint32(), nullable=False),
])


@dataclass(frozen=True)
class HistoryRow:
    """One key of one canonical document: ``kind`` is ``"sentence"``, ``"template"`` (a sentence
    key that is ``site``'s boilerplate) or an exact kind (``url``, ``canonical_url``, ``guid``,
    ``body_hash``); ``key`` is the signed 64-bit key; ``site`` the 32-bit hash of the publishing
    site (``DocKeys.site``), so that a site's template sentences stay recognisable across runs."""

    key: int
    doc_id: str
    first_seen: datetime
    kind: str
    site: int = 0


@dataclass
class HistoryIndex:
    """In-memory form of the persisted rows: first canonical doc per exact key, the first
    ``MAX_DOCS_PER_KEY`` canonical docs per sentence key (with their sites), and each doc's
    sentence-key count. A sentence key that ``TEMPLATE_SITE_DOCS`` of those docs share with one
    site is that site's template, as in the live ``KeyState``."""

    exact_docs: dict[int, tuple[datetime, str]] = field(default_factory=dict)
    sentence_index: dict[int, list[tuple[datetime, str, int]]] = field(default_factory=dict)
    sentence_counts: Counter[str] = field(default_factory=Counter)
    template_sites: dict[int, set[int]] = field(default_factory=dict)

    def add(self, rows: Iterable[HistoryRow]) -> None:
        for row in rows:
            if row.kind == TEMPLATE:
                self.template_sites.setdefault(row.key, set()).add(row.site)
            elif row.kind == SENTENCE:
                docs = self.sentence_index.setdefault(row.key, [])
                if any(doc_id == row.doc_id for _, doc_id, _ in docs):
                    continue
                self.sentence_counts[row.doc_id] += 1
                docs.append((row.first_seen, row.doc_id, row.site))
                docs.sort()
                del docs[MAX_DOCS_PER_KEY:]
            else:
                seen = self.exact_docs.get(row.key)
                if seen is None or (row.first_seen, row.doc_id) < seen:
                    self.exact_docs[row.key] = (row.first_seen, row.doc_id)

    def exact(self, key: int) -> str | None:
        found = self.exact_docs.get(key)
        return found[1] if found else None

    def sentence_docs(self, key: int) -> Iterable[str]:
        return [doc_id for _, doc_id, _ in self.sentence_index.get(key, ())]

    def template(self, key: int, site: int) -> bool:
        if site in self.template_sites.get(key, ()):
            return True
        docs = self.sentence_index.get(key, ())
        return sum(1 for _, _, doc_site in docs if doc_site == site) >= TEMPLATE_SITE_DOCS

    def n_keys(self, doc_id: str) -> int:
        return self.sentence_counts[doc_id]

    def __len__(self) -> int:
        return len(self.exact_docs) + len(self.sentence_index)


def history_dir(root: str) -> str:
    return FileSystems.join(root, *HISTORY_DIR.split("/"))


def history_table(rows: Iterable[HistoryRow]) -> pa.Table:
    """The Parquet table of ``rows`` (schema ``SCHEMA``)."""
    rows = list(rows)
    return pa.table({
        "key": pa.array([r.key for r in rows], pa.int64()),
        "doc_id": pa.array([r.doc_id for r in rows], pa.string()),
        "first_seen": pa.array([r.first_seen for r in rows], pa.timestamp("us", tz="UTC")),
        "kind": pa.array([r.kind for r in rows], pa.string()),
        "site": pa.array([r.site for r in rows], pa.uint32()),
    }, schema=SCHEMA)


def rows_of(table: pa.Table) -> Iterator[HistoryRow]:
    columns = table.select(["key", "doc_id", "first_seen", "kind", "site"]).to_pydict()
    for key, doc_id, first_seen, kind, site in zip(columns["key"], columns["doc_id"], columns["first_seen"],
                                                   columns["kind"], columns["site"], strict=True):
        yield HistoryRow(key, doc_id, first_seen, kind, site)


def history_files(root: str) -> list[str]:
    pattern = FileSystems.join(history_dir(root), "*.parquet")
    try:
        return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
    except BeamIOError:
        return []


def _read_history_file(path: str, columns: list[str] | None = None) -> pa.Table:
    with FileSystems.open(path) as f:
        return pq.read_table(pa.BufferReader(f.read()), columns=columns)


def load_history(root: str) -> HistoryIndex:
    """All rows of every ``*.parquet`` file under ``<root>/_state/dedup/v1/`` (none: empty index)."""
    index = HistoryIndex()
    for path in history_files(root):
        index.add(sorted(rows_of(_read_history_file(path)), key=lambda r: (r.first_seen, r.doc_id)))
    return index


def load_exact_keys(root: str) -> frozenset[int]:
    """The keys of the exact kinds (URL, canonical URL, GUID, body hash) in the history: the keys of
    ``load_history(root).exact_docs``, read from two columns without building the sentence index."""
    keys: set[int] = set()
    for path in history_files(root):
        table = _read_history_file(path, columns=["key", "kind"])
        exact = pc.invert(pc.is_in(table.column("kind"), value_set=pa.array([SENTENCE, TEMPLATE])))
        keys.update(table.column("key").filter(exact).to_pylist())
    return frozenset(keys)


def write_history(root: str, run_id: str, rows: Iterable[HistoryRow]) -> str:
    """Write ``part-<run_id>.parquet`` under the history folder: a temporary name first, then a
    rename, so readers never see half a file. Returns the final path."""
    if not run_id or "/" in run_id:
        raise ValueError(f"run_id must be a non-empty name without '/', got {run_id!r}")
    final = FileSystems.join(history_dir(root), f"part-{run_id}.parquet")
    temp = final + ".tmp"
    sink = pa.BufferOutputStream()
    pq.write_table(history_table(rows), sink, compression="zstd")
    write_bytes(temp, sink.getvalue().to_pybytes())
    move(temp, final)
    return final



class WriteHistory(beam.PTransform):
    """PCollection[HistoryRow] → one ``part-<run_id>.parquet`` written when the run's rows are
    complete (one combined write per window: meant for once mode; the output is its path)."""

    def __init__(self, root: str, run_id: str) -> None:
        super().__init__()
        if not root:
            raise ValueError("root must be a non-empty path")
        if not run_id or "/" in run_id:
            raise ValueError(f"run_id must be a non-empty name without '/', got {run_id!r}")
        self._root = root
        self._run_id = run_id

    def expand(self, rows: beam.PCollection[HistoryRow]) -> beam.PCollection[str]:
        root, run_id = self._root, self._run_id
        return (rows
                | "AllRows" >> beam.combiners.ToList()
                | "WriteParquet" >> beam.Map(lambda batch: write_history(root, run_id, batch)))
