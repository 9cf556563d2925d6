"""Rows to Parquet bytes with bounded memory, checked against the contract; rows packed for the shuffle."""

from __future__ import annotations

import io
import itertools
import pickle
from collections.abc import Iterable, Mapping
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard


class ContractViolation(ValueError):
    """A row breaks its dataset's schema: a bug upstream, never written."""


ROWS_PER_BATCH = 2_000
"""Rows turned into one Arrow record batch at a time: a partition of any size is converted with
bounded memory (the Python dicts of one batch, not of the whole partition)."""


PACK_MIN_BYTES = 1_024
"""Rows whose pickle is at least this long are zstd-compressed while they wait in the shuffle."""


def parquet_file(rows: Iterable[Mapping[str, Any]], schema: pa.Schema) -> tuple[bytes, int]:
    """The Parquet (zstd) file of ``rows``, written ``ROWS_PER_BATCH`` rows at a time, and its row count."""
    buffer = io.BytesIO()
    count = 0
    remaining = iter(rows)
    with pq.ParquetWriter(buffer, schema, compression="zstd") as writer:
        while batch := list(itertools.islice(remaining, ROWS_PER_BATCH)):
            table = pa.Table.from_pylist(batch, schema=schema)
            for field in schema:
                if not field.nullable and table.column(field.name).null_count:
                    raise ContractViolation(f"{table.column(field.name).null_count} row(s) with null in "
                                            f"required column {field.name!r}")
            writer.write_table(table)
            count += table.num_rows
    return buffer.getvalue(), count


def table_bytes(rows: Iterable[Mapping[str, Any]], schema: pa.Schema) -> bytes:
    return parquet_file(rows, schema)[0]


def pack_row(row: Mapping[str, Any]) -> bytes:
    """A row as it waits in the shuffle: pickled, and zstd-compressed when long (article bodies
    shrink about threefold), so a runner that holds the shuffle in memory holds less."""
    data = pickle.dumps(row, protocol=pickle.HIGHEST_PROTOCOL)
    return b"z" + zstandard.compress(data) if len(data) >= PACK_MIN_BYTES else b"p" + data


def unpack_row(packed: bytes) -> dict[str, Any]:
    data = zstandard.decompress(packed[1:]) if packed[:1] == b"z" else packed[1:]
    row: dict[str, Any] = pickle.loads(data)
    return row
