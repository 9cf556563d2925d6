"""The record types of every dataset newsflow writes: the single source of truth.

Each dataset is a list of ``Column`` (name, Arrow type, nullability, meaning, example). The Parquet
schema, the generated JSON Schema / Avro / BigQuery files and the dataset contract all derive from here.
Within ``v1`` only additive changes (a new nullable column) are allowed; anything else is ``v2``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa

SCHEMA_VERSION = 1

TOPIC_TYPE = pa.struct([
    pa.field("code", pa.string(), nullable=False),
    pa.field("label", pa.string(), nullable=False),
    pa.field("confidence", pa.float32(), nullable=False),
])
TIMESTAMP = pa.timestamp("us", tz="UTC")
STRINGS = pa.list_(pa.string())


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    nullable: bool
    doc: str
    example: Any

    def arrow_field(self) -> pa.Field:
        return pa.field(self.name, self.type, nullable=self.nullable,
                        metadata={"doc": self.doc})


@dataclass(frozen=True)
class Dataset:
    """A dataset under the output root: ``<root>/<name>/v<version>/<partition folders>/*.parquet``."""

    name: str
    version: int
    doc: str
    columns: tuple[Column, ...]
    partition_keys: tuple[str, ...]

    @property
    def path(self) -> str:
        return f"{self.name}/v{self.version}"

    def arrow_schema(self) -> pa.Schema:
        return pa.schema([c.arrow_field() for c in self.columns],
                         metadata={"newsflow.dataset": self.name,
                                   "newsflow.schema_version": str(self.version)})

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


ARTICLE_COLUMNS: tuple[Column, ...] = (
    Column("id", pa.string(), False, "Stable id: sha256 of the normalised canonical URL, first 16 hex digits.",
           "9f2c4e1a7b3d5e60"),
    Column("url", pa.string(), False, "The link the feed listed, as listed.",
           "https://news.example.org/2024/07/29/trilateral?utm_source=rss"),
    Column("canonical_url", pa.string(), False,
           "Normalised canonical URL (rel=canonical or og:url, else the final URL; tracking parameters stripped).",
           "https://news.example.org/2024/07/29/trilateral"),
    Column("feed_url", pa.string(), False, "The feed (or sitemap) the entry came from.",
           "https://news.example.org/rss.xml"),
    Column("feed_name", pa.string(), True, "The feed's name from the config.", "Example News"),
    Column("site", pa.string(), False, "Publishing host without a leading www.", "news.example.org"),
    Column("guid", pa.string(), True, "The feed entry's GUID/id, if any.", "urn:example:2024-0729-01"),
    Column("title", pa.string(), True, "Headline: JSON-LD headline, page title, else the feed title.",
           "ROK, Japan, US sign trilateral security framework"),
    Column("authors", STRINGS, False, "Author names, possibly empty.", ["Kim Min-jun"]),
    Column("published_at", TIMESTAMP, True,
           "Publication instant (stored in UTC) of the day the sources agree on: feed, JSON-LD, meta tags, "
           "microdata, <time>, URL, date lines, htmldate; never after fetched_at. A bare date is midnight UTC "
           "of published_date; read the day from published_date, not from this column's UTC day.",
           "2024-07-29T06:30:00Z"),
    Column("fetched_at", TIMESTAMP, False, "When the page was fetched (UTC).", "2024-07-29T07:02:11Z"),
    Column("ingested_at", TIMESTAMP, False, "When the record was written (UTC).", "2024-07-29T07:02:15Z"),
    Column("language", pa.string(), True, "ISO 639-1 language of the body, if known.", "en"),
    Column("summary", pa.string(), True, "The feed entry's summary as plain text.",
           "Defence ministers of the three countries met in Tokyo."),
    Column("body", pa.string(), False,
           "Clean article text, paragraphs separated by newlines, repeated runs removed.",
           "TOKYO — The defence ministers of South Korea, Japan and the United States ..."),
    Column("body_sha256", pa.string(), False, "sha256 hex of the body (UTF-8).",
           "3b1f...e9"),
    Column("partial", pa.bool_(), False, "True when the page is a teaser or paywalled excerpt.", False),
    Column("redirect_chain", STRINGS, False, "Every URL fetched before the final one.",
           ["http://news.example.org/a"]),
    Column("feed_tags", STRINGS, False, "Tags the config gives the feed.", ["asia", "defence"]),
    Column("topics", pa.list_(TOPIC_TYPE), False,
           "IPTC Media Topics (top level, and second level where evidence is clear), best first.",
           [{"code": "medtop:11000000", "label": "politics and government", "confidence": 0.92}]),
    Column("primary_topic", pa.string(), True, "The record's main IPTC top-level code.", "medtop:11000000"),
    Column("countries", STRINGS, False, "ISO 3166-1 alpha-2 codes of the countries the story is about.",
           ["KR", "JP", "US", "KP"]),
    Column("mentioned_countries", STRINGS, False, "Countries named but not the story's focus.", ["RU", "BY"]),
    Column("subregions", STRINGS, False, "UN M49 sub-regions of `countries`.",
           ["Eastern Asia", "Northern America"]),
    Column("regions", STRINGS, False, "UN M49 regions of `countries`.", ["Asia", "Americas"]),
    Column("primary_region", pa.string(), True, "M49 sub-region of the most salient country.", "Eastern Asia"),
    Column("tag_evidence", pa.string(), True,
           "JSON of the matched terms behind each tag (only with --explain_tags).", None),
    Column("duplicate_of", pa.string(), True,
           "Null in articles (canonical records); in duplicates, the id of the canonical record.", None),
    Column("run_id", pa.string(), False, "The run (or stream cycle/window) that wrote the record.",
           "20240729T070200Z-3f9a"),
    Column("schema_version", pa.int32(), False, "Record schema version.", 1),
    Column("published_date", pa.date32(), True,
           "Calendar day of publication in the source's own time zone (the day its readers saw; a Tokyo "
           "story of 07:00 +09:00 is that day even though published_at's UTC day is the one before).",
           "2024-07-29"),
    Column("published_offset_min", pa.int32(), True,
           "UTC offset in minutes (east positive) that published_date is read in: the one the page states, "
           "or the site's zone for a time given only in UTC; null for a bare date.", 540),
    Column("published_source", pa.string(), True,
           "Which source gave published_at, then the others agreeing on the day, joined by +: feed_date, "
           "rule_date, jsonld_date, jsonld_created, meta_date, meta_generic, itemprop_date, time_date, "
           "url_date, text_date, htmldate.", "jsonld_date+meta_date+url_date"),
    Column("modified_at", TIMESTAMP, True,
           "Last modification the page states (JSON-LD dateModified, modified meta tags, microdata), UTC; "
           "never before published_at nor after fetched_at.", "2024-07-29T09:10:00Z"),
)

DUPLICATE_COLUMNS: tuple[Column, ...] = (
    *(c for c in ARTICLE_COLUMNS if c.name not in {"duplicate_of"}),
    Column("duplicate_of", pa.string(), False, "Id of the canonical record in articles/v1.", "9f2c4e1a7b3d5e60"),
    Column("similarity", pa.float32(), False,
           "1.0 for exact keys; the containment (share of the shorter text found in the other) otherwise.", 0.87),
    Column("method", pa.string(), False,
           "What matched: url, canonical_url, guid, body_hash or sentence_containment.", "sentence_containment"),
    Column("detected_at", TIMESTAMP, False, "When the duplicate was detected (UTC).", "2024-07-29T09:14:00Z"),
)

DEADLETTER_COLUMNS: tuple[Column, ...] = (
    Column("kind", pa.string(), False, "skip (a named reason, expected) or error (a failure).", "error"),
    Column("stage", pa.string(), False, "Stage that rejected the item: feeds, fetch, extract, dedup, tag, write.",
           "fetch"),
    Column("reason", pa.string(), False, "Skip reason or error reason, from a closed list (see README).",
           "http_404"),
    Column("url", pa.string(), False, "The item's URL.", "https://news.example.org/missing"),
    Column("feed_url", pa.string(), True, "The feed the item came from.", "https://news.example.org/rss.xml"),
    Column("host", pa.string(), False, "Host of `url`.", "news.example.org"),
    Column("error_class", pa.string(), True, "Exception class, for errors.", "HTTPStatusError"),
    Column("message", pa.string(), True, "Error message (truncated to 2,000 characters).", "404 Not Found"),
    Column("attempt", pa.int32(), False, "Attempts made.", 1),
    Column("at", TIMESTAMP, False, "When it happened (UTC).", "2024-07-29T07:02:11Z"),
    Column("run_id", pa.string(), False, "The run that saw it.", "20240729T070200Z-3f9a"),
)

ARTICLES = Dataset("articles", 1, "Canonical article records: each story once, at its first arrival.",
                   ARTICLE_COLUMNS, ("dt", "topic", "region"))
DUPLICATES = Dataset("duplicates", 1,
                     "Later copies of stories already in articles: the full record plus what it duplicates.",
                     DUPLICATE_COLUMNS, ("dt",))
DEADLETTERS = Dataset("deadletters", 1,
                      "Every item that did not become a record: skips with a reason, and failures.",
                      DEADLETTER_COLUMNS, ("dt",))
DATASETS: tuple[Dataset, ...] = (ARTICLES, DUPLICATES, DEADLETTERS)


def dataset(name: str) -> Dataset:
    return next(d for d in DATASETS if d.name == name)
