"""Runs the dedup benchmark logic on the kit when it is present; prints figures, asserts coverage."""

import importlib.util
import json
from pathlib import Path

import pytest

KIT = Path(__file__).resolve().parents[2] / ".." / "shared" / "bench" / "dedup"
BENCH = Path(__file__).resolve().parents[2] / "bench" / "dedup_bench.py"


@pytest.fixture(scope="module")
def bench():
    if not (KIT / "docs.jsonl").exists():
        pytest.skip(f"no dedup kit at {KIT}")
    spec = importlib.util.spec_from_file_location("dedup_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_document_gets_a_decision_in_every_setting(bench, tmp_path):
    docs = bench.read_jsonl(KIT / "docs.jsonl")
    ids = [str(d["id"]) for d in docs]
    for name, (decisions, figures) in {"stream-72h": bench.run_stream(docs),
                                       "stream-72h+history": bench.run_stream(docs, spill_history=True),
                                       "daily-runs": bench.run_daily(docs)}.items():
        assert sorted(d["id"] for d in decisions) == sorted(ids)
        earlier: set[str] = set()
        for d in sorted(decisions, key=lambda d: ids.index(d["id"])):
            assert d["dup_of"] is None or d["dup_of"] in earlier
            earlier.add(d["id"])
        scores = bench.score(KIT, "gold.jsonl", bench.write_jsonl(tmp_path / f"{name}.jsonl", decisions))
        print(json.dumps({"method": name, "pairwise_f1": scores["pairwise_f1"],
                          "drop_f1": scores["drop_f1"], **figures}))


def test_every_intra_page_gets_a_prediction(bench, tmp_path):
    predictions = bench.intra_predictions(KIT)
    assert [p["id"] for p in predictions] == [p["id"] for p in bench.read_jsonl(KIT / "intra.jsonl")]
    scores = bench.score(KIT, "intra_gold.jsonl", bench.write_jsonl(tmp_path / "intra.jsonl", predictions),
                         "--task", "intra")
    print(json.dumps(scores))
