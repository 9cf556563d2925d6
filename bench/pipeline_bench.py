"""End-to-end throughput: the once pipeline over a folder of pages served on 127.0.0.1.

Serves N pages (the extraction kit's pages by default, cycled, each given one unique sentence so no two
bodies are byte-identical) with a generated RSS feed listing them, from a separate server process so it
shares no interpreter (GIL) with the harness; runs ``newsflow run`` over it in a subprocess and samples
the whole process tree: RSS summed over the processes (``peak_rss_mb``, the goal's figure), PSS (pages
shared between processes counted once) and CPU time. For each N it prints the wall time of the run
*including* startup (imports, runner and pool start, lexicon loads) and pages/s from it; with two or more
N it also prints the per-page rate *excluding* the fixed startup, from the difference between the two
largest runs. Last, the raw single-process trafilatura throughput on the same pages
(``trafilatura.extract(html, fast=True, include_comments=False)``, HTML already decoded), the ratios,
and two ceilings: pages/s of one process per core all extracting at once with raw trafilatura and with
newsflow's ``extract_page`` (no fetch, dedup, tagging, writing or Beam): no pipeline on this machine
can beat the second.

    python bench/pipeline_bench.py --pages 1000,3000 --extract_workers 2

CPU seconds are reported beside wall seconds because wall figures depend on whatever else runs on the
machine; ``cpu_ms_per_page`` (whole pipeline tree) is the load-independent cost.
"""

from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

DEFAULT_KIT = Path(__file__).resolve().parents[1] / ".." / "shared" / "bench" / "extraction" / "html"
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


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


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # clients closing keep-alive sockets
            super().handle_error(request, client_address)


def make_server(pages: list[bytes], count: int) -> tuple[ThreadingHTTPServer, str]:
    feed_holder: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            return

        def do_GET(self) -> None:
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

    server = _QuietServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    base = f"http://127.0.0.1:{server.server_address[1]}"
    items = "".join(f"<item><title>Page {i}</title><link>{base}/p/{i}.html</link></item>" for i in range(count))
    feed_holder["feed"] = f'<rss version="2.0"><channel><title>bench</title>{items}</channel></rss>'.encode()
    return server, base


def _serve_forever(folder: Path, count: int, conn: Any) -> None:
    server, base = make_server(load_pages(folder), count)
    conn.send(base)
    conn.close()
    server.serve_forever()


def start_server(folder: Path, count: int) -> tuple[multiprocessing.process.BaseProcess, str]:
    """The page server in its own process (spawned, so it shares nothing with this one)."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe(duplex=False)
    process = context.Process(target=_serve_forever, args=(folder, count, child), daemon=True)
    process.start()
    child.close()
    return process, parent.recv()


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.extend(int(c) for c in (task / "children").read_text().split())
    return found


def _rss_and_cpu(pid: int) -> tuple[int, float]:
    """(resident bytes, user+system CPU seconds) of one process, from /proc."""
    status = Path(f"/proc/{pid}/status").read_text()
    rss = next(int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmRSS:"))
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return rss, (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def _pss(pid: int) -> int:
    """Proportional set size: resident bytes with pages shared between processes split among them."""
    rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    return next(int(line.split()[1]) * 1024 for line in rollup.splitlines() if line.startswith("Pss:"))


@dataclass
class TreeSample:
    """Peaks and CPU of a process tree, from samples taken while it runs."""

    root: int
    peak_rss: int = 0
    peak_pss: int = 0
    peak_rss_root: int = 0
    cpu_by_pid: dict[int, float] = field(default_factory=dict)
    samples: int = 0

    def sample(self) -> None:
        # PSS only every fifth sample: reading smaps_rollup of a 1 GB process takes ~14 ms of CPU
        with_pss = self.samples % 5 == 0
        self.samples += 1
        total, total_pss, stack = 0, 0, [self.root]
        while stack:
            current = stack.pop()
            try:
                rss, cpu = _rss_and_cpu(current)
                pss = _pss(current) if with_pss else 0
                stack.extend(_children(current))
            except (FileNotFoundError, ProcessLookupError, StopIteration):
                continue
            total += rss
            total_pss += pss
            if current == self.root:
                self.peak_rss_root = max(self.peak_rss_root, rss)
            self.cpu_by_pid[current] = max(cpu, self.cpu_by_pid.get(current, 0.0))
        self.peak_rss = max(self.peak_rss, total)
        self.peak_pss = max(self.peak_pss, total_pss)

    def helpers_cpu(self) -> float:
        return sum(cpu for pid, cpu in self.cpu_by_pid.items() if pid != self.root)


def run_pipeline(args: argparse.Namespace, count: int, work: Path) -> dict[str, Any]:
    server, base = start_server(args.html, count)
    try:
        run_dir = work / f"n{count}"
        run_dir.mkdir()
        (run_dir / "feeds.yaml").write_text(f"feeds:\n  - {base}/feed.xml\n", encoding="utf-8")
        command = [sys.executable, "-m", "newsflow.pipelines.cli", "run", "--config", str(run_dir / "feeds.yaml"),
                   "--output", str(run_dir / "out"), "--runner", "FnApiRunner", "--allow_private_network",
                   "127.0.0.1/32", "--host_delay_s", "0", "--host_concurrency", str(args.max_in_flight),
                   "--max_in_flight", str(args.max_in_flight), "--extract_workers", str(args.extract_workers),
                   "--max_body_bytes", "20000000", *args.pipeline_arg]
        server_cpu_before = _rss_and_cpu(server.pid or 0)[1]
        with (run_dir / "pipeline.log").open("w") as log:
            started = time.perf_counter()
            job = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True)
            tree = TreeSample(job.pid)
            while True:
                tree.sample()
                waited, status, usage = os.wait4(job.pid, os.WNOHANG)
                if waited:
                    break
                time.sleep(0.2)
            elapsed = time.perf_counter() - started
        exit_code = os.waitstatus_to_exitcode(status)
        job.returncode = exit_code
        summary = job.stdout.read() if job.stdout else ""
        server_cpu = _rss_and_cpu(server.pid or 0)[1] - server_cpu_before
    finally:
        server.terminate()
        server.join()
    # the root's own CPU plus every descendant it or its children reaped (the extract workers)
    reaped_cpu = usage.ru_utime + usage.ru_stime
    tree_cpu = max(reaped_cpu, tree.cpu_by_pid.get(job.pid, 0.0) + tree.helpers_cpu())
    return {"pages": count, "seconds_incl_startup": round(elapsed, 2), "pages_per_s_incl_startup":
            round(count / elapsed, 1), "peak_rss_mb": round(tree.peak_rss / 2**20),
            "peak_pss_mb": round(tree.peak_pss / 2**20),
            "peak_rss_main_process_mb": round(tree.peak_rss_root / 2**20), "pipeline_cpu_s": round(tree_cpu, 1),
            "main_process_cpu_s": round(tree.cpu_by_pid.get(job.pid, 0.0), 1),
            "other_processes_cpu_s": round(tree.helpers_cpu(), 1), "server_cpu_s": round(server_cpu, 1),
            "cpu_ms_per_page": round(1000 * tree_cpu / count, 1), "exit_code": exit_code,
            "summary": summary.strip(), "log": str(run_dir / "pipeline.log")}


def raw_trafilatura(pages: list[bytes], count: int) -> tuple[float, float, int]:
    """(pages/s by wall clock, pages/s by CPU time, pages) of raw trafilatura on the bench's pages."""
    import trafilatura

    sample = [unique_page(pages, n).decode("utf-8", "replace") for n in range(min(count, 2 * len(pages)))]
    for html in sample[:3]:  # warm-up: lazy imports and caches
        trafilatura.extract(html, fast=True, include_comments=False)
    started, cpu_started = time.perf_counter(), time.process_time()
    for html in sample:
        trafilatura.extract(html, fast=True, include_comments=False)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return len(sample) / wall, len(sample) / cpu, len(sample)


def _extract_all(task: tuple[str, list[str]]) -> int:
    """One process's share of a ceiling run: every page through ``trafilatura`` or ``extract_page``."""
    kind, htmls = task
    if kind == "trafilatura":
        import trafilatura

        for html in htmls:
            trafilatura.extract(html, fast=True, include_comments=False)
    else:
        from newsflow.transforms.extract.page import extract_page

        for html in htmls:
            extract_page(html, "https://bench.example/p.html")
    return len(htmls)


def ceiling(pages: list[bytes], count: int, kind: str, processes: int) -> float:
    """Pages/s of ``processes`` processes each extracting the same pages at once (no pipeline at all):
    what the machine's cores give for extraction alone, the bound any pipeline stays under."""
    sample = [unique_page(pages, n).decode("utf-8", "replace") for n in range(min(count, 2 * len(pages)))]
    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(_extract_all, [(kind, sample[:3])] * processes))  # imports and warm-up
        started = time.perf_counter()
        done = sum(pool.map(_extract_all, [(kind, sample)] * processes))
        return done / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", default="1000",
                        help="comma-separated page counts; two or more also give the rate without startup")
    parser.add_argument("--html", type=Path, default=DEFAULT_KIT, help="folder of .html/.html.gz pages")
    parser.add_argument("--extract_workers", type=int, default=2)
    parser.add_argument("--max_in_flight", type=int, default=32)
    parser.add_argument("--pipeline_arg", action="append", default=[],
                        help="extra flag passed to `newsflow run` (repeatable), e.g. --pipeline_arg=--foo=1")
    parser.add_argument("--quiet", action="store_true", help="omit the pipeline's summary lines")
    args = parser.parse_args()
    args.html = args.html.resolve()
    counts = sorted({int(n) for n in args.pages.split(",")})

    work = Path(tempfile.mkdtemp(prefix="newsflow-bench-"))
    runs = []
    for count in counts:
        result = run_pipeline(args, count, work)
        summary = result.pop("summary")
        if not args.quiet:
            print(summary)
        print(json.dumps(result), flush=True)
        runs.append(result)

    pages = load_pages(args.html)
    raw_wall, raw_cpu, raw_pages = raw_trafilatura(pages, max(counts))
    final = {"raw_trafilatura_pages_per_s_one_core": round(raw_wall, 1),
             "raw_trafilatura_pages_per_s_one_core_by_cpu_time": round(raw_cpu, 1), "raw_pages": raw_pages,
             "cores": os.cpu_count(), "extract_workers": args.extract_workers,
             "loadavg_1m": round(os.getloadavg()[0], 2)}
    cores = os.cpu_count() or 1
    final["ceiling_trafilatura_pages_per_s_all_cores"] = round(ceiling(pages, max(counts), "trafilatura", cores), 1)
    final["ceiling_extract_page_pages_per_s_all_cores"] = round(ceiling(pages, max(counts), "extract_page", cores), 1)
    largest = runs[-1]
    final["ratio_incl_startup"] = round(largest["pages_per_s_incl_startup"] / raw_wall, 2)
    if len(runs) >= 2:
        small, large = runs[-2], runs[-1]
        marginal = (large["pages"] - small["pages"]) / (large["seconds_incl_startup"] - small["seconds_incl_startup"])
        per_page_cpu = (large["pipeline_cpu_s"] - small["pipeline_cpu_s"]) / (large["pages"] - small["pages"])
        final.update(
            pages_per_s_excl_startup=round(marginal, 1),
            startup_s_estimate=round(small["seconds_incl_startup"] - small["pages"] / marginal, 1),
            cpu_ms_per_page_excl_startup=round(1000 * per_page_cpu, 1),
            ratio_excl_startup=round(marginal / raw_wall, 2))
    print(json.dumps(final))


if __name__ == "__main__":
    main()
