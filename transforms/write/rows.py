"""Dataset rows: the stored form of articles and rejections, and the Hive partition each goes to."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from newsflow.schemas.records import ARTICLES, DEADLETTERS, DUPLICATES, SCHEMA_VERSION
from newsflow.transforms.items import Article, Rejection
from newsflow.transforms.tag.slugs import region_slug, topic_slug
from newsflow.transforms.urls import site_of

PARTITION_KEYS = ("dt", "topic", "region")


def validate_partition_keys(keys: Iterable[str]) -> tuple[str, ...]:
    chosen = tuple(keys)
    unknown = [k for k in chosen if k not in PARTITION_KEYS]
    if unknown:
        raise ValueError(f"unknown partition key(s) {unknown}; choose from {list(PARTITION_KEYS)}")
    if "dt" not in chosen:
        raise ValueError("partition keys must include dt")
    return tuple(k for k in PARTITION_KEYS if k in chosen)


def partition_values(row: Mapping[str, Any], when: datetime) -> dict[str, str]:
    """The closed-vocabulary partition values of a row: ingestion date and primary tag slugs."""
    return {"dt": when.astimezone(UTC).strftime("%Y-%m-%d"),
            "topic": topic_slug(row.get("primary_topic")),
            "region": region_slug(row.get("primary_region"))}


def partition_path(values: Mapping[str, str], keys: Iterable[str]) -> str:
    return "/".join(f"{k}={values[k]}" for k in keys)


def article_row(article: Article, run_id: str, ingested_at: datetime) -> dict[str, Any]:
    row = {c.name: getattr(article, c.name, None) for c in ARTICLES.columns}
    row.update(topics=[asdict(t) for t in article.topics], ingested_at=ingested_at,
               run_id=run_id, schema_version=SCHEMA_VERSION)
    return row


def deadletter_row(rejection: Rejection, run_id: str) -> dict[str, Any]:
    return {"kind": rejection.kind, "stage": rejection.stage, "reason": rejection.reason,
            "url": rejection.url, "feed_url": rejection.feed_url, "host": site_of(rejection.url) or "",
            "error_class": rejection.error_class, "message": rejection.message,
            "attempt": rejection.attempt, "at": rejection.at, "run_id": run_id}


DATASET_SCHEMAS: dict[str, pa.Schema] = {
    ARTICLES.path: ARTICLES.arrow_schema(),
    DUPLICATES.path: DUPLICATES.arrow_schema(),
    DEADLETTERS.path: DEADLETTERS.arrow_schema(),
}
