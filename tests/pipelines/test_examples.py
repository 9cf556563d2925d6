"""The reader examples print exact figures for datasets the writer (and the whole pipeline) produced."""

from __future__ import annotations

import io
import py_compile
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import apache_beam as beam
import pyarrow.dataset as pads
import pytest

from newsflow.transforms.items import Article, Rejection, TopicTag
from newsflow.transforms.write.rows import (
    DATASET_SCHEMAS,
    article_row,
    deadletter_row,
    partition_path,
    partition_values,
)
from newsflow.transforms.write.write_dataset import WriteDataset

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
RUNNABLE = ("read_duckdb.py", "read_pyarrow.py", "read_pandas.py")
INGESTED = datetime(2024, 7, 29, 9, 0, tzinfo=UTC)


def article(n: int, topic: str | None, region: str | None, published: datetime | None) -> Article:
    return Article(
        id=f"id{n}", url=f"https://a.example/{n}", canonical_url=f"https://a.example/{n}",
        feed_url="https://a.example/rss", site="a.example", body=f"body {n}", body_sha256="0" * 64,
        fetched_at=INGESTED, title=f"Title {n}", published_at=published, primary_topic=topic,
        primary_region=region, topics=[TopicTag(topic, "label", 0.9)] if topic else [])


def write_sample(root: Path) -> None:
    def at(day: int, hour: int, minute: int) -> datetime:
        return datetime(2024, 7, day, hour, minute, tzinfo=UTC)

    articles = [article(1, "medtop:11000000", "Eastern Asia", at(29, 6, 30)),
                article(2, "medtop:11000000", "Eastern Asia", at(28, 10, 0)),
                article(3, None, None, None),
                article(4, "medtop:15000000", "Northern Europe", at(29, 8, 15)),
                article(5, "medtop:15000000", None, at(29, 8, 15))]
    rows = []
    for a in articles:
        row = article_row(a, "run1", INGESTED)
        rows.append(("articles/v1", partition_path(partition_values(row, INGESTED), ("dt", "topic", "region")), row))
    rejection = Rejection.skip("fetch", "robots_disallowed", "https://a.example/private", "https://a.example/rss")
    rows.append(("deadletters/v1", "dt=2024-07-29", deadletter_row(rejection, "run1")))
    with beam.Pipeline(runner="FnApiRunner") as p:
        _ = p | beam.Create(rows, reshuffle=False) | WriteDataset(str(root), "run1", DATASET_SCHEMAS)
    # left-overs a reader must not pick up: another run's staging and pipeline state
    (root / "_staging" / "run2" / "articles" / "v1").mkdir(parents=True)
    (root / "_staging" / "run2" / "articles" / "v1" / "part-run2.parquet").write_bytes(b"not parquet")


SAMPLE_OUTPUT = """\
articles: 5
by topic:
  politics-government: 2
  sport: 2
  unknown: 1
by region:
  eastern-asia: 2
  unknown: 2
  northern-europe: 1
latest:
  2024-07-29 08:15 | Title 4
  2024-07-29 08:15 | Title 5
  2024-07-29 06:30 | Title 1
  2024-07-28 10:00 | Title 2
  - | Title 3
"""


def run_example(name: str, root: Path) -> str:
    done = subprocess.run([sys.executable, str(EXAMPLES / name), str(root)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def sample_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sample")
    write_sample(root)
    return root


@pytest.mark.parametrize("name", RUNNABLE)
def test_example_prints_exact_figures_for_a_written_dataset(name, sample_root):
    assert run_example(name, sample_root) == SAMPLE_OUTPUT


def expected_output(root: Path, latest: int = 5) -> str:
    """The examples' report computed independently: plain Python over the rows pyarrow reads."""
    rows = pads.dataset(root / "articles/v1", partitioning="hive").to_table(
        columns=["id", "title", "published_at", "topic", "region"]).to_pylist()
    lines = [f"articles: {len(rows)}"]
    for key in ("topic", "region"):
        lines.append(f"by {key}:")
        counts = Counter(str(r[key]) for r in rows)
        lines += [f"  {value}: {n}" for value, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    lines.append("latest:")
    dated = sorted((r for r in rows if r["published_at"]), key=lambda r: r["id"])
    dated.sort(key=lambda r: r["published_at"], reverse=True)
    undated = sorted((r for r in rows if not r["published_at"]), key=lambda r: r["id"])
    for r in (dated + undated)[:latest]:
        when = r["published_at"].strftime("%Y-%m-%d %H:%M") if r["published_at"] else "-"
        lines.append(f"  {when} | {r['title'] or ''}")
    return "\n".join(lines) + "\n"


def test_the_independent_expectation_agrees_with_the_hand_written_one(sample_root):
    assert expected_output(sample_root) == SAMPLE_OUTPUT


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory) -> Path:
    from newsflow.pipelines import once
    from newsflow.pipelines.demo import demo_argv
    from newsflow.pipelines.demo_server import DemoServer, bundled_site

    root = tmp_path_factory.mktemp("demo")
    with DemoServer(bundled_site()) as server:
        summary = once.run(demo_argv(str(bundled_site() / "feeds.yaml"), str(root), server.replay_prefix),
                           out=io.StringIO())
    assert summary.counters["write.rows.articles"] > 0
    return root


@pytest.mark.slow
@pytest.mark.parametrize("name", RUNNABLE)
def test_example_reports_the_demo_run(name, demo_root):
    expected = expected_output(demo_root)
    assert expected.startswith("articles: ") and expected != "articles: 0\n"
    assert run_example(name, demo_root) == expected


def test_spark_example_compiles(tmp_path):
    py_compile.compile(str(EXAMPLES / "read_spark.py"), cfile=str(tmp_path / "read_spark.pyc"), doraise=True)
