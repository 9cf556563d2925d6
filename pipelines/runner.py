"""Dispatch ``newsflow run`` to the once job or the stream job by ``--mode``."""

from __future__ import annotations

from apache_beam.options.pipeline_options import PipelineOptions

from newsflow.pipelines.once import RunSummary, run
from newsflow.pipelines.options import NewsflowOptions


def run_mode(argv: list[str]) -> RunSummary:
    mode = PipelineOptions(argv).view_as(NewsflowOptions).mode
    if mode == "stream":
        from newsflow.pipelines.stream import run_stream

        return run_stream(argv)
    return run(argv)
