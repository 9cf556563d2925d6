"""Tagging benchmark: runs ``tag_job`` over each DEV set of ../shared/bench/tagging and scores it with
the kit's own ``score.py`` (as a subprocess), then times ``tag_text`` alone on one core.

    python bench/tag_bench.py [--kit PATH] [--sets reuters,bbc,ag,tr_news,lgl|none] [--work DIR] [--errors N]
                              [--multilingual] [--ml-kit PATH] [--half all|a|b]

Countries: Reuters gold is the countries a story is about, so it is scored against ``regions``;
TR-News and LGL gold is every mention, so they are scored against ``regions`` + ``mentioned_regions``.
Topics: IPTC top-level micro-F1 on BBC and AG News. ``--errors N`` prints N country / topic errors per
set (for reading, never for fitting). Prints one JSON line per set and a summary line; the speed is
tag_text alone on one core (CPU time of this single-threaded process; wall-clock rate shown too).

``--multilingual`` also scores ../shared/bench/multilingual (SIB-200 parallel sentences and 10kGNAD
German news) per language, tagging each text as the pipeline does (language from the text, nothing
declared): IPTC top-level micro-F1 per language, the non-English mean and its ratio to English; the
countries (about + mentioned; and about only) of each sentence against its English twin's, as the
share of twins with the same set among twins where either side has one; the share of texts whose language is
identified as the kit's with nothing declared (``language_acc``) and with a false declaration
(``language_acc_false``: a wrong one of en/de/fr/es/ru/zh/ja/ar, picked by id); and tag_text's speed per
language. ``--half a|b`` keeps one of two fixed
halves of DEV (by a hash of the parallel id, or of the id): tune on ``a``, confirm on ``b``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_KIT = REPO / ".." / "shared" / "bench" / "tagging"
DEFAULT_ML_KIT = REPO / ".." / "shared" / "bench" / "multilingual"

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


def in_half(key: str, half: str) -> bool:
    """Deterministic halves of DEV: ``a`` (tune) and ``b`` (confirm) by a hash of ``key``."""
    if half == "all":
        return True
    bit = int(hashlib.sha256(key.encode("utf-8")).hexdigest(), 16) % 2
    return bit == (0 if half == "a" else 1)


def _tag_as_pipeline(title: str | None, body: str, declared: str | None):
    """What TagArticles does to one article: language from the text first, then the tags."""
    from newsflow.transforms.tag.language import resolve_language
    from newsflow.transforms.tag.tag_articles import tag_text

    language = resolve_language(declared, title, body)
    return language, tag_text(title, body, language=language)


FALSE_DECLARATIONS = ("en", "de", "fr", "es", "ru", "zh", "ja", "ar")
"""Declarations a CMS template or a misconfigured feed wrongly puts on pages."""


def _false_declaration(row: dict) -> str:
    """A wrong declaration for a kit text, picked by a hash of its id (never its own language)."""
    choices = [lang for lang in FALSE_DECLARATIONS if lang != row["language"]]
    return choices[int(hashlib.sha256(row["id"].encode("utf-8")).hexdigest(), 16) % len(choices)]


def _micro(tp: int, fp: int, fn: int) -> dict:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {"f1": round(2 * p * r / (p + r), 4) if p + r else 0.0, "p": round(p, 4), "r": round(r, 4)}


def _top_levels(tags) -> set[str]:
    from newsflow.transforms.tag.topics import media_topics

    topics = media_topics()
    return {t.code for t in tags.topics if topics[t.code].level == 1}


def multilingual(kit: Path, half: str = "all", speed_seconds: float = 0.5) -> dict:
    """Per-language topic micro-F1, country agreement with the English twin, language accuracy and
    speed on the multilingual kit (see the module docstring)."""
    from newsflow.transforms.tag.language import resolve_language

    rows: dict[str, list[dict]] = {}
    for line in (kit / "sib200_dev.jsonl").open(encoding="utf-8"):
        row = json.loads(line)
        if in_half(f"sib200:{row['parallel_id']}", half):
            rows.setdefault(row["lang_script"], []).append(row)
    out: dict = {"half": half, "sib200": {}}
    countries: dict[str, dict[int, set[str]]] = {}
    about: dict[str, dict[int, set[str]]] = {}
    for lang_script, items in sorted(rows.items()):
        counts = [0, 0, 0]
        lang_ok = false_ok = 0
        for row in items:
            language, tags = _tag_as_pipeline(None, row["body"], None)
            lang_ok += language == row["language"]
            false_ok += resolve_language(_false_declaration(row), None, row["body"]) == row["language"]
            countries.setdefault(lang_script, {})[row["parallel_id"]] = set(tags.countries + tags.mentioned_countries)
            about.setdefault(lang_script, {})[row["parallel_id"]] = set(tags.countries)
            if "topics" in row:
                gold, got = set(row["topics"]), _top_levels(tags)
                counts[0] += len(gold & got)
                counts[1] += len(got - gold)
                counts[2] += len(gold - got)
        out["sib200"][lang_script] = {"topics": _micro(*counts), "language_acc": round(lang_ok / len(items), 4),
                                      "language_acc_false": round(false_ok / len(items), 4), "docs": len(items)}
    for name, table in (("countries_agree", countries), ("about_agree", about)):
        english = table.get("eng_Latn", {})
        for lang_script, by_id in table.items():
            pairs = [(english.get(pid, set()), got) for pid, got in by_id.items()]
            pairs = [(e, g) for e, g in pairs if e or g]
            same = sum(e == g for e, g in pairs)
            out["sib200"][lang_script][name] = round(same / len(pairs), 4) if pairs else None
            out["sib200"][lang_script][name.replace("agree", "pairs")] = len(pairs)
    others = [v for k, v in out["sib200"].items() if k != "eng_Latn"]
    en = out["sib200"].get("eng_Latn", {})
    mean_f1 = sum(v["topics"]["f1"] for v in others) / len(others) if others else 0.0
    agree = [v["countries_agree"] for v in others if v["countries_agree"] is not None]
    agree_about = [v["about_agree"] for v in others if v["about_agree"] is not None]
    out["summary"] = {"en_topic_f1": en.get("topics", {}).get("f1"), "others_topic_f1_mean": round(mean_f1, 4),
                      "ratio_to_en": round(mean_f1 / en["topics"]["f1"], 3) if en.get("topics", {}).get("f1") else None,
                      "countries_agree_mean": round(sum(agree) / len(agree), 4) if agree else None,
                      "about_agree_mean": round(sum(agree_about) / len(agree_about), 4) if agree_about else None,
                      "language_acc_mean": round(sum(v["language_acc"] for v in out["sib200"].values())
                                                 / len(out["sib200"]), 4),
                      "language_acc_false_mean": round(sum(v["language_acc_false"] for v in out["sib200"].values())
                                                       / len(out["sib200"]), 4)}
    counts = [0, 0, 0]
    gnad = 0
    for line in (kit / "10kgnad_dev.jsonl").open(encoding="utf-8"):
        row = json.loads(line)
        if "topics" not in row or not in_half(row["id"], half):
            continue
        gnad += 1
        _, tags = _tag_as_pipeline(None, row["body"], None)
        gold, got = set(row["topics"]), _top_levels(tags)
        counts[0] += len(gold & got)
        counts[1] += len(got - gold)
        counts[2] += len(gold - got)
    out["10kgnad"] = {"topics": _micro(*counts), "docs": gnad}
    out["speed_docs_per_cpu_s"] = _speed_per_language(rows, speed_seconds)
    return out


def _speed_per_language(rows: dict[str, list[dict]], seconds: float) -> dict[str, int]:
    """Language identification plus tag_text, docs per CPU-second, per language and mixed."""
    speeds = {}
    mixed = [row for items in rows.values() for row in items[:60]]
    for name, items in [*sorted(rows.items()), ("mixed", mixed)]:
        done, cpu_start = 0, time.process_time()
        while time.process_time() - cpu_start < seconds:
            for row in items[:200]:
                _tag_as_pipeline(None, row["body"], None)
                done += 1
        speeds[name] = round(done / (time.process_time() - cpu_start))
    return speeds


def print_multilingual(result: dict) -> None:
    for lang_script, v in result["sib200"].items():
        print(json.dumps({"set": "sib200", "half": result["half"], "lang": lang_script, "topic_f1": v["topics"]["f1"],
                          "topic_p_r": [v["topics"]["p"], v["topics"]["r"]],
                          "countries_agree": v["countries_agree"], "pairs": v["countries_pairs"],
                          "about_agree": v["about_agree"],
                          "language_acc": v["language_acc"], "language_acc_false": v["language_acc_false"],
                          "docs_per_cpu_s": result["speed_docs_per_cpu_s"].get(lang_script)}), flush=True)
    print(json.dumps({"set": "10kgnad", "half": result["half"], **result["10kgnad"]}), flush=True)
    print(json.dumps({"set": "multilingual_summary", "half": result["half"], **result["summary"],
                      "mixed_docs_per_cpu_s": result["speed_docs_per_cpu_s"]["mixed"]}), flush=True)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kit", type=Path, default=DEFAULT_KIT)
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--errors", type=int, default=0)
    parser.add_argument("--speed-seconds", type=float, default=5.0)
    parser.add_argument("--multilingual", action="store_true")
    parser.add_argument("--ml-kit", type=Path, default=DEFAULT_ML_KIT)
    parser.add_argument("--half", choices=["all", "a", "b"], default="all")
    args = parser.parse_args(argv)

    from newsflow.pipelines.tag_job import run

    work = args.work or Path(tempfile.mkdtemp(prefix="tag_bench_"))
    work.mkdir(parents=True, exist_ok=True)
    summary: dict = {}
    used = []
    for name in [] if args.sets == "none" else args.sets.split(","):
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
    if used:
        wall, cpu = time_tag_text(used, args.speed_seconds)
        summary["tag_text_docs_per_s"] = round(cpu)
        print(json.dumps({"tag_text_docs_per_s": round(cpu), "tag_text_docs_per_wall_s": round(wall),
                          "target": 2000, "work": str(work)}), flush=True)
    if args.multilingual:
        summary["multilingual"] = multilingual(args.ml_kit, args.half, min(args.speed_seconds, 0.5))
        print_multilingual(summary["multilingual"])
    return summary


if __name__ == "__main__":
    main()
