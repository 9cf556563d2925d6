"""When to try again: Retry-After parsing and full-jitter exponential backoff."""

from __future__ import annotations

import email.utils
import random
from datetime import UTC, datetime


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta seconds or an HTTP date; None if unusable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def backoff_delay(attempt: int, retry_after: float | None, base_s: float, max_s: float,
                  rng: random.Random | None = None) -> float:
    """The wait before attempt ``attempt + 1``: Retry-After if given, else full jitter; capped."""
    if retry_after is not None:
        return min(retry_after, max_s)
    return (rng or random).uniform(0.0, min(max_s, base_s * 2 ** (attempt - 1)))


