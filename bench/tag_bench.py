"""Tagging benchmark: runs ``tag_job`` over each DEV set of ../shared/bench/tagging and scores it with
the kit's own ``score.py`` (as a subprocess), then times ``tag_text`` alone on one core.

    python bench/tag_bench.py [--kit PATH] [--sets reuters,bbc,ag,tr_news,lgl] [--work DIR] [--errors N]

Countries: Reuters gold is the countries a story is about, so it is scored against ``regions``;
TR-News and LGL gold is every mention, so they are scored against ``regions`` + ``mentioned_regions``.
Topics: IPTC top-level micro-F1 on BBC and AG News. ``--errors N`` prints N country / topic errors per
set (for reading, never for fitting). Prints one JSON line per set and a summary line; the speed is
tag_text alone on one core (CPU time of this single-threaded process; wall-clock rate shown too).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_KIT = REPO / ".." / "shared" / "bench" / "tagging"

SETS = {
    "reuters": ("reuters21578_modapte_test.dev.jsonl", "about", False),
    "bbc": ("bbc_news.dev.jsonl", None, True),
    "ag": ("ag_news_test.dev.jsonl", None, True),
    "tr_news": ("tr_news.dev.jsonl", "mentions", False),
    "lgl": ("lgl.dev.jsonl", "mentions", False),
}
"""name → (DEV file, which countries are scored, whether topics are scored)."""

TARGETS = {"reuters": 0.92, "tr_news": 0.88, "lgl": 0.80, "bbc": 0.90, "ag": 0.85}


def score(kit: Path, predictions: Path, gold: Path) -> dict:
    out = subprocess.run([sys.executable, str(kit / "score.py"), str(predictions), str(gold)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def write_predictions(tagged: Path, path: Path, with_mentions: bool) -> None:
    with tagged.open(encoding="utf-8") as src, path.open("w", encoding="utf-8") as dst:
        for line in src:
            row = json.loads(line)
            regions = row["regions"] + (row["mentioned_regions"] if with_mentions else [])
            dst.write(json.dumps({"id": row["id"], "topics": row["topics"], "regions": regions}) + "\n")


def print_errors(gold: Path, tagged: Path, with_mentions: bool, limit: int) -> None:
    predicted = {}
    for line in tagged.open(encoding="utf-8"):
        row = json.loads(line)
        predicted[row["id"]] = row
    shown = 0
    for line in gold.open(encoding="utf-8"):
        g = json.loads(line)
        p = predicted.get(g["id"], {"regions": [], "mentioned_regions": [], "topics": []})
        problems = []
        if g.get("regions") is not None:
            got = set(p["regions"]) | (set(p["mentioned_regions"]) if with_mentions else set())
            if got != set(g["regions"]):
                problems.append(f"countries gold={sorted(g['regions'])} got={sorted(got)} "
                                f"mentioned={sorted(p['mentioned_regions'])}")
        if g.get("topics") is not None and p["topics"][:1] != g["topics"][:1]:
            problems.append(f"topics gold={g['topics']} got={p['topics']}")
        if problems and shown < limit:
            shown += 1
            print(f"  {g['id']}: {(g.get('title') or '')[:90]!r}", *problems, sep="\n    ")


def time_tag_text(files: list[Path], seconds: float = 5.0) -> tuple[float, float]:
    """(wall, CPU) docs/s of tag_text alone over the DEV texts, after the automata are built. The CPU
    figure is the one-core rate; the wall figure also counts time lost to other processes."""
    from newsflow.transforms.tag.tag_articles import load_tables, tag_text

    texts = []
    for path in files:
        for line in path.open(encoding="utf-8"):
            row = json.loads(line)
            texts.append((row.get("title"), f"{row.get('dateline') or ''} {row['body']}".strip()))
    load_tables()
    done, start, cpu_start = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds:
        for title, body in texts[done % len(texts):done % len(texts) + 200]:
            tag_text(title, body)
            done += 1
    return done / (time.perf_counter() - start), done / (time.process_time() - cpu_start)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kit", type=Path, default=DEFAULT_KIT)
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--errors", type=int, default=0)
    parser.add_argument("--speed-seconds", type=float, default=5.0)
    args = parser.parse_args(argv)

    from newsflow.pipelines.tag_job import run

    work = args.work or Path(tempfile.mkdtemp(prefix="tag_bench_"))
    work.mkdir(parents=True, exist_ok=True)
    summary: dict = {}
    used = []
    for name in args.sets.split(","):
        file_name, countries, topics = SETS[name]
        gold = args.kit / "dev" / file_name
        used.append(gold)
        tagged = work / f"{name}.tagged.jsonl"
        started = time.perf_counter()
        run(str(gold), str(tagged))
        elapsed = time.perf_counter() - started
        result: dict = {"set": name, "pipeline_s": round(elapsed, 1)}
        predictions = work / f"{name}.pred.jsonl"
        write_predictions(tagged, predictions, with_mentions=False)
        scored = score(args.kit, predictions, gold)
        result["docs"], result["missing"] = scored["docs"], scored["missing"]
        if countries == "about":
            result["countries_micro_f1"] = scored["countries"]["micro_f1"]
            result["countries_p_r"] = [scored["countries"]["micro_p"], scored["countries"]["micro_r"]]
            result["about_only"] = True
        elif countries == "mentions":
            union = work / f"{name}.union.jsonl"
            write_predictions(tagged, union, with_mentions=True)
            scored_union = score(args.kit, union, gold)
            result["countries_micro_f1"] = scored_union["countries"]["micro_f1"]
            result["countries_p_r"] = [scored_union["countries"]["micro_p"], scored_union["countries"]["micro_r"]]
            result["countries_about_only_micro_f1"] = scored["countries"]["micro_f1"]
        if topics:
            result["iptc_top_micro_f1"] = scored["topics"]["micro_f1"]
            result["iptc_p_r"] = [scored["topics"]["micro_p"], scored["topics"]["micro_r"]]
        result["target"] = TARGETS[name]
        print(json.dumps(result), flush=True)
        if args.errors:
            print_errors(gold, tagged, countries == "mentions", args.errors)
        summary[name] = result
    wall, cpu = time_tag_text(used, args.speed_seconds)
    summary["tag_text_docs_per_s"] = round(cpu)
    print(json.dumps({"tag_text_docs_per_s": round(cpu), "tag_text_docs_per_wall_s": round(wall),
                      "target": 2000, "work": str(work)}), flush=True)
    return summary


if __name__ == "__main__":
    main()
