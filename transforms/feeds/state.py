"""Persisted per-feed state: validators for conditional GET, health, and the polling schedule.

Each run commits one small Parquet file under ``<root>/_state/feeds/v1/``; loading keeps the newest
row per feed (by ``polled_at``), so the once job, the local stream cycles and the report read the same
history.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from newsflow.transforms.storage import join, matching

FEED_STATE_PATH = "_state/feeds/v1"


@dataclass
class FeedState:
    """What the last poll of one URL learnt: validators for conditional GET, health, schedule hints.

    ``last_status`` is "ok", "not_modified", "unchanged" or the failure reason; ``kind`` is the
    parsed kind ("rss", "atom", "rdf", "json", "sitemap", "sitemap_index", "html", "unknown", "moved");
    an "html" source remembers the feed it led to in ``discovered_feed_url``, a "moved" one (answered
    through permanent redirects only) its new URL. ``interval_s`` and
    ``next_poll_at`` are left to ``newsflow.transforms.feeds.polling.schedule``.
    """

    feed_url: str
    etag: str | None = None
    last_modified: str | None = None
    content_sha256: str | None = None
    last_status: str | None = None
    last_success_at: datetime | None = None
    consecutive_errors: int = 0
    entries_seen: int = 0
    ttl_s: int | None = None
    update_period_s: int | None = None
    cache_max_age_s: int | None = None
    retry_after_s: int | None = None
    polled_at: datetime | None = None
    kind: str | None = None
    discovered_feed_url: str | None = None
    interval_s: float | None = None
    next_poll_at: datetime | None = None


_TYPES: dict[str, pa.DataType] = {
    "str": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(),
    "datetime": pa.timestamp("us", tz="UTC"),
}


def feed_state_schema() -> pa.Schema:
    """Arrow schema derived from the ``FeedState`` dataclass (every field nullable but the URL)."""
    columns = []
    for f in fields(FeedState):
        type_name = str(f.type).replace(" | None", "").replace("Optional[", "").rstrip("]")
        columns.append(pa.field(f.name, _TYPES.get(type_name, pa.string()), nullable=f.name != "feed_url"))
    return pa.schema(columns)


def feed_state_row(state: Any) -> dict[str, Any]:
    return asdict(state)


def load_feed_states(root: str) -> dict[str, Any]:
    """The newest state of every feed under ``root`` (empty when the root has none yet)."""
    newest: dict[str, dict[str, Any]] = {}
    for path in sorted(matching(join(root, FEED_STATE_PATH, "*.parquet"))):
        with FileSystems.open(path) as handle:
            table = pq.read_table(io.BytesIO(handle.read()))
        for row in table.to_pylist():
            current = newest.get(row["feed_url"])
            if current is None or _later(row.get("polled_at"), current.get("polled_at")):
                newest[row["feed_url"]] = row
    cls = FeedState
    known = {f.name for f in fields(cls)}
    return {url: cls(**{k: v for k, v in row.items() if k in known}) for url, row in newest.items()}


def _later(a: datetime | None, b: datetime | None) -> bool:
    return b is None or (a is not None and a >= b)


