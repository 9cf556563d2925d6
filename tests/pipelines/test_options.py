"""Flag validation: every bad flag is reported before a pipeline is built."""

from __future__ import annotations

import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from newsflow.pipelines.once import UsageError, plan
from newsflow.pipelines.options import NewsflowOptions

BASE = ["--config", "feeds.yaml", "--output", "out"]


def problems(*flags: str) -> list[str]:
    return PipelineOptions([*BASE, *flags]).view_as(NewsflowOptions).validate_newsflow()


def test_the_defaults_are_valid():
    assert problems() == []


@pytest.mark.parametrize(("flags", "message"), [
    (("--poll_interval_s", "0"), "--poll_interval_s must be a positive number of seconds, got 0.0"),
    (("--poll_interval_s", "-5"), "--poll_interval_s must be a positive number of seconds, got -5.0"),
    (("--poll_interval_s", "nan"), "--poll_interval_s must be a positive number of seconds, got nan"),
    (("--poll_interval_s", "90000"), "--poll_interval_s must be at most 86400 s (24 h), got 90000.0"),
    (("--min_poll_interval_s", "0", "--poll_interval_s", "60"),
     "--min_poll_interval_s must be a positive number of seconds, got 0.0"),
    (("--poll_interval_s", "60"),
     "--poll_interval_s 60 is below the floor --min_poll_interval_s 300: lower --min_poll_interval_s too "
     "(only for feeds you run)"),
    (("--duration_s", "0"), "--duration_s must be a positive number of seconds, got 0.0"),
    (("--max_cycles", "0"), "--max_cycles must be at least 1, got 0"),
])
def test_polling_flags_are_validated(flags: tuple[str, ...], message: str):
    assert problems(*flags) == [message]


def test_a_lowered_floor_with_a_short_interval_is_valid():
    assert problems("--poll_interval_s", "60", "--min_poll_interval_s", "30") == []


def test_plan_refuses_bad_polling_flags_before_reading_the_config():
    with pytest.raises(UsageError, match=r"--poll_interval_s must be a positive number of seconds, got 0\.0"):
        plan([*BASE, "--poll_interval_s", "0"])
