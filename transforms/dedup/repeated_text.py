"""Repeated text inside one page: the body printed twice, or a block of paragraphs repeated.

A page's paragraphs are its lines (``"\\n"``-separated). A line is a candidate repeat when it is
long (``MIN_LINE_CHARS`` characters once normalised) and the same text came earlier on the page.
Candidates are dropped only as *blocks*: a run of consecutive long lines that repeats an earlier
run in the same order, at least ``MIN_BLOCK_LINES`` lines or ``MIN_BLOCK_CHARS`` characters.
Short lines ("Advertisement", "Share", one-word lines, subheads) are never dropped, and neither
are isolated short repeats of list-like content (a menu with the same ingredient line in each
plan). Thresholds measured on the aeb-syndication intra-page DEV set
(``bench/dedup_bench.py``): line F1 0.983 (0.976 with single-line dropping instead of blocks).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from newsflow.transforms.dedup.keys import normalize_text
from newsflow.transforms.failures import rejecting
from newsflow.transforms.items import DEDUP_STAGE, REJECTED, Article

MIN_LINE_CHARS = 40
MIN_BLOCK_LINES = 3
MIN_BLOCK_CHARS = 300
MAX_EARLIER_COPIES = 16
"""Earlier occurrences of one line considered as block starts (bounds the work on spammy pages)."""




def repeated_line_indices(lines: list[str]) -> list[int]:
    """Indices (ascending) of the lines that repeat an earlier block of the page."""
    norms = [normalize_text(line) for line in lines]
    long_lines = [i for i, text in enumerate(norms) if len(text) >= MIN_LINE_CHARS]
    earlier: dict[str, list[int]] = {}
    run_length: dict[tuple[int, int], int] = {}
    for k, i in enumerate(long_lines):
        copies = earlier.setdefault(norms[i], [])
        for j in copies:
            run_length[(k, j)] = run_length.get((k - 1, j - 1), 0) + 1
        if len(copies) < MAX_EARLIER_COPIES:
            copies.append(k)
    dropped: set[int] = set()
    for (k, j), length in run_length.items():
        if (k + 1, j + 1) in run_length:
            continue  # not the end of its run
        block = [long_lines[x] for x in range(k - length + 1, k + 1)]
        if length >= MIN_BLOCK_LINES or sum(len(norms[i]) for i in block) >= MIN_BLOCK_CHARS:
            dropped.update(block)
    return sorted(dropped)


def remove_repeated_text(text: str) -> str:
    """``text`` without the paragraphs that repeat an earlier block (see the module docstring)."""
    lines = text.split("\n")
    dropped = set(repeated_line_indices(lines))
    if not dropped:
        return text
    return "\n".join(line for i, line in enumerate(lines) if i not in dropped)


class _RemoveRepeatedTextFn(beam.DoFn):
    def __init__(self) -> None:
        self._changed = Metrics.counter("newsflow", "repeats.pages_changed")

    def process(self, article: Article) -> Iterator[Any]:
        yield from rejecting(DEDUP_STAGE, article, lambda: [self._cleaned(article)])

    def _cleaned(self, article: Article) -> Article:
        body = remove_repeated_text(article.body)
        if body != article.body:
            self._changed.inc()
        return dataclasses.replace(article, body=body, body_sha256=hashlib.sha256(body.encode("utf-8")).hexdigest())


class RemoveRepeatedText(beam.PTransform):
    """PCollection[Article] → ``articles`` (main: repeated blocks removed from the body) and
    ``rejected`` (an article whose cleaning raised, as a dead letter of stage "dedup").

    Element-wise (no state, no grouping): works unchanged in batch and streaming, any windowing.
    Every article comes out with ``body_sha256`` recomputed (sha256 of the UTF-8 body, as the record
    contract defines it); counter ``newsflow/repeats.pages_changed`` counts the bodies that lost lines.
    """

    def expand(self, articles: beam.PCollection[Article]) -> beam.pvalue.DoOutputsTuple:
        return articles | "RemoveRepeatedText" >> beam.ParDo(_RemoveRepeatedTextFn()).with_outputs(
            REJECTED, main="articles")

