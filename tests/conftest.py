"""Shared fixtures: where the benchmark kits are, and anonymous GCS credentials for the emulator."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCH = (REPO / ".." / "shared" / "bench").resolve()


def bench_kit(name: str) -> Path:
    """A folder of ../shared/bench, or skip the test when the kits are not beside the checkout."""
    path = BENCH / name
    if not path.is_dir():
        pytest.skip(f"benchmark kit {path} is absent")
    return path
