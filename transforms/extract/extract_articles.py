"""The extract stage: fetched pages in, clean articles out (Page → Article).

Each page is extracted independently (``extract.extract_page``), so the transform is a plain
element-wise ParDo with no state, windowing or ordering requirements; it keeps the input's
windows and timestamps. A page without a usable body is skipped with reason
``empty_extraction``; a page whose extraction raises becomes an error ``Rejection`` with
``stage="extract"``. Both go to the ``REJECTED`` output, so no page is lost.
"""

from __future__ import annotations

import hashlib
import multiprocessing
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.transforms.window import BoundedWindow
from apache_beam.utils.timestamp import Timestamp
from apache_beam.utils.windowed_value import WindowedValue

from newsflow.transforms.extract.domain_rules import DEFAULT_RULES, DomainRule
from newsflow.transforms.extract.page import Extracted, extract_page
from newsflow.transforms.items import EXTRACT_STAGE, REJECTED, Article, Page, Rejection
from newsflow.transforms.urls import article_id, normalize_url, site_of

MIN_BODY_CHARS = 200
"""A complete (non-partial) body shorter than this is navigation or an error page, not an
article: it is skipped as ``empty_extraction``. Partial bodies (teasers) are kept at any length."""


@dataclass(frozen=True)
class ExtractRequest:
    """What a worker process needs to extract one page (picklable, no Beam types)."""

    html: str
    url: str
    feed_published: datetime | None
    feed_title: str | None
    feed_summary: str | None
    now: datetime


def request_for(page: Page) -> ExtractRequest:
    """The extraction input of a page; ``now`` is the fetch time, so dates after it are dropped."""
    entry = page.entry
    return ExtractRequest(page.html, page.final_url or entry.url, entry.published_at, entry.title,
                          entry.summary, page.fetched_at)


def run_request(request: ExtractRequest, rules: Mapping[str, DomainRule]) -> Extracted | None:
    return extract_page(request.html, request.url, feed_published=request.feed_published,
                        feed_title=request.feed_title, feed_summary=request.feed_summary,
                        now=request.now, rules=rules)


def known_date_note(extracted: Extracted | None) -> str:
    """The dates a skipped page had, for its dead letter's message (the dead-letter record has no
    date fields): "; published_at=… published_date=… source=… modified_at=…", or "" without any."""
    dates = extracted.dates if extracted is not None else None
    if dates is None or dates.published_at is None:
        return ""
    note = (f"; published_at={dates.published_at.isoformat()} published_date={dates.published_date}"
            f" source={dates.source}")
    return note + (f" modified_at={dates.modified_at.isoformat()}" if dates.modified_at else "")


def build_article(page: Page, extracted: Extracted | None) -> Article | Rejection:
    """The Article of a page and its extraction, or the ``empty_extraction`` skip."""
    entry = page.entry
    final_url = page.final_url or entry.url
    if extracted is None or not extracted.body.strip() or (
            len(extracted.body) < MIN_BODY_CHARS and not extracted.partial):
        length = len(extracted.body) if extracted is not None else 0
        return Rejection.skip(EXTRACT_STAGE, "empty_extraction", entry.url, entry.feed_url,
                              message=f"body of {length} chars (minimum {MIN_BODY_CHARS})"
                              + known_date_note(extracted))
    canonical = normalize_url(extracted.canonical_url or final_url)
    dates = extracted.dates
    return Article(
        id=article_id(canonical),
        url=entry.url,
        canonical_url=canonical,
        feed_url=entry.feed_url,
        site=site_of(canonical),
        body=extracted.body,
        body_sha256=hashlib.sha256(extracted.body.encode()).hexdigest(),
        fetched_at=page.fetched_at,
        feed_name=entry.feed_name,
        guid=entry.guid,
        title=extracted.title or entry.title,
        authors=list(extracted.authors),
        published_at=extracted.published_at,
        published_date=dates.published_date if dates else None,
        published_offset_min=dates.offset_min if dates else None,
        published_source=dates.source if dates else None,
        modified_at=dates.modified_at if dates else None,
        language=extracted.language or entry.language,
        summary=entry.summary,
        partial=extracted.partial,
        redirect_chain=list(page.redirect_chain),
        feed_tags=list(entry.tags),
        region_hint=entry.region_hint,
    )


class _ExtractFn(beam.DoFn):
    """Extracts each page in this process."""

    def __init__(self, rules: Mapping[str, DomainRule]) -> None:
        self._rules = dict(rules)
        self._articles = beam.metrics.Metrics.counter("newsflow", "extract.articles")
        self._skipped = beam.metrics.Metrics.counter("newsflow", "extract.skipped.empty_extraction")
        self._failed = beam.metrics.Metrics.counter("newsflow", "extract.failed")

    def process(self, page: Page) -> Iterator[Any]:
        yield from self._outputs(page, lambda: run_request(request_for(page), self._rules))

    def _outputs(self, page: Page, extract: Callable[[], Extracted | None]) -> Iterator[Any]:
        try:
            result = build_article(page, extract())
        except Exception as exc:  # one bad page must not fail the bundle
            self._failed.inc()
            yield pvalue.TaggedOutput(REJECTED, Rejection.error(EXTRACT_STAGE, page.entry.url, exc,
                                                                page.entry.feed_url))
            return
        if isinstance(result, Rejection):
            self._skipped.inc()
            yield pvalue.TaggedOutput(REJECTED, result)
        else:
            self._articles.inc()
            yield result


@dataclass
class _InFlight:
    page: Page
    timestamp: Timestamp
    window: BoundedWindow
    pool: ProcessPoolExecutor
    future: Future[Extracted | None]


class _PooledExtractFn(_ExtractFn):
    """Extracts pages in a pool of ``workers`` processes, created in ``setup`` and shut down in
    ``teardown``. Up to ``max_in_flight`` pages are submitted ahead, so the workers keep extracting
    while this process handles the stages fused after this one; outputs leave in input order
    (from a later ``process`` call or ``finish_bundle``) with their page's timestamp and window.

    Workers run ``extract.extract_page`` itself, so they import the extractor but not Beam.
    """

    def __init__(self, rules: Mapping[str, DomainRule], workers: int, max_in_flight: int) -> None:
        super().__init__(rules)
        self._workers = workers
        self._max_in_flight = max_in_flight
        self._pool: ProcessPoolExecutor | None = None
        self._in_flight: deque[_InFlight] = deque()

    def setup(self) -> None:
        self._pool = ProcessPoolExecutor(self._workers, mp_context=multiprocessing.get_context("forkserver"))

    def teardown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def start_bundle(self) -> None:
        self._in_flight = deque()

    def process(self, page: Page, timestamp: Any = beam.DoFn.TimestampParam,
                window: Any = beam.DoFn.WindowParam) -> Iterator[Any]:
        assert self._pool is not None
        request = request_for(page)
        future = self._pool.submit(extract_page, request.html, request.url,
                                   feed_published=request.feed_published, feed_title=request.feed_title,
                                   feed_summary=request.feed_summary, now=request.now, rules=self._rules)
        self._in_flight.append(_InFlight(page, timestamp, window, self._pool, future))
        yield from self._emit(block=len(self._in_flight) >= self._max_in_flight)

    def finish_bundle(self) -> Iterator[Any]:
        yield from self._emit(block=True, drain=True)

    def _emit(self, block: bool, drain: bool = False) -> Iterator[Any]:
        """Outputs of the oldest pages that are done; waits for the oldest one when ``block``."""
        while self._in_flight and (block or self._in_flight[0].future.done()):
            item = self._in_flight.popleft()
            block = drain
            for output in self._outputs(item.page, item.future.result):
                if isinstance(output, pvalue.TaggedOutput):
                    yield pvalue.TaggedOutput(output.tag, WindowedValue(output.value, item.timestamp,
                                                                        (item.window,)))
                else:
                    yield WindowedValue(output, item.timestamp, (item.window,))
            if item.pool is self._pool and isinstance(item.future.exception(), BrokenProcessPool):
                # a worker died (e.g. out of memory): the pool's pending pages are error Rejections
                self.teardown()
                self.setup()


class ExtractArticles(beam.PTransform):
    """PCollection[Page] → {"articles": PCollection[Article], REJECTED: PCollection[Rejection]}.

    Element-wise: output windows and timestamps are the input's. Each page's ``fetched_at`` is the
    "now" of date checks (a publication date after the fetch is dropped). A body shorter than
    ``MIN_BODY_CHARS`` that is not flagged partial is skipped as ``empty_extraction``, like a
    page without any body. ``rules`` are the per-site rules
    (default: a snapshot of ``domain_rules.DEFAULT_RULES`` taken at construction, so they travel
    with the pipeline to remote workers). ``workers > 0`` extracts in a process pool of that
    size, up to ``max_in_flight`` pages ahead (default: four per worker), for the local runners,
    whose single SDK process would otherwise use one core; leave it at 0 on Dataflow, where every
    core already runs its own SDK process.
    """

    def __init__(self, workers: int = 0, rules: Mapping[str, DomainRule] | None = None,
                 max_in_flight: int | None = None) -> None:
        super().__init__()
        if workers < 0:
            raise ValueError(f"workers must be >= 0, got {workers}")
        if max_in_flight is not None and max_in_flight < 1:
            raise ValueError(f"max_in_flight must be >= 1, got {max_in_flight}")
        self._workers = workers
        self._rules = dict(DEFAULT_RULES if rules is None else rules)
        self._max_in_flight = max_in_flight or 4 * workers

    def expand(self, pages: beam.PCollection[Page]) -> pvalue.DoOutputsTuple:
        if self._workers == 0:
            fn: _ExtractFn = _ExtractFn(self._rules)
        else:
            fn = _PooledExtractFn(self._rules, self._workers, self._max_in_flight)
        return pages | "Extract" >> beam.ParDo(fn).with_outputs(REJECTED, main="articles")
