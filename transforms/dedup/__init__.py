"""Stage 4, dedup: repeated text inside a page, and copies across sites and over time.

Public transforms: ``RemoveRepeatedText`` (a page's repeated blocks, kept once), ``DropDuplicates``
(later copies of a story → the duplicates dataset) and ``SkipKnownEntries`` (entries an earlier run
recorded are not fetched again). The libraries beside them: ``keys`` (exact and sentence keys, the
decision rule, the in-memory ``Deduplicator``), ``repeated_text`` and ``history`` (the persisted keys).
"""

from newsflow.transforms.dedup.drop_duplicates import DropDuplicates
from newsflow.transforms.dedup.known_entries import SkipKnownEntries
from newsflow.transforms.dedup.repeated_text import RemoveRepeatedText

__all__ = ["DropDuplicates", "RemoveRepeatedText", "SkipKnownEntries"]
