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
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.transforms.window import TimestampedValue
from apache_beam.utils.timestamp import Timestamp

from newsflow.transforms.domain_rules import DEFAULT_RULES, DomainRule
from newsflow.transforms.extract import Extracted, extract_page
from newsflow.transforms.items import REJECTED, Article, Page, Rejection
from newsflow.transforms.urls import article_id, normalize_url, site_of

STAGE = "extract"
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


def build_article(page: Page, extracted: Extracted | None) -> Article | Rejection:
    """The Article of a page and its extraction, or the ``empty_extraction`` skip."""
    entry = page.entry
    final_url = page.final_url or entry.url
    if extracted is None or not extracted.body.strip() or (
            len(extracted.body) < MIN_BODY_CHARS and not extracted.partial):
        length = len(extracted.body) if extracted is not None else 0
        return Rejection.skip(STAGE, "empty_extraction", entry.url, entry.feed_url,
                              message=f"body of {length} chars (minimum {MIN_BODY_CHARS})")
    canonical = normalize_url(extracted.canonical_url or final_url)
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
        language=extracted.language,
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
            yield pvalue.TaggedOutput(REJECTED, Rejection.error(STAGE, page.entry.url, exc,
                                                                page.entry.feed_url))
            return
        if isinstance(result, Rejection):
            self._skipped.inc()
            yield pvalue.TaggedOutput(REJECTED, result)
        else:
            self._articles.inc()
            yield result


class _PooledExtractFn(_ExtractFn):
    """Extracts batches of (page, timestamp) in a pool of ``workers`` processes, created in
    ``setup`` and shut down in ``teardown``; outputs get their page's timestamp back (batching
    moved it to the end of the window)."""

    def __init__(self, rules: Mapping[str, DomainRule], workers: int) -> None:
        super().__init__(rules)
        self._workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def setup(self) -> None:
        self._pool = ProcessPoolExecutor(self._workers, mp_context=multiprocessing.get_context("forkserver"))

    def teardown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def process(self, batch: Sequence[tuple[Page, Timestamp]]) -> Iterator[Any]:
        assert self._pool is not None
        futures: list[Future[Extracted | None]] = [
            self._pool.submit(run_request, request_for(page), self._rules) for page, _ in batch
        ]
        for (page, timestamp), future in zip(batch, futures, strict=True):
            for output in self._outputs(page, future.result):
                if isinstance(output, pvalue.TaggedOutput):
                    yield pvalue.TaggedOutput(output.tag, TimestampedValue(output.value, timestamp))
                else:
                    yield TimestampedValue(output, timestamp)
        if any(isinstance(f.exception(), BrokenProcessPool) for f in futures):
            # a worker died (e.g. out of memory): its pages are error Rejections; start afresh
            self.teardown()
            self.setup()


def _with_timestamp(page: Page, timestamp: Any = beam.DoFn.TimestampParam) -> tuple[Page, Timestamp]:
    return page, timestamp


class ExtractArticles(beam.PTransform):
    """PCollection[Page] → {"articles": PCollection[Article], REJECTED: PCollection[Rejection]}.

    Element-wise: output windows and timestamps are the input's. Each page's ``fetched_at`` is the
    "now" of date checks (a publication date after the fetch is dropped). A body shorter than
    ``MIN_BODY_CHARS`` that is not flagged partial is skipped as ``empty_extraction``, like a
    page without any body. ``rules`` are the per-site rules
    (default: a snapshot of ``domain_rules.DEFAULT_RULES`` taken at construction, so they travel
    with the pipeline to remote workers). ``workers > 0`` batches pages (``BatchElements``) and
    extracts each batch in a process pool of that size, for the local runners, whose single SDK
    process would otherwise use one core; leave it at 0 on Dataflow, where every core already
    runs its own SDK process.
    """

    def __init__(self, workers: int = 0, rules: Mapping[str, DomainRule] | None = None,
                 max_batch_size: int = 16) -> None:
        super().__init__()
        if workers < 0:
            raise ValueError(f"workers must be >= 0, got {workers}")
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
        self._workers = workers
        self._rules = dict(DEFAULT_RULES if rules is None else rules)
        self._max_batch_size = max_batch_size

    def expand(self, pages: beam.PCollection[Page]) -> pvalue.DoOutputsTuple:
        if self._workers == 0:
            return pages | "Extract" >> beam.ParDo(_ExtractFn(self._rules)).with_outputs(
                REJECTED, main="articles")
        batches = (pages
                   | "Timestamp" >> beam.Map(_with_timestamp)
                   | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=self._max_batch_size))
        return batches | "Extract" >> beam.ParDo(_PooledExtractFn(self._rules, self._workers)).with_outputs(
            REJECTED, main="articles")
