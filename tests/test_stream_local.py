"""Local stream mode: successive cycles, new entries arriving, and crash safety (kill -9, restart)."""

from __future__ import annotations

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
from newsflow.transforms.items import FeedSpec
from newsflow.transforms.read_feeds import FeedState

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
    """A feed that gains one entry each time it is polled; pages can be made slow."""

    def __init__(self, start: int = 2, page_delay_s: float = 0.0):
        self.count = start - 1
        self.page_delay_s = page_delay_s
        self.page_requests = 0
        self.lock = threading.Lock()
        handler = self._handler()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

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
                        site.count += 1
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
    site = GrowingSite(start=2)
    try:
        output = tmp_path / "out"
        run_stream(stream_args(write_config(tmp_path, site), output, "--max_cycles", "3"))
        # three polls: the feed listed 2, then 3, then 4 entries; each appears exactly once
        assert article_urls(output) == sorted(site.urls())
        assert len(site.urls()) == 4
        manifests = sorted((output / "_manifests").iterdir())
        assert len(manifests) == 3 and all((m / "_SUCCESS").exists() for m in manifests)
    finally:
        site.close()


def test_kill_9_mid_cycle_then_restart_has_every_entry_once(tmp_path):
    site = GrowingSite(start=3, page_delay_s=1.0)
    try:
        config, output = write_config(tmp_path, site), tmp_path / "out"
        command = [sys.executable, "-m", "newsflow.pipelines.cli", "run",
                   *stream_args(config, output, "--max_cycles", "1")]
        job = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        while site.page_requests == 0 and time.time() < deadline and job.poll() is None:
            time.sleep(0.05)
        assert job.poll() is None, "the cycle ended before it could be killed"
        os.kill(job.pid, signal.SIGKILL)
        job.wait()
        assert article_urls(output) == []  # nothing of the killed cycle is visible
        site.page_delay_s = 0.0
        run_stream(stream_args(config, output, "--max_cycles", "2"))
        urls = article_urls(output)
        assert urls == sorted(set(urls)) == sorted(site.urls())
        assert not any((output / "_staging").glob("*"))
    finally:
        site.close()
