"""Per-element failure capture: one element that makes a stage raise becomes a dead letter.

Beam retries a bundle whose DoFn raises: a batch job fails after a few attempts, and a streaming job
retries the same bundle forever. Every stage therefore runs its per-element work inside
``rejecting``: the element's outputs, or one ``Rejection`` (kind "error", the stage, reason
``unexpected_error``, error class and message) on the stage's ``rejected`` output.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.pvalue import TaggedOutput

from newsflow.transforms.items import REJECTED, Rejection

UNEXPECTED_ERROR = "unexpected_error"


def subject_of(element: Any) -> tuple[str, str | None]:
    """The URL and feed URL a dead letter names for ``element``: its own, or those of the entry,
    page or article it carries (first of a tuple); else a short repr."""
    candidates = [element]
    if isinstance(element, tuple) and element:
        candidates.append(element[0])
    for candidate in candidates:
        for holder in (candidate, getattr(candidate, "article", None), getattr(candidate, "entry", None)):
            url = getattr(holder, "url", None)
            if isinstance(url, str):
                feed_url = getattr(holder, "feed_url", None)
                return url, feed_url if isinstance(feed_url, str) else None
    return repr(element)[:200], None


def failure(stage: str, element: Any, exc: BaseException) -> Rejection:
    """The dead letter of ``element``, which made ``stage`` raise ``exc``."""
    url, feed_url = subject_of(element)
    return Rejection.error(stage, url, exc, feed_url, reason=UNEXPECTED_ERROR)


def rejecting(stage: str, element: Any, outputs: Callable[[], Iterable[Any]]) -> Iterator[Any]:
    """The outputs of one element, all or none: if producing them raises, only its rejection.

    Outputs are collected before any is yielded, so an element never leaves half its outputs.
    """
    try:
        produced = list(outputs())
    except Exception as exc:  # one element must not fail the bundle
        Metrics.counter("newsflow", f"{stage}.failed.{UNEXPECTED_ERROR}").inc()
        yield TaggedOutput(REJECTED, failure(stage, element, exc))
        return
    yield from produced


class _FlatMapOrRejectFn(beam.DoFn):
    def __init__(self, stage: str, fn: Callable[..., Iterable[Any]], kwargs: dict[str, Any]) -> None:
        self._stage = stage
        self._fn = fn
        self._kwargs = kwargs

    def process(self, element: Any) -> Iterator[Any]:
        yield from rejecting(self._stage, element, lambda: self._fn(element, **self._kwargs))


class FlatMapOrReject(beam.PTransform):
    """``beam.FlatMap(fn)`` whose failures are dead letters: outputs main (``fn``'s outputs, which may
    be ``TaggedOutput``s of other tags listed in ``tags``) and ``rejected``. Element-wise: each output
    keeps its input's timestamp and window."""

    def __init__(self, stage: str, fn: Callable[..., Iterable[Any]], *, tags: tuple[str, ...] = (),
                 main: str = "main", **kwargs: Any) -> None:
        super().__init__()
        if not stage:
            raise ValueError("a stage name is required")
        if not callable(fn):
            raise TypeError(f"fn must be callable, got {type(fn).__name__}")
        self._stage = stage
        self._fn = fn
        self._tags = tags
        self._main = main
        self._kwargs = kwargs

    def expand(self, pcoll: beam.PCollection) -> beam.pvalue.DoOutputsTuple:
        return pcoll | beam.ParDo(_FlatMapOrRejectFn(self._stage, self._fn, self._kwargs)).with_outputs(
            REJECTED, *self._tags, main=self._main)


class StageOutputs(dict[str, Any]):
    """A stage's named output PCollections, read as ``outputs[tag]`` or ``outputs.tag`` (as on a
    ``DoOutputsTuple``), for a composite whose outputs come from more than one ParDo."""

    def __getattr__(self, tag: str) -> Any:
        try:
            return self[tag]
        except KeyError:
            raise AttributeError(tag) from None
