"""FetchPages: fetch the article page of every feed entry.

Entry → Page on the main output ``pages``; an entry that gives no page becomes a ``Rejection`` on
``rejected`` (skip with the client's reason, e.g. robots_disallowed, or error, e.g. http_404).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
from apache_beam.coders import BooleanCoder
from apache_beam.metrics import Metrics
from apache_beam.pvalue import TaggedOutput
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec
from apache_beam.transforms.window import BoundedWindow
from apache_beam.typehints import KV
from apache_beam.utils.timestamp import Timestamp
from apache_beam.utils.windowed_value import WindowedValue

from newsflow.transforms.fetch.client import FetchPolicy, FetchResult, HttpClient
from newsflow.transforms.items import FETCH_STAGE, REJECTED, Entry, Page, Rejection
from newsflow.transforms.urls import host_key

PAGES = "pages"


def page_or_rejection(entry: Entry, result: FetchResult) -> Page | Rejection:
    """What a fetch result of an entry's page becomes: a Page, or a Rejection saying why not."""
    if result.outcome == "ok" and result.text is not None:
        return Page(entry=entry, final_url=result.final_url, html=result.text, fetched_at=result.fetched_at,
                    status=result.status or 200, content_type=result.content_type or "text/html",
                    redirect_chain=list(result.redirect_chain))
    if result.outcome == "error":
        return Rejection("error", FETCH_STAGE, result.reason or "error", entry.url, entry.feed_url,
                         result.error_class, result.message, result.attempts, result.fetched_at)
    reason = result.reason or ("not_modified" if result.outcome == "not_modified" else "no_text")
    return Rejection("skip", FETCH_STAGE, reason, entry.url, entry.feed_url, None, result.message,
                     result.attempts, result.fetched_at)


@dataclass
class _InFlight:
    future: Future[Page | Rejection]
    entry: Entry
    timestamp: Timestamp
    window: BoundedWindow


HOST_OWNER = ReadModifyWriteStateSpec("host", BooleanCoder())
"""Never written: declaring state makes the DoFn stateful, so the runner processes each host key in
one place at a time (batch: all of a key's elements in one bundle; streaming: one work item per key
at a time), which is what makes the per-process gate a per-host limit across workers."""


class _FetchPagesFn(beam.DoFn):
    """Fetches up to ``max_in_flight`` pages at once on a thread pool sharing one HttpClient.

    Input is keyed by host. Results leave as soon as they are done (from a later ``process`` call, or
    ``finish_bundle``, which waits for every fetch the bundle started) as WindowedValues carrying their
    own entry's timestamp and window, so neither is changed.
    """

    def __init__(self, policy: FetchPolicy, max_in_flight: int) -> None:
        self._policy = policy
        self._max_in_flight = max_in_flight
        self._client: HttpClient | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._in_flight: list[_InFlight] = []
        self._counters: dict[str, Any] = {}

    def setup(self) -> None:
        self._client = HttpClient(self._policy)
        self._pool = ThreadPoolExecutor(self._max_in_flight, thread_name_prefix="newsflow-fetch")

    def teardown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._client is not None:
            self._client.close()
            self._client = None

    def start_bundle(self) -> None:
        self._in_flight = []

    def _fetch(self, entry: Entry) -> Page | Rejection:
        assert self._client is not None
        try:
            return page_or_rejection(entry, self._client.fetch(entry.url, kind="page"))
        except Exception as exc:  # one bad URL must not fail the bundle
            return Rejection.error(FETCH_STAGE, entry.url, exc, entry.feed_url, reason="internal_error")

    def _count(self, name: str) -> None:
        counter = self._counters.get(name)
        if counter is None:
            counter = self._counters[name] = Metrics.counter("newsflow", name)
        counter.inc()

    def _emit(self, done: Iterable[_InFlight]) -> Iterator[WindowedValue | TaggedOutput]:
        for item in done:
            try:
                output = item.future.result()
            except Exception as exc:  # e.g. cancelled at teardown
                output = Rejection.error(FETCH_STAGE, item.entry.url, exc, item.entry.feed_url, reason="internal_error")
            windowed = WindowedValue(output, item.timestamp, (item.window,))
            if isinstance(output, Page):
                self._count(f"{FETCH_STAGE}.pages_ok")
                yield windowed
            else:
                self._count(f"{FETCH_STAGE}.{'skipped' if output.kind == 'skip' else 'failed'}.{output.reason}")
                yield TaggedOutput(REJECTED, windowed)

    def _take_done(self, block: bool) -> list[_InFlight]:
        if block and self._in_flight:
            wait([item.future for item in self._in_flight], return_when=FIRST_COMPLETED)
        # one done() check per item: a fetch finishing between two checks would be in neither list
        done: list[_InFlight] = []
        pending: list[_InFlight] = []
        for item in self._in_flight:
            (done if item.future.done() else pending).append(item)
        self._in_flight = pending
        return done

    def process(self, element: tuple[str, Entry], timestamp: Any = beam.DoFn.TimestampParam,
                window: Any = beam.DoFn.WindowParam,
                _owner: Any = beam.DoFn.StateParam(HOST_OWNER)) -> Iterator[WindowedValue | TaggedOutput]:
        assert self._pool is not None
        _host, entry = element
        self._in_flight.append(_InFlight(self._pool.submit(self._fetch, entry), entry, timestamp, window))
        yield from self._emit(self._take_done(block=len(self._in_flight) >= self._max_in_flight))

    def finish_bundle(self) -> Iterator[WindowedValue | TaggedOutput]:
        while self._in_flight:
            yield from self._emit(self._take_done(block=True))


class FetchPages(beam.PTransform):
    """Fetch each ``Entry``'s page: ``pages`` (Page) and ``rejected`` (Rejection) outputs.

    One pooled ``HttpClient`` per DoFn instance, up to ``max_in_flight`` fetches at once per
    instance, per-host politeness and robots.txt as the policy says. Entries are keyed by host
    (``urls.host_key``) into a stateful DoFn, so all of one host's pages are fetched by one worker
    process at a time, through that process's per-host gate (shared with the feed stage): the
    policy's ``host_concurrency`` and ``host_delay_s`` hold per host across workers, not per process.
    (Between two bundles of one host, e.g. two streaming ticks, the gap is not carried over; the
    feed stage's few requests per poll come from the process reading the feed.) Every input element yields
    exactly one output, on one of the two tags, with the input's timestamp and window; a failing
    URL never fails the bundle. Counters (namespace ``newsflow``): ``fetch.pages_ok``,
    ``fetch.skipped.<reason>``, ``fetch.failed.<reason>``.
    """

    def __init__(self, policy: FetchPolicy, max_in_flight: int = 16) -> None:
        super().__init__()
        if not isinstance(policy, FetchPolicy):
            raise TypeError(f"policy must be a FetchPolicy, got {type(policy).__name__}")
        if not isinstance(max_in_flight, int) or max_in_flight < 1:
            raise ValueError(f"max_in_flight must be a positive int, got {max_in_flight!r}")
        self._policy = policy
        self._max_in_flight = max_in_flight

    def expand(self, entries: beam.PCollection) -> beam.pvalue.DoOutputsTuple:
        return (entries
                | "ByHost" >> beam.Map(lambda entry: (host_key(entry.url), entry)).with_output_types(KV[str, Any])
                | "Fetch" >> beam.ParDo(_FetchPagesFn(self._policy, self._max_in_flight))
                .with_input_types(KV[str, Any]).with_outputs(REJECTED, main=PAGES))
