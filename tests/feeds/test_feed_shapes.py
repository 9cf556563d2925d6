"""Real-world feed shapes: every entry a feed gives an http(s) URL for becomes an entry of ours.

Runs the feedparser suite and the real-feeds corpus of ``../shared/bench/feeds`` (skipped when absent)
through ``parse_feed`` and compares with feedparser's own entries: an entry with a URL in its link,
links or id must never vanish (a large publisher's feed once lost every entry this way)."""

from __future__ import annotations

from typing import Any

from newsflow.transforms.feeds.parse import parse_feed, run_feedparser
from tests.conftest import bench_kit


def urls_of(entry: Any) -> list[str]:
    found = [entry.get("link")] + [link.get("href") for link in entry.get("links") or []] + [entry.get("id")]
    return [u for u in found if isinstance(u, str) and u.startswith(("http://", "https://"))]


def test_no_entry_with_a_url_vanishes_from_real_feeds_or_the_feedparser_suite():
    kit = bench_kit("feeds")
    files = sorted((kit / "real-feeds").glob("*.xml")) + sorted((kit / "feedparser-suite").rglob("*.xml"))
    assert len(files) > 250
    checked, lost = 0, []
    for path in files:
        body, url = path.read_bytes(), f"https://feeds.example/{path.name}"
        expected = sum(1 for e in run_feedparser(body, url).entries if urls_of(e))
        if not expected:
            continue
        checked += 1
        parsed = parse_feed(body, url)
        kept = len(parsed.entries) + sum(r.reason == "duplicate_in_feed" for r in parsed.rejected)
        if kept < expected:
            lost.append((str(path.relative_to(kit)), expected, kept))
    assert checked > 20
    assert lost == []
