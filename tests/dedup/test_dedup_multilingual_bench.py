"""The multilingual dedup bench on the kit's parallel sentences, when the kit is present: copies of
German, Russian, Japanese and Chinese stories (every kind) are found, no two stories merge."""

import importlib.util
import sys
from collections import Counter
from pathlib import Path

import pytest

KITS = Path(__file__).resolve().parents[2] / ".." / "shared" / "bench"
BENCH = Path(__file__).resolve().parents[2] / "bench" / "dedup_multilingual.py"
LANGUAGES = {"de", "ru", "ja", "zh"}


@pytest.fixture(scope="module")
def bench():
    if not (KITS / "multilingual" / "sib200_dev.jsonl").exists():
        pytest.skip(f"no multilingual kit under {KITS}")
    sys.path.insert(0, str(BENCH.parent))
    spec = importlib.util.spec_from_file_location("dedup_multilingual", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_copies_in_four_scripts_are_found_and_stories_stay_apart(bench, tmp_path):
    stories = [s for s in bench.build_stories(KITS) if s["language"] in LANGUAGES]
    docs, gold = bench.build_stream(stories)
    assert {g["kind"] for g in gold} == {"original", *bench.KINDS}
    assert Counter(g["kind"] for g in gold)["original"] == len(stories)
    decisions, _ = bench.run_stream(docs)
    assert [d["id"] for d in decisions] == [d["id"] for d in docs]
    scores = bench.score(KITS / "dedup", bench.write_jsonl(tmp_path / "gold.jsonl", gold),
                         bench.write_jsonl(tmp_path / "pred.jsonl", decisions))
    assert scores["pairwise_precision"] == 1.0
    assert scores["pairwise_recall"] >= 0.97
    assert min(scores["recall_by_kind"].values()) >= 0.9
