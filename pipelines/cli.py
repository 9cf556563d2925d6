"""The ``newsflow`` command: run, demo, the stage commands, schema export and report."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from newsflow.pipelines.config import ConfigError

USAGE = """newsflow COMMAND [options]

commands:
  run      --config FILE --output DIR [--mode once|stream] [--runner ...] [Beam flags]
  demo     [--output DIR]            serve the bundled site on 127.0.0.1 and ingest it
  extract  --input PATH --output FILE.jsonl
  tag      --input FILE.jsonl --output FILE.jsonl
  dedup    --input docs.jsonl --output decisions.jsonl
  schema   export DIR                write JSON Schema, Avro and BigQuery schema files
  report   OUTPUT [--out report.html]
"""


def _stage_parser(name: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"newsflow {name}")
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    return parser


def _stage_command(command: str) -> Callable[[str, str, list[str]], dict[str, Any]]:
    """The stage job behind ``newsflow extract|tag|dedup``: each runs the pipeline's own transforms."""
    if command == "extract":
        from newsflow.pipelines import extract_job

        return extract_job.run
    if command == "tag":
        from newsflow.pipelines import tag_job

        return tag_job.run
    from newsflow.pipelines import dedup_job

    return dedup_job.run


def _configure_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    logger = logging.getLogger("newsflow")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def _report_hint(output: str) -> None:
    from newsflow.pipelines.report import default_report_path

    print(f"report: `newsflow report {output}` writes {default_report_path(output)}")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0 if args else 2
    command, rest = args[0], args[1:]
    _configure_logging()
    try:
        if command == "run":
            from newsflow.pipelines.once import UsageError
            from newsflow.pipelines.runner import run_mode

            try:
                summary = run_mode(rest)
            except UsageError as exc:
                print(f"newsflow run: {exc}", file=sys.stderr)
                return 2
            _report_hint(summary.output)
            return 0
        if command == "demo":
            from newsflow.pipelines.demo import run_demo

            parser = argparse.ArgumentParser(prog="newsflow demo")
            parser.add_argument("--output", default="./newsflow-demo")
            known, extra = parser.parse_known_args(rest)
            return run_demo(known.output, extra)
        if command in ("extract", "tag", "dedup"):
            known, extra = _stage_parser(command).parse_known_args(rest)
            stats = _stage_command(command)(known.input, known.output, extra)
            print(f"newsflow {command}: {stats}")
            return 0
        if command == "schema":
            if len(rest) != 2 or rest[0] != "export":
                print("usage: newsflow schema export DIR", file=sys.stderr)
                return 2
            from newsflow.schemas.export import export

            for path in export(rest[1]):
                print(path)
            return 0
        if command == "report":
            from newsflow.pipelines.report import main as report_main

            return report_main(rest)
    except ConfigError as exc:
        print(f"newsflow {command}: {exc}", file=sys.stderr)
        return 2
    print(f"newsflow: unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
