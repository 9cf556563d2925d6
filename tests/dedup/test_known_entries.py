from __future__ import annotations

from datetime import UTC, datetime

import apache_beam as beam
from apache_beam.testing.util import assert_that, equal_to

from newsflow.transforms.dedup.history import HistoryRow, write_history
from newsflow.transforms.dedup.keys import url_key64
from newsflow.transforms.dedup.known_entries import SkipKnownEntries
from newsflow.transforms.items import Entry

WHEN = datetime(2024, 7, 29, tzinfo=UTC)


def entries() -> list[Entry]:
    return [Entry("https://a.example/rss", "https://A.example/news/1?utm_source=rss#top"),
            Entry("https://a.example/rss", "https://a.example/news/2")]


def test_entries_recorded_by_an_earlier_run_are_not_fetched_again(tmp_path):
    write_history(str(tmp_path), "run1", [HistoryRow(url_key64("https://a.example/news/1"), "id1", WHEN, "url")])
    with beam.Pipeline(runner="FnApiRunner") as p:
        kept = p | beam.Create(entries()) | SkipKnownEntries(str(tmp_path)) | beam.Map(lambda e: e.url)
        assert_that(kept, equal_to(["https://a.example/news/2"]))
    counters = p.result.metrics().query(beam.metrics.MetricsFilter().with_name("feeds.entries_known"))["counters"]
    assert sum(c.committed for c in counters) == 1


def test_without_history_every_entry_goes_on(tmp_path):
    with beam.Pipeline(runner="FnApiRunner") as p:
        kept = p | beam.Create(entries()) | SkipKnownEntries(str(tmp_path / "empty")) | beam.Map(lambda e: e.url)
        assert_that(kept, equal_to([e.url for e in entries()]))
