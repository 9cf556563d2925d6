"""Local stream mode: successive cycles, new entries arriving, and crash safety (kill -9, restart)."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pyarrow.dataset as pads
import pytest

from newsflow.pipelines.stream import due_feeds, run_stream, seconds_until_next_due
from newsflow.transforms.feeds.state import FeedState, load_feed_states
from newsflow.transforms.items import FeedSpec

pytestmark = pytest.mark.slow

NOW = datetime(2024, 7, 29, 12, 0, tzinfo=UTC)
TOPICS = ("harbour", "council", "budget", "river", "festival", "school", "railway", "bridge", "museum", "clinic")


def story(n: int) -> tuple[str, str]:
    word = TOPICS[n % len(TOPICS)]
    title = f"Story {n}: the {word} decision"
    paragraphs = [f"Paragraph {i} of story {n} explains why the {word} plan number {n * 100 + i} changed "
                  f"the way people in district {n + i} travel, work and meet every single week." for i in range(8)]
    return title, "".join(f"<p>{p}</p>" for p in paragraphs)


class GrowingSite:
    """A feed that gains one entry each time it is polled (or only on ``add()``); pages can be slow."""

    def __init__(self, start: int = 2, page_delay_s: float = 0.0, grow_on_poll: bool = True):
        self.count = start - 1 if grow_on_poll else start
        self.grow_on_poll = grow_on_poll
        self.feed_requests = 0
        self.page_delay_s = page_delay_s
        self.page_requests = 0
        self.lock = threading.Lock()
        handler = self._handler()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add(self) -> None:
        with self.lock:
            self.count += 1

    def urls(self) -> list[str]:
        return [f"{self.base}/a/{n}.html" for n in range(1, self.count + 1)]

    def _handler(self):
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                return

            def do_GET(self):
                if self.path == "/feed.xml":
                    with site.lock:
                        site.feed_requests += 1
                        site.count += 1 if site.grow_on_poll else 0
                        count = site.count
                    items = "".join(
                        f"<item><title>{story(n)[0]}</title><link>{site.base}/a/{n}.html</link>"
                        f"<pubDate>{format_datetime(NOW + timedelta(minutes=n), usegmt=True)}</pubDate></item>"
                        for n in range(1, count + 1))
                    body = f'<rss version="2.0"><channel><title>grow</title>{items}</channel></rss>'.encode()
                    kind = "application/rss+xml"
                elif self.path.startswith("/a/"):
                    with site.lock:
                        site.page_requests += 1
                    time.sleep(site.page_delay_s)
                    title, html = story(int(self.path.split("/")[-1].split(".")[0]))
                    body = f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1>{html}" \
                           f"</article></body></html>".encode()
                    kind = "text/html; charset=utf-8"
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler

    def close(self):
        self.server.shutdown()


def stream_args(config: Path, output: Path, *extra: str) -> list[str]:
    return ["--mode", "stream", "--config", str(config), "--output", str(output), "--runner", "FnApiRunner",
            "--allow_private_network", "127.0.0.1/32", "--host_delay_s", "0", "--poll_interval_s", "1",
            "--min_poll_interval_s", "1", *extra]


def article_urls(output: Path) -> list[str]:
    root = output / "articles" / "v1"
    if not root.exists():
        return []
    return sorted(pads.dataset(root, format="parquet", partitioning="hive").to_table(columns=["url"])["url"]
                  .to_pylist())


def write_config(tmp_path: Path, site: GrowingSite) -> Path:
    config = tmp_path / "feeds.yaml"
    config.write_text(f"feeds:\n  - url: {site.base}/feed.xml\n", encoding="utf-8")
    return config


def test_due_feeds_and_wait():
    a, b, c = FeedSpec("https://a.example/rss"), FeedSpec("https://b.example/rss"), FeedSpec("https://c.example/rss")
    states = {a.url: FeedState(a.url, next_poll_at=NOW - timedelta(seconds=1)),
              b.url: FeedState(b.url, next_poll_at=NOW + timedelta(seconds=90))}
    assert due_feeds([a, b, c], states, NOW) == [a, c]
    assert seconds_until_next_due(states, [a, b, c], NOW, fallback_s=300) == 0.0
    assert seconds_until_next_due({b.url: states[b.url]}, [b], NOW, fallback_s=300) == 90.0
    assert seconds_until_next_due({}, [c], NOW, fallback_s=300) == 300


def test_cycles_pick_up_new_entries(tmp_path):
    site = GrowingSite(start=2, grow_on_poll=False)
    visible_after: list[list[str]] = []

    def after_cycle(_cycle, _summary):
        visible_after.append(article_urls(output))  # what a reader sees when the cycle has ended
        site.add()  # the feed publishes a new entry between cycles

    try:
        output = tmp_path / "out"
        run_stream(stream_args(write_config(tmp_path, site), output, "--max_cycles", "3"), on_cycle=after_cycle)
        urls = [f"{site.base}/a/{n}.html" for n in range(1, 5)]
        # each cycle's new entry is visible when that cycle ends, and every entry appears exactly once
        assert visible_after == [sorted(urls[:2]), sorted(urls[:3]), sorted(urls[:4])]
        assert site.feed_requests == 3
        manifests = sorted((output / "_manifests").iterdir())
        assert len(manifests) == 3 and all((m / "_SUCCESS").exists() for m in manifests)
    finally:
        site.close()


class SteppingClock:
    """A fake monotonic clock: each reading is ``step_s`` later than the one before."""

    def __init__(self, step_s: float):
        self.now = 0.0
        self.step_s = step_s

    def monotonic(self) -> float:
        self.now += self.step_s
        return self.now


def test_duration_bounds_the_run(tmp_path):
    site = GrowingSite(start=2)
    try:
        output, out = tmp_path / "out", io.StringIO()
        # every clock reading is 100 s later: after the first cycle the 50 s budget is spent
        run_stream(stream_args(write_config(tmp_path, site), output, "--duration_s", "50"), out=out,
                   clock=SteppingClock(100.0))
        assert site.feed_requests == 1 and "stream: 1 cycle(s) run" in out.getvalue()
        assert article_urls(output) == sorted(site.urls())
    finally:
        site.close()


def cli_stream(config: Path, output: Path, *extra: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "newsflow.pipelines.cli", "run", *stream_args(config, output, *extra)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_pages(site: GrowingSite, job: subprocess.Popen, timeout_s: float = 120) -> None:
    """Until the job is in the middle of a cycle: fetching the (slow) article pages."""
    deadline = time.time() + timeout_s
    while site.page_requests == 0 and time.time() < deadline and job.poll() is None:
        time.sleep(0.05)
    assert job.poll() is None, "the cycle ended before the signal could be sent"


def test_sigterm_finishes_the_cycle_then_exits(tmp_path):
    site = GrowingSite(start=3, page_delay_s=1.0)
    try:
        config, output = write_config(tmp_path, site), tmp_path / "out"
        job = cli_stream(config, output, "--max_cycles", "5")
        wait_for_pages(site, job)
        job.send_signal(signal.SIGTERM)
        out, err = job.communicate(timeout=180)
        assert job.returncode == 0, err
        assert f"signal {int(signal.SIGTERM)}: stopping after this cycle" in err
        assert "stream: 1 cycle(s) run" in out
        # the cycle in flight committed: its 3 entries are visible, and no second poll happened
        assert site.feed_requests == 1
        assert article_urls(output) == sorted(site.urls()) and len(site.urls()) == 3
        (manifest,) = (output / "_manifests").iterdir()
        assert (manifest / "_SUCCESS").exists()
    finally:
        site.close()


def test_second_signal_abandons_the_cycle_atomically(tmp_path):
    site = GrowingSite(start=3, page_delay_s=1.0)
    try:
        config, output = write_config(tmp_path, site), tmp_path / "out"
        job = cli_stream(config, output, "--max_cycles", "5")
        wait_for_pages(site, job)
        job.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        job.send_signal(signal.SIGTERM)
        _, err = job.communicate(timeout=180)
        assert job.returncode != 0 and "cycle abandoned" in err
        assert article_urls(output) == []  # nothing of the abandoned cycle is visible
        site.page_delay_s = 0.0
        run_stream(stream_args(config, output, "--max_cycles", "1"))
        assert article_urls(output) == sorted(site.urls()) and len(site.urls()) == 4
        assert not any((output / "_staging").glob("*"))
    finally:
        site.close()


def test_kill_9_mid_cycle_then_restart_has_every_entry_once(tmp_path):
    site = GrowingSite(start=3, page_delay_s=1.0)
    try:
        config, output = write_config(tmp_path, site), tmp_path / "out"
        job = cli_stream(config, output, "--max_cycles", "1")
        wait_for_pages(site, job)
        os.kill(job.pid, signal.SIGKILL)
        job.communicate()
        assert article_urls(output) == []  # nothing of the killed cycle is visible
        site.page_delay_s = 0.0
        run_stream(stream_args(config, output, "--max_cycles", "2"))
        urls = article_urls(output)
        assert urls == sorted(set(urls)) == sorted(site.urls())
        assert not any((output / "_staging").glob("*"))
    finally:
        site.close()


def test_a_restart_before_any_feed_is_due_waits_for_it_then_polls(tmp_path):
    site = GrowingSite(start=2, grow_on_poll=False)
    try:
        config, output = write_config(tmp_path, site), tmp_path / "out"
        run_stream(stream_args(config, output, "--max_cycles", "1", "--poll_interval_s", "3",
                               "--min_poll_interval_s", "3"))
        assert site.feed_requests == 1
        (state,) = load_feed_states(str(output)).values()
        assert state.next_poll_at is not None and state.next_poll_at > datetime.now(UTC)
        site.add()
        out = io.StringIO()
        run_stream(stream_args(config, output, "--max_cycles", "1", "--poll_interval_s", "3",
                               "--min_poll_interval_s", "3"), out=out)
        # the restart found nothing due, waited for the feed instead of counting an empty cycle, then polled it
        assert datetime.now(UTC) >= state.next_poll_at
        assert site.feed_requests == 2
        assert "no feed due: waiting" in out.getvalue() and "stream: 1 cycle(s) run" in out.getvalue()
        assert article_urls(output) == sorted(site.urls()) and len(site.urls()) == 3
    finally:
        site.close()


def test_duration_ends_a_wait_for_a_feed_that_is_not_due(tmp_path):
    site = GrowingSite(start=1, grow_on_poll=False)
    try:
        config, output = write_config(tmp_path, site), tmp_path / "out"
        run_stream(stream_args(config, output, "--max_cycles", "1", "--poll_interval_s", "600",
                               "--min_poll_interval_s", "600"))
        out = io.StringIO()
        run_stream(stream_args(config, output, "--max_cycles", "1", "--poll_interval_s", "600",
                               "--min_poll_interval_s", "600", "--duration_s", "0.5"), out=out)
        assert site.feed_requests == 1 and "stream: 0 cycle(s) run" in out.getvalue()
    finally:
        site.close()
