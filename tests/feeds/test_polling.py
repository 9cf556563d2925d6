from __future__ import annotations

from datetime import UTC, datetime, timedelta

from newsflow.transforms.feeds.polling import (
    MAX_INTERVAL_S,
    MIN_INTERVAL_S,
    ServerHints,
    is_due,
    next_interval_s,
    publishing_gap_s,
    schedule,
)
from newsflow.transforms.feeds.state import FeedState

NOW = datetime(2024, 7, 29, 12, 0, tzinfo=UTC)
URL = "https://news.example.org/rss.xml"


def hourly(n: int) -> list[datetime]:
    return [NOW - timedelta(hours=i) for i in range(n)]


def test_publishing_gap_uses_last_week_only():
    assert publishing_gap_s(hourly(5), NOW) == 3600.0
    old = [NOW - timedelta(days=30), NOW - timedelta(days=31)]
    assert publishing_gap_s(old, NOW) is None
    assert publishing_gap_s([NOW], NOW) is None
    assert publishing_gap_s([NOW + timedelta(hours=1), NOW, NOW - timedelta(hours=2)], NOW) == 7200.0


def test_interval_follows_publishing_rate_and_is_clamped():
    hints = ServerHints()
    assert next_interval_s(base_s=300, previous_s=None, published=hourly(5), now=NOW, hints=hints) == 1800.0
    every_minute = [NOW - timedelta(minutes=i) for i in range(10)]
    assert next_interval_s(base_s=300, previous_s=None, published=every_minute, now=NOW,
                           hints=hints) == MIN_INTERVAL_S
    assert next_interval_s(base_s=300, previous_s=80_000, published=[], now=NOW, hints=hints) == MAX_INTERVAL_S


def test_quiet_feeds_stretch_and_errors_back_off():
    hints = ServerHints()
    assert next_interval_s(base_s=300, previous_s=None, published=[], now=NOW, hints=hints) == 300.0
    assert next_interval_s(base_s=300, previous_s=1000, published=[], now=NOW, hints=hints) == 1500.0
    assert next_interval_s(base_s=300, previous_s=600, published=hourly(5), now=NOW, hints=hints,
                           consecutive_errors=3) == 4800.0


def test_never_below_what_the_server_asked_for():
    for hints, floor in ((ServerHints(ttl_s=3600), 3600), (ServerHints(update_period_s=7200), 7200),
                         (ServerHints(cache_max_age_s=900, retry_after_s=1200), 1200)):
        busy = [NOW - timedelta(minutes=10 * i) for i in range(20)]
        assert next_interval_s(base_s=300, previous_s=None, published=busy, now=NOW, hints=hints) == floor
    assert next_interval_s(base_s=300, previous_s=None, published=[], now=NOW,
                           hints=ServerHints(ttl_s=200_000)) == MAX_INTERVAL_S



def test_is_due():
    assert is_due(None, NOW)
    assert is_due(FeedState(URL), NOW)
    assert is_due(FeedState(URL, next_poll_at=NOW), NOW)
    assert not is_due(FeedState(URL, next_poll_at=NOW + timedelta(seconds=1)), NOW)


def test_schedule_counts_from_the_poll_or_the_given_moment():
    first = schedule(FeedState(URL, polled_at=NOW, ttl_s=3600), None, [], base_s=300)
    assert (first.interval_s, first.next_poll_at) == (3600.0, NOW + timedelta(hours=1))
    tick = NOW + timedelta(minutes=10)
    quiet = schedule(FeedState(URL, polled_at=NOW), first, [], base_s=300, now=tick)
    assert (quiet.interval_s, quiet.next_poll_at) == (5400.0, tick + timedelta(seconds=5400))


def test_schedule_backs_off_but_honours_retry_after():
    failing = FeedState(URL, polled_at=NOW, consecutive_errors=2, retry_after_s=7200)
    assert schedule(failing, FeedState(URL, interval_s=600), [], base_s=300).interval_s == 7200.0
    failing = FeedState(URL, polled_at=NOW, consecutive_errors=2)
    assert schedule(failing, FeedState(URL, interval_s=600), [], base_s=300).interval_s == 2400.0
