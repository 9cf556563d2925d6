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


@pytest.fixture(autouse=True)
def fresh_shared_politeness():
    """No per-host gate or robots cache (both per process) leaks between tests: test servers share the
    host name 127.0.0.1 and may reuse ports."""
    from newsflow.transforms.fetch.politeness import forget_shared_gates
    from newsflow.transforms.fetch.robots import forget_shared_caches

    forget_shared_gates()
    forget_shared_caches()
    yield
    forget_shared_gates()
    forget_shared_caches()
