"""``newsflow report OUTPUT [--out report.html]``: one self-contained HTML page of what was ingested."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from datetime import UTC, datetime

from apache_beam.io.filesystems import FileSystems

from newsflow.pipelines.report_data import collect, open_output
from newsflow.pipelines.report_page import render_page

REPORT_NAME = "report.html"


def default_report_path(output_root: str) -> str:
    """Where the report of an output goes unless told otherwise: ``<output>/report.html``."""
    return f"{output_root.rstrip('/')}/{REPORT_NAME}"


def write_report(output_root: str, out_path: str | None = None) -> str:
    """Read the datasets under ``output_root`` (local or ``gs://``), write the page, return its path."""
    target = out_path or default_report_path(output_root)
    with tempfile.TemporaryDirectory(prefix="newsflow-report-") as workdir:
        con = open_output(output_root, workdir)
        try:
            page = render_page(collect(con), output_root=output_root, generated_at=datetime.now(UTC))
        finally:
            con.close()
    data = page.encode("utf-8")
    if "://" in target:
        with FileSystems.create(target, mime_type="text/html") as handle:
            handle.write(data)
        return target
    directory = os.path.dirname(os.path.abspath(target))
    os.makedirs(directory, exist_ok=True)
    with open(target, "wb") as handle:
        handle.write(data)
    return target


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="newsflow report",
                                     description="Write one offline HTML page summarising a newsflow output.")
    parser.add_argument("output", help="Output root of newsflow runs: a local folder or gs://bucket/prefix.")
    parser.add_argument("--out", default=None, help=f"Where to write the page (default: OUTPUT/{REPORT_NAME}).")
    args = parser.parse_args(argv)
    if "://" not in args.output and not os.path.isdir(args.output):
        print(f"newsflow report: {args.output} is not a folder", file=sys.stderr)
        return 2
    print(write_report(args.output, args.out))
    return 0
