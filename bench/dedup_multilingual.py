"""Dedup on copies in 30 languages: stories built from the multilingual kit, copies made by rule.

The English syndication kit (``dedup_bench.py``) only holds English text. This bench builds the
same kinds of copy from the parallel sentences of ``shared/bench/multilingual/sib200_dev.jsonl``
(Flores-200: the same sentences in 30 languages and scripts, CJK, Arabic, Devanagari, Thai and
Ethiopic among them) and the German news of ``10kgnad_dev.jsonl``, runs newsflow's dedup over one
mixed-language stream and scores it with the dedup kit's ``score.py``, per language:

* a story: six consecutive sentences of one language (by ``parallel_id``) as three paragraphs,
  its first sentence's first words as the title; a 10kGNAD article is a German story as it is;
* its copies (by a seeded rule per story): ``exact``, ``format`` (paragraphs merged, spaces
  doubled), ``wrapped`` (a site's header and footer: sentences of that language no story uses,
  the same on every page of the site), ``headline`` (another title, a byline, an agency dateline),
  ``truncated`` (the first half of the paragraphs and a cut marker), ``teaser`` (the first 40-70 %
  of the characters, cut with an ellipsis) and ``inserts`` (short lines between paragraphs);
* arrival: copies 0-6 h after the original for 70 %, 6-24 h for 20 %, 1-3 days for 10 %.

No pages or sentences are stored: the stream is built in memory from the kit at each run.
``--half a|b`` scores one half of the stories (clusters ranked by the sha256 of their id, as in
``dedup_bench.split_half``). Speed: documents per CPU-second of key extraction and decision,
per language, one core.

Usage: ``python bench/dedup_multilingual.py [--kit ../shared/bench] [--half a|b]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import tempfile
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dedup_bench import read_jsonl, run_stream, score, split_half, throughput, write_jsonl

DEFAULT_KITS = Path(__file__).resolve().parents[1] / ".." / "shared" / "bench"
STORY_SENTENCES = 6
WRAPPER_SENTENCES = 40
"""Per language, the first sentences (by ``parallel_id``) are kept for site wrappers, not stories."""
SITES = 4
KINDS = ("exact", "format", "wrapped", "headline", "truncated", "teaser", "inserts")
INSERTS = ("***", "Video", "▶ 02:14", "Foto: dpa", "+++")
UNSPACED = {"zh", "ja", "th"}
"""Languages written without spaces between sentences."""
T0 = datetime(2026, 6, 1, tzinfo=UTC)


def _join(sentences: list[str], language: str) -> str:
    return ("" if language in UNSPACED else " ").join(sentences)


def _title(sentence: str, language: str) -> str:
    if language in UNSPACED:
        return sentence[: max(8, len(sentence) // 3)]
    return " ".join(sentence.split()[:7])


def build_stories(kits: Path) -> list[dict[str, Any]]:
    """Stories (``id``, ``language``, ``title``, ``paragraphs``, ``wrapper``) from the kit."""
    by_script: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in read_jsonl(kits / "multilingual" / "sib200_dev.jsonl"):
        by_script[row["lang_script"]].append(row)
    stories: list[dict[str, Any]] = []
    for script, rows in sorted(by_script.items()):
        rows.sort(key=lambda r: r["parallel_id"])
        language = rows[0]["language"]
        sentences = [r["body"] for r in rows]
        wrappers = sentences[:WRAPPER_SENTENCES]
        sites = [(wrappers[4 * s: 4 * s + 2], wrappers[4 * s + 2: 4 * s + 4]) for s in range(SITES)]
        body = sentences[WRAPPER_SENTENCES:]
        for n in range(len(body) // STORY_SENTENCES):
            chunk = body[n * STORY_SENTENCES:(n + 1) * STORY_SENTENCES]
            stories.append({"id": f"{script}:{n}", "language": language, "title": _title(chunk[0], language),
                            "paragraphs": [_join(chunk[i:i + 2], language) for i in range(0, len(chunk), 2)],
                            "sites": sites})
    gnad = read_jsonl(kits / "multilingual" / "10kgnad_dev.jsonl")
    german = next(s["sites"] for s in stories if s["language"] == "de")
    for n, row in enumerate(gnad):
        sentences = row["body"].split(". ")
        paragraphs = [". ".join(sentences[i:i + 3]) for i in range(0, len(sentences), 3)]
        stories.append({"id": f"10kgnad:{n}", "language": "de-news", "title": _title(paragraphs[0], "de"),
                        "paragraphs": paragraphs, "sites": german})
    return stories


def _text(title: str, paragraphs: list[str]) -> str:
    return "\n".join([title, *paragraphs])


def copy_of(story: dict[str, Any], kind: str, rng: random.Random) -> tuple[str, int]:
    """The text of one copy of ``story`` and the site it appears on."""
    title, paragraphs, language = story["title"], story["paragraphs"], story["language"]
    site = rng.randrange(SITES)
    if kind == "exact":
        return _text(title, paragraphs), site
    if kind == "format":
        merged = [_join(paragraphs[i:i + 2], language) for i in range(0, len(paragraphs), 2)]
        return _text(title, [p.replace(" ", "  ") for p in merged]), site
    if kind == "wrapped":
        header, footer = story["sites"][site]
        return "\n".join([*header, title, *paragraphs, *footer]), site
    if kind == "headline":
        other = _title(paragraphs[-1], language)
        return "\n".join([other, "AFP", "(AFP) — " + paragraphs[0], *paragraphs[1:]]), site
    if kind == "truncated":
        keep = max(1, len(paragraphs) // 2 + rng.randrange(2))
        return _text(title, [*paragraphs[:keep], "…"]), site
    if kind == "teaser":
        full = _join(paragraphs, language)
        return title + "\n" + full[: int(len(full) * rng.uniform(0.4, 0.7))].rstrip() + "…", site
    lines = [title]
    for paragraph in paragraphs:
        lines += [paragraph, rng.choice(INSERTS)]
    return "\n".join(lines), site


def _delay(rng: random.Random) -> timedelta:
    roll = rng.random()
    hours = rng.uniform(0, 6) if roll < 0.7 else rng.uniform(6, 24) if roll < 0.9 else rng.uniform(24, 72)
    return timedelta(hours=hours)


def _stream_doc(story: dict[str, Any], doc_id: str, ts: datetime, site: int, text: str, kind: str,
                ) -> tuple[datetime, str, dict[str, Any], dict[str, Any]]:
    """(arrival, id, document, gold row) of one document of ``story``."""
    doc = {"id": doc_id, "ts": ts.isoformat().replace("+00:00", "Z"),
           "site": f"{story['language']}-site{site}.example", "text": text, "language": story["language"]}
    return ts, doc_id, doc, {"id": doc_id, "cluster": story["id"], "kind": kind}


def build_stream(stories: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Documents (``id``, ``ts``, ``site``, ``text``, ``language``) in arrival order and their gold."""
    docs = []
    for n, story in enumerate(stories):
        rng = random.Random(hashlib.sha256(story["id"].encode()).digest())
        start = T0 + timedelta(minutes=7 * n)
        docs.append(_stream_doc(story, f"{story['id']}:original", start, rng.randrange(SITES),
                                _text(story["title"], story["paragraphs"]), "original"))
        for i, kind in enumerate(rng.sample(KINDS, rng.randrange(4))):
            text, site = copy_of(story, kind, rng)
            docs.append(_stream_doc(story, f"{story['id']}:{i}:{kind}", start + _delay(rng), site, text, kind))
    docs.sort(key=lambda d: (d[0], d[1]))
    return [d[2] for d in docs], [d[3] for d in docs]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kit", type=Path, default=DEFAULT_KITS, help="the folder holding multilingual/ and dedup/")
    ap.add_argument("--half", choices=["a", "b"], default=None)
    args = ap.parse_args(argv)
    if not (args.kit / "multilingual" / "sib200_dev.jsonl").exists():
        print(f"no multilingual kit under {args.kit}", file=sys.stderr)
        return 2
    docs, gold = build_stream(build_stories(args.kit))
    if args.half:
        ids = split_half(gold, args.half)
        docs, gold = [d for d in docs if d["id"] in ids], [g for g in gold if g["id"] in ids]
    decisions, figures = run_stream(docs)
    out = Path(tempfile.mkdtemp(prefix="dedup-multilingual-"))
    scorer = args.kit / "dedup"
    languages = sorted({d["language"] for d in docs})
    rows = []
    for language in [None, *languages]:
        ids = {d["id"] for d in docs if language is None or d["language"] == language}
        name = language or "all"
        g = write_jsonl(out / f"gold-{name}.jsonl", (x for x in gold if x["id"] in ids))
        p = write_jsonl(out / f"pred-{name}.jsonl", (x for x in decisions if x["id"] in ids))
        s = score(scorer, g, p, "--method", f"multilingual {name}" + (f" half {args.half}" if args.half else ""))
        subset = [d for d in docs if d["id"] in ids]
        rows.append({"language": name, "docs": len(subset), "pairwise_precision": s["pairwise_precision"],
                     "pairwise_recall": s["pairwise_recall"], "pairwise_f1": s["pairwise_f1"],
                     "drop_f1": s["drop_f1"], "docs_per_cpu_s": round(throughput(subset)),
                     "recall_by_kind": s["recall_by_kind"]})
    rows[0].update({k: round(v, 1) for k, v in figures.items()})
    for row in rows:
        print(json.dumps(row, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
