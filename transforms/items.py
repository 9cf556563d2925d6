"""The item types that flow between stages, and the rejection every stage may emit instead.

feeds → fetch → extract → dedup → tag → write: a ``FeedSpec`` yields ``Entry`` items, an entry
becomes a ``Page``, a page becomes an ``Article`` (the in-flight form of the Article v1 record).
Anything that does not go on is a ``Rejection`` on the ``rejected`` output of its stage:
``kind="skip"`` with a named reason, or ``kind="error"`` with the error class and message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal

REJECTED = "rejected"
"""Tag of every stage's side output of ``Rejection`` items."""

FEEDS_STAGE, FETCH_STAGE, EXTRACT_STAGE, DEDUP_STAGE, TAG_STAGE, WRITE_STAGE = (
    "feeds", "fetch", "extract", "dedup", "tag", "write")
"""The ``stage`` a ``Rejection`` names: where the item stopped."""


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class FeedSpec:
    """One source from the config: a feed, a sitemap, or a page to autodiscover a feed on."""

    url: str
    name: str | None = None
    tags: tuple[str, ...] = ()
    region_hint: str | None = None
    options: tuple[tuple[str, Any], ...] = ()

    def option(self, key: str, default: Any = None) -> Any:
        return dict(self.options).get(key, default)


@dataclass
class Entry:
    """One item a feed listed: the link to fetch and what the feed said about it."""

    feed_url: str
    url: str
    guid: str | None = None
    title: str | None = None
    summary: str | None = None
    published_at: datetime | None = None
    feed_name: str | None = None
    region_hint: str | None = None
    tags: tuple[str, ...] = ()
    language: str | None = None
    """The feed's declared language (primary subtag), a fallback for pages that declare none."""


@dataclass
class Page:
    """A fetched HTML page of an entry, decoded to text."""

    entry: Entry
    final_url: str
    html: str
    fetched_at: datetime
    status: int = 200
    content_type: str = "text/html"
    redirect_chain: list[str] = field(default_factory=list)


@dataclass
class TopicTag:
    code: str
    label: str
    confidence: float


@dataclass
class Article:
    """The in-flight Article v1 record; ``newsflow.schemas.article`` defines the stored form."""

    id: str
    url: str
    canonical_url: str
    feed_url: str
    site: str
    body: str
    body_sha256: str
    fetched_at: datetime
    feed_name: str | None = None
    guid: str | None = None
    title: str | None = None
    authors: list[str] = field(default_factory=list)
    published_at: datetime | None = None
    language: str | None = None
    summary: str | None = None
    partial: bool = False
    redirect_chain: list[str] = field(default_factory=list)
    feed_tags: list[str] = field(default_factory=list)
    region_hint: str | None = None
    topics: list[TopicTag] = field(default_factory=list)
    primary_topic: str | None = None
    countries: list[str] = field(default_factory=list)
    mentioned_countries: list[str] = field(default_factory=list)
    subregions: list[str] = field(default_factory=list)
    regions: list[str] = field(default_factory=list)
    primary_region: str | None = None
    tag_evidence: str | None = None
    duplicate_of: str | None = None
    ingested_at: datetime | None = None
    arrival_at: datetime | None = None
    """When dedup counts the story as arrived; unset: its fetch time (see drop_duplicates.arrival_time)."""
    published_date: date | None = None
    """The calendar day of ``published_at`` in the source's own offset (see extract.dates)."""
    published_offset_min: int | None = None
    published_source: str | None = None
    modified_at: datetime | None = None


@dataclass
class Rejection:
    """An item that did not become a record: skipped with a reason, or failed with an error."""

    kind: Literal["skip", "error"]
    stage: str
    reason: str
    url: str
    feed_url: str | None = None
    error_class: str | None = None
    message: str | None = None
    attempt: int = 1
    at: datetime = field(default_factory=utcnow)

    @classmethod
    def skip(cls, stage: str, reason: str, url: str, feed_url: str | None = None,
             message: str | None = None) -> Rejection:
        return cls("skip", stage, reason, url, feed_url, None, message)

    @classmethod
    def error(cls, stage: str, url: str, exc: BaseException, feed_url: str | None = None,
              attempt: int = 1, reason: str | None = None) -> Rejection:
        name = type(exc).__name__
        return cls("error", stage, reason or name, url, feed_url, name, str(exc)[:2000], attempt)
