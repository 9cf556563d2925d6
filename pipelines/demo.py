"""``newsflow demo``: ingest the bundled offline news site end to end, then show how to query the result.

The bundled site is served by ``DemoServer`` on 127.0.0.1 and fetched through ``--replay_prefix``, so the
demo needs no network and gives the same records on every run (only times and run ids differ).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import TextIO

from newsflow.pipelines.demo_server import DemoServer, bundled_site

DEFAULT_OUTPUT = "./newsflow-demo"
QUERY_COLUMNS = "dt, topic, region, title"


def demo_argv(config: str, output: str, replay_prefix: str, extra_argv: list[str] | None = None) -> list[str]:
    """The once-mode flags of a demo run; ``extra_argv`` comes last so it can override any of them."""
    return ["--config", config, "--output", output, "--replay_prefix", replay_prefix,
            "--allow_private_network", "127.0.0.1/32", "--host_delay_s", "0", "--runner", "FnApiRunner",
            *(extra_argv or [])]


def articles_glob(output: str) -> str:
    root = output if "://" in output else str(Path(output).resolve())
    return root.rstrip("/") + "/articles/v1/**/*.parquet"


def query_commands(output: str) -> tuple[str, str]:
    """A duckdb CLI command and the same query through the duckdb Python package (always installed)."""
    sql = (f"SELECT {QUERY_COLUMNS} FROM read_parquet('{articles_glob(output)}', hive_partitioning=true) "
           "ORDER BY dt, topic, region, title")
    return f'duckdb -c "{sql}"', f'python -c "import duckdb; duckdb.sql(\\"{sql}\\").show(max_width=200)"'


def run_demo(output: str | None = None, extra_argv: list[str] | None = None, out: TextIO | None = None) -> int:
    """Serve the bundled site, run once mode over it into ``output``, print how to query the result.

    Returns 0 on success, 2 when the flags are rejected before the pipeline starts.
    """
    from newsflow.pipelines import once

    out = out or sys.stdout
    target = output or DEFAULT_OUTPUT
    with tempfile.TemporaryDirectory(prefix="newsflow-demo-") as scratch, DemoServer(bundled_site()) as server:
        config = Path(scratch) / "feeds.yaml"
        shutil.copyfile(bundled_site() / "feeds.yaml", config)
        print(f"demo site served at {server.replay_prefix} (3 sites, 5 feeds)", file=out)
        try:
            summary = once.run(demo_argv(str(config), target, server.replay_prefix, extra_argv), out=out)
        except once.UsageError as exc:
            print(f"newsflow demo: {exc}", file=sys.stderr)
            return 2
        served = len(server.requests)
    cli, python = query_commands(summary.output)
    print(f"demo run {summary.run_id}: {served} requests served; query the articles with", file=out)
    print(f"  {cli}", file=out)
    print(f"  {python}", file=out)
    from newsflow.pipelines.report import write_report

    print(f"report: {write_report(summary.output)}", file=out)
    return 0
