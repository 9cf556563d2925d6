"""When to poll a feed next: adapt to how often it publishes, never faster than it asks.

The interval follows the feed's own publishing rate (the mean gap between its entries of the last
week), is clamped to 5 minutes .. 24 hours, and never goes below the largest of what the server asked
for: RSS ``ttl``, ``sy:updatePeriod``/``sy:updateFrequency``, ``Cache-Control: max-age`` and
``Retry-After``. Consecutive errors back off exponentially within the same bounds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

MIN_INTERVAL_S = 300.0
MAX_INTERVAL_S = 86_400.0
RATE_WINDOW = timedelta(days=7)


@dataclass(frozen=True)
class ServerHints:
    """What the feed and its server said about polling, in seconds (None when not said)."""

    ttl_s: float | None = None
    update_period_s: float | None = None
    cache_max_age_s: float | None = None
    retry_after_s: float | None = None

    def floor_s(self, min_s: float = MIN_INTERVAL_S) -> float:
        asked = [v for v in (self.ttl_s, self.update_period_s, self.cache_max_age_s, self.retry_after_s) if v]
        return max([min_s, *asked])


def publishing_gap_s(published: Iterable[datetime], now: datetime) -> float | None:
    """Mean seconds between the entries published within the last week, or None with fewer than two."""
    recent = sorted(t for t in published if t is not None and now - RATE_WINDOW <= t <= now)
    if len(recent) < 2:
        return None
    return (recent[-1] - recent[0]).total_seconds() / (len(recent) - 1)


def next_interval_s(*, base_s: float, previous_s: float | None, published: Iterable[datetime],
                    now: datetime, hints: ServerHints, consecutive_errors: int = 0,
                    min_s: float = MIN_INTERVAL_S) -> float:
    """The next polling interval of one feed.

    With a publishing rate, poll about twice per mean gap (a new entry waits half a gap on average);
    without one, keep the previous interval (or the base) and stretch it by half each quiet poll.
    ``min_s`` lowers the 5-minute floor only for feeds you run yourself (benchmarks, tests).
    """
    floor = hints.floor_s(min_s)
    gap = publishing_gap_s(published, now)
    if consecutive_errors > 0:
        interval = (previous_s or base_s) * (2 ** min(consecutive_errors, 10))
    elif gap is not None:
        interval = gap / 2
    elif previous_s is not None:
        interval = previous_s * 1.5
    else:
        interval = base_s
    return min(MAX_INTERVAL_S, max(floor, interval))



def is_due(state: Any, now: datetime) -> bool:
    """A feed never polled, or whose ``next_poll_at`` has come."""
    next_poll = getattr(state, "next_poll_at", None)
    return next_poll is None or next_poll <= now


def schedule(state: Any, previous: Any, published: list[datetime], *, base_s: float,
             min_s: float = MIN_INTERVAL_S, now: datetime | None = None) -> Any:
    """A ``FeedState`` with ``interval_s`` and ``next_poll_at`` set from this poll and the last one.

    ``now`` is the moment the schedule counts from: the poll's ``polled_at`` by default; the native
    streaming graph passes the tick's event time, so that due checks and schedules use one clock.
    """
    now = now or state.polled_at or datetime.now(UTC)
    interval = next_interval_s(
        base_s=base_s, previous_s=getattr(previous, "interval_s", None), published=published, now=now,
        consecutive_errors=state.consecutive_errors or 0, min_s=min_s,
        hints=ServerHints(state.ttl_s, state.update_period_s, state.cache_max_age_s, state.retry_after_s))
    return replace(state, interval_s=interval, next_poll_at=now + timedelta(seconds=interval))
