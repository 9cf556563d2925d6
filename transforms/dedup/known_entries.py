"""Skip feed entries whose link an earlier run already recorded, before their page is fetched again.

A feed lists the same items poll after poll; without this every poll would re-fetch every listed page
only for dedup to drop it. The persisted dedup history (``_state/dedup/v1``) holds the URL key of every
article and duplicate already written, so an entry whose normalised link is there is counted
(``feeds.entries_known``) and not fetched. Failed fetches leave no history, so they are retried.
"""

from __future__ import annotations

from collections.abc import Iterator

import apache_beam as beam
from apache_beam.metrics import Metrics

from newsflow.transforms.dedup.history import load_exact_keys
from newsflow.transforms.dedup.keys import url_key64
from newsflow.transforms.items import Entry


class _SkipKnownFn(beam.DoFn):
    def __init__(self, history_root: str):
        self._root = history_root
        self._known: frozenset[int] = frozenset()
        self._skipped = Metrics.counter("newsflow", "feeds.entries_known")

    def setup(self) -> None:
        self._known = load_exact_keys(self._root)

    def process(self, entry: Entry) -> Iterator[Entry]:
        if url_key64(entry.url) in self._known:
            self._skipped.inc()
            return
        yield entry


class SkipKnownEntries(beam.PTransform):
    """PCollection[Entry] → the entries whose link no earlier run recorded. Element-wise; the history
    is read once per DoFn instance (``setup``), so entries recorded by the running job itself are left
    to DropDuplicates."""

    def __init__(self, history_root: str | None):
        super().__init__()
        self._root = history_root

    def expand(self, entries):
        if not self._root:
            return entries
        return entries | beam.ParDo(_SkipKnownFn(self._root))
