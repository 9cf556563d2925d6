from __future__ import annotations

from datetime import UTC, datetime, timedelta

from newsflow.transforms.polling import (
    MAX_INTERVAL_S,
    MIN_INTERVAL_S,
    ServerHints,
    next_interval_s,
    publishing_gap_s,
)

NOW = datetime(2024, 7, 29, 12, 0, tzinfo=UTC)


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

