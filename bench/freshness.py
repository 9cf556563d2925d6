"""Freshness benchmark: time from an entry appearing in a feed to its record being visible.

Serves a local feed on 127.0.0.1 that gains one entry every ``--every_s`` seconds, runs
``newsflow run --mode stream`` against it (local cycles, the FnApiRunner), watches the committed
articles dataset, and prints p50/p95/max of (visible − appeared) next to the goal: poll interval + 30 s.
The job's output goes to ``job.log`` in the work folder (its tail is printed if the job fails).

    python bench/freshness.py --duration_s 240 --poll_s 30 --every_s 10
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pyarrow.dataset as pads

WORDS = ["harbour", "council", "budget", "river", "festival", "school", "rail", "bridge", "museum", "clinic", "orchard", "port", "vineyard", "library", "stadium", "tram", "ferry", "market", "reservoir", "glacier", "airport", "forest", "canal", "theatre", "lighthouse"]


def article_text(n: int) -> tuple[str, str]:
    """A distinct story per entry, so dedup never merges two entries."""
    digest = hashlib.sha256(str(n).encode()).digest()
    words = [WORDS[b % len(WORDS)] for b in digest]
    title = f"Update {n}: the {words[0]} and the {words[1]} plan"
    sentences = [f"Officials said on day {n} that the {words[i]} project number {n * 7 + i} would change "
                 f"how residents use the {words[i + 1]} near district {i + n}." for i in range(12)]
    return title, " ".join(sentences)


class LiveFeed:
    """A feed whose entries appear over time; records when each appeared."""

    def __init__(self) -> None:
        self.appeared: dict[str, float] = {}
        self.lock = threading.Lock()
        self.port = 0

    def add(self) -> str:
        with self.lock:
            n = len(self.appeared) + 1
            url = f"http://127.0.0.1:{self.port}/a/{n}.html"
            self.appeared[url] = time.time()
            return url

    def feed(self) -> bytes:
        with self.lock:
            items = list(self.appeared.items())
        body = "".join(
            f"<item><title>{article_text(i + 1)[0]}</title><link>{url}</link><guid>{url}</guid>"
            f"<pubDate>{format_datetime(datetime.fromtimestamp(t, UTC), usegmt=True)}</pubDate></item>"
            for i, (url, t) in enumerate(items))
        return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>live</title>'
                f"<link>http://127.0.0.1:{self.port}/</link>{body}</channel></rss>").encode()


def serve(live: LiveFeed) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            return

        def do_GET(self) -> None:
            if self.path == "/feed.xml":
                body, kind = live.feed(), "application/rss+xml"
            elif self.path.startswith("/a/"):
                n = int(self.path.split("/")[-1].split(".")[0])
                title, text = article_text(n)
                body = (f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1>"
                        f"<p>{text}</p></article></body></html>").encode()
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

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    live.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def visible_urls(output: Path) -> set[str]:
    root = output / "articles" / "v1"
    if not root.exists():
        return set()
    return set(pads.dataset(root, format="parquet", partitioning="hive").to_table(columns=["url"])["url"]
               .to_pylist())


def committed_cycles(output: Path) -> int:
    return len(list((output / "_manifests").glob("*/_SUCCESS")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration_s", type=float, default=240)
    parser.add_argument("--poll_s", type=float, default=30)
    parser.add_argument("--every_s", type=float, default=10)
    args = parser.parse_args()

    live = LiveFeed()
    server = serve(live)
    work = Path(tempfile.mkdtemp(prefix="newsflow-fresh-"))
    config = work / "feeds.yaml"
    config.write_text(f"feeds:\n  - url: http://127.0.0.1:{live.port}/feed.xml\n", encoding="utf-8")
    output = work / "out"
    live.add()
    command = [sys.executable, "-m", "newsflow.pipelines.cli", "run", "--mode", "stream", "--config", str(config),
               "--output", str(output), "--runner", "FnApiRunner", "--allow_private_network", "127.0.0.1/32",
               "--host_delay_s", "0", "--poll_interval_s", str(args.poll_s), "--min_poll_interval_s",
               str(args.poll_s), "--duration_s", str(args.duration_s)]
    log = work / "job.log"
    with log.open("w") as sink:
        job = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    seen: dict[str, float] = {}
    next_entry = time.time() + args.every_s
    stop_adding = time.time() + args.duration_s - args.poll_s - 30
    while job.poll() is None:
        now = time.time()
        if now >= next_entry and now < stop_adding:
            live.add()
            next_entry = now + args.every_s
        for url in visible_urls(output) - seen.keys():
            seen[url] = time.time()
        time.sleep(0.5)
    for url in visible_urls(output) - seen.keys():
        seen[url] = time.time()
    server.shutdown()
    if job.returncode != 0:
        print(log.read_text(encoding="utf-8")[-3000:], file=sys.stderr)
    lags = sorted(seen[u] - t for u, t in live.appeared.items() if u in seen)
    missing = [u for u in live.appeared if u not in seen]
    p95 = lags[max(0, math.ceil(0.95 * len(lags)) - 1)] if lags else float("nan")
    print(json.dumps({
        "entries": len(live.appeared), "visible": len(lags), "missing": len(missing),
        "p50_s": round(statistics.median(lags), 1) if lags else None, "p95_s": round(p95, 1),
        "max_s": round(lags[-1], 1) if lags else None, "poll_interval_s": args.poll_s,
        "goal_p95_s": args.poll_s + 30, "cycles": committed_cycles(output), "exit_code": job.returncode}))


if __name__ == "__main__":
    main()
