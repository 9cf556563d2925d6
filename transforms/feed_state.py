"""Persisted per-feed state: validators for conditional GET, health, and the polling schedule.

Each run commits one small Parquet file under ``<root>/_state/feeds/v1/``; loading keeps the newest
row per feed (by ``polled_at``), so the once job, the local stream cycles and the report read the same
history.
"""

from __future__ import annotations

import io
from dataclasses import asdict, fields
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from newsflow.transforms.write_dataset import join, matching

FEED_STATE_PATH = "_state/feeds/v1"

_TYPES: dict[str, pa.DataType] = {
    "str": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(),
    "datetime": pa.timestamp("us", tz="UTC"),
}


def _state_class() -> Any:
    from newsflow.transforms.read_feeds import FeedState

    return FeedState


def feed_state_schema() -> pa.Schema:
    """Arrow schema derived from the ``FeedState`` dataclass (every field nullable but the URL)."""
    columns = []
    for f in fields(_state_class()):
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
    cls = _state_class()
    known = {f.name for f in fields(cls)}
    return {url: cls(**{k: v for k, v in row.items() if k in known}) for url, row in newest.items()}


def _later(a: datetime | None, b: datetime | None) -> bool:
    return b is None or (a is not None and a >= b)
