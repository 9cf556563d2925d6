"""The one future-date rule every stage applies: nothing is dated after the moment it was seen.

Feeds check entry dates against the poll time, extraction checks page dates against the fetch time;
both call ``not_future`` so a record can never carry a date later than its fetch (the poll comes
before the fetch). A date that lies even seconds after that moment is a wrong clock or a wrong
time zone on the publisher's side: it is dropped, not clamped, because clamping would invent a time.
"""

from __future__ import annotations

from datetime import UTC, datetime


def as_aware(value: datetime) -> datetime:
    """``value`` itself when it has a time zone, else the same wall time taken as UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def not_future(value: datetime | None, now: datetime) -> datetime | None:
    """The date itself, or None when it lies after ``now`` (naive values are taken as UTC)."""
    if value is None or as_aware(value) > as_aware(now):
        return None
    return value
