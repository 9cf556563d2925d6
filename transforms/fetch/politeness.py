"""Per-host politeness: at most N requests in flight to one host, and a minimum gap between starts.

A worker process shares one ``HostGate`` per politeness setting (``shared_gate``), so every stage
fetching in that process (feeds, pages) counts against the same per-host budget.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager

MAX_CRAWL_DELAY_S = 60.0
"""A robots.txt Crawl-delay above this is capped, so one host cannot stall a worker for hours."""


class HostGate:
    """Thread-safe gate that spaces request starts per host and bounds per-host concurrency.

    ``slot(host)`` blocks until one of the host's ``concurrency`` slots is free, then reserves the
    next start time (``delay`` after the previous start) and sleeps until it. Reserving under the
    lock and sleeping outside it keeps the order fair and never spins, even with a fake sleep.
    """

    def __init__(self, concurrency: int, delay_s: float, *,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        if delay_s < 0:
            raise ValueError(f"delay_s must be >= 0, got {delay_s}")
        self._concurrency = concurrency
        self._delay_s = delay_s
        self._sleep = sleep
        self._clock = clock
        self._lock = threading.Lock()
        self._slots: dict[str, threading.BoundedSemaphore] = {}
        self._next_start: dict[str, float] = {}
        self._last_start: dict[str, float] = {}
        self._host_delay: dict[str, float] = {}

    def delay_for(self, host: str) -> float:
        with self._lock:
            return self._host_delay.get(host, self._delay_s)

    def raise_delay(self, host: str, delay_s: float) -> None:
        """Raise the host's gap (e.g. to its Crawl-delay, capped); never lowers it. The next start
        moves too, so the request that revealed the delay (robots.txt) already counts."""
        delay_s = min(max(delay_s, 0.0), MAX_CRAWL_DELAY_S)
        with self._lock:
            if delay_s <= self._host_delay.get(host, self._delay_s):
                return
            self._host_delay[host] = delay_s
            last = self._last_start.get(host)
            if last is not None:
                self._next_start[host] = max(self._next_start.get(host, last), last + delay_s)

    def _semaphore(self, host: str) -> threading.BoundedSemaphore:
        with self._lock:
            semaphore = self._slots.get(host)
            if semaphore is None:
                semaphore = self._slots[host] = threading.BoundedSemaphore(self._concurrency)
            return semaphore

    def _reserve_start(self, host: str) -> float:
        with self._lock:
            now = self._clock()
            start = max(now, self._next_start.get(host, now))
            self._last_start[host] = start
            self._next_start[host] = start + self._host_delay.get(host, self._delay_s)
            return start - now

    @contextmanager
    def slot(self, host: str) -> Iterator[None]:
        semaphore = self._semaphore(host)
        semaphore.acquire()
        try:
            wait = self._reserve_start(host)
            if wait > 0:
                self._sleep(wait)
            yield
        finally:
            semaphore.release()


_SHARED_GATES: dict[tuple[int, float, Hashable, Hashable], HostGate] = {}
_SHARED_GATES_LOCK = threading.Lock()


def callable_key(fn: Callable[..., object]) -> Hashable:
    """``fn`` itself when hashable (two bound methods of one object are equal), else its identity
    (the registered object keeps ``fn`` alive, so the id stays unique)."""
    try:
        hash(fn)
    except TypeError:
        return id(fn)
    return fn


def shared_gate(concurrency: int, delay_s: float, *, sleep: Callable[[float], None] = time.sleep,
                clock: Callable[[], float] = time.monotonic) -> HostGate:
    """The process's ``HostGate`` for these settings, created on first use (thread-safe).

    Every HttpClient of a worker process asking for the same settings gets the same gate, so the
    feed stage and the page stage (each with its own client) never crowd one host together, and a
    Crawl-delay learnt by one applies to both. ``sleep`` and ``clock`` are part of the key: a gate
    never mixes a fake clock with the real one."""
    key = (concurrency, delay_s, callable_key(sleep), callable_key(clock))
    with _SHARED_GATES_LOCK:
        gate = _SHARED_GATES.get(key)
        if gate is None:
            gate = _SHARED_GATES[key] = HostGate(concurrency, delay_s, sleep=sleep, clock=clock)
        return gate


def forget_shared_gates() -> None:
    """Drop the process's shared gates (their spacing and learnt Crawl-delays): a test's isolation."""
    with _SHARED_GATES_LOCK:
        _SHARED_GATES.clear()
