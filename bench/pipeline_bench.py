"""End-to-end throughput: the once pipeline over a folder of pages served on 127.0.0.1.

Serves N pages (the extraction kit's pages by default, cycled, each given one unique sentence so no two
bodies are byte-identical) with a generated RSS feed listing them, runs ``newsflow run`` over it in a
subprocess, samples the RSS of the whole process tree, and prints pages/s, peak RSS, the raw
single-process trafilatura throughput on the same pages, and the ratio between the two.

    python bench/pipeline_bench.py --pages 2000 --extract_workers 2
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

DEFAULT_KIT = Path(__file__).resolve().parents[1] / ".." / "shared" / "bench" / "extraction" / "html"


def load_pages(folder: Path) -> list[bytes]:
    pages = []
    for path in sorted(folder.iterdir()):
        if path.name.endswith(".html.gz"):
            pages.append(gzip.decompress(path.read_bytes()))
        elif path.suffix == ".html":
            pages.append(path.read_bytes())
    if not pages:
        raise SystemExit(f"no .html or .html.gz pages in {folder}")
    return pages


def unique_page(pages: list[bytes], n: int) -> bytes:
    page = pages[n % len(pages)]
    marker = f"<p>Bench note {n}: this copy carries serial number {n * 7919} for the throughput run.</p>".encode()
    at = page.rfind(b"</body>")
    return page[:at] + marker + page[at:] if at >= 0 else page + marker


def serve(pages: list[bytes], count: int) -> tuple[ThreadingHTTPServer, str]:
    feed_holder: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            return

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            if self.path == "/feed.xml":
                body, kind = feed_holder["feed"], "application/rss+xml"
            elif self.path.startswith("/p/"):
                body, kind = unique_page(pages, int(self.path[3:].split(".")[0])), "text/html; charset=utf-8"
            else:
                body, kind = b"not found", "text/plain"
                self.send_response(404)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    base = f"http://127.0.0.1:{server.server_address[1]}"
    items = "".join(f"<item><title>Page {i}</title><link>{base}/p/{i}.html</link></item>" for i in range(count))
    feed_holder["feed"] = f'<rss version="2.0"><channel><title>bench</title>{items}</channel></rss>'.encode()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, base


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of a process and all its descendants, from /proc."""
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += next(int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmRSS:"))
            for task in Path(f"/proc/{current}/task").iterdir():
                stack.extend(int(c) for c in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            continue
    return total


def raw_trafilatura(pages: list[bytes], count: int) -> float:
    import trafilatura

    sample = [unique_page(pages, n).decode("utf-8", "replace") for n in range(min(count, 2 * len(pages)))]
    started = time.perf_counter()
    for html in sample:
        trafilatura.extract(html, fast=True, include_comments=False)
    return len(sample) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--html", type=Path, default=DEFAULT_KIT, help="folder of .html/.html.gz pages")
    parser.add_argument("--extract_workers", type=int, default=2)
    parser.add_argument("--max_in_flight", type=int, default=32)
    args = parser.parse_args()

    pages = load_pages(args.html.resolve())
    server, base = serve(pages, args.pages)
    work = Path(tempfile.mkdtemp(prefix="newsflow-bench-"))
    (work / "feeds.yaml").write_text(f"feeds:\n  - {base}/feed.xml\n", encoding="utf-8")
    command = [sys.executable, "-m", "newsflow.pipelines.cli", "run", "--config", str(work / "feeds.yaml"),
               "--output", str(work / "out"), "--runner", "FnApiRunner", "--allow_private_network",
               "127.0.0.1/32", "--host_delay_s", "0", "--host_concurrency", str(args.max_in_flight),
               "--max_in_flight", str(args.max_in_flight), "--extract_workers", str(args.extract_workers),
               "--max_body_bytes", "20000000"]
    started = time.perf_counter()
    job = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    peak = 0
    while job.poll() is None:
        peak = max(peak, tree_rss_bytes(job.pid))
        time.sleep(0.2)
    elapsed = time.perf_counter() - started
    summary = job.stdout.read() if job.stdout else ""
    server.shutdown()
    raw = raw_trafilatura(pages, args.pages)
    rate = args.pages / elapsed
    print(summary.strip())
    print(json.dumps({"pages": args.pages, "seconds": round(elapsed, 1), "pipeline_pages_per_s": round(rate, 1),
                      "peak_rss_mb": round(peak / 2**20), "raw_trafilatura_pages_per_s_one_core": round(raw, 1),
                      "ratio": round(rate / raw, 2), "cores": os.cpu_count(),
                      "extract_workers": args.extract_workers, "exit_code": job.returncode}))


if __name__ == "__main__":
    main()
