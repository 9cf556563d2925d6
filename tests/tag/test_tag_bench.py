"""Runs the tagging benchmark on the DEV kit when it is present and prints the figures (no thresholds:
the figures are for reading; acceptance runs on the HOLDOUT half elsewhere)."""

import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
KIT = REPO / ".." / "shared" / "bench" / "tagging"


def _load_bench():
    spec = importlib.util.spec_from_file_location("tag_bench", REPO / "bench" / "tag_bench.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_tag_bench_runs_and_prints_figures(tmp_path, capsys):
    if not (KIT / "score.py").exists():
        pytest.skip(f"tagging kit not found at {KIT}")
    summary = _load_bench().main(["--kit", str(KIT), "--work", str(tmp_path), "--speed-seconds", "1"])
    printed = capsys.readouterr().out
    with capsys.disabled():
        print("\n" + printed)
    assert set(summary) == {"reuters", "bbc", "ag", "tr_news", "lgl", "tag_text_docs_per_s"}
    for name in ("reuters", "tr_news", "lgl"):
        assert summary[name]["missing"] == 0
        assert 0.0 <= summary[name]["countries_micro_f1"] <= 1.0
    for name in ("bbc", "ag"):
        assert summary[name]["missing"] == 0
        assert 0.0 <= summary[name]["iptc_top_micro_f1"] <= 1.0
    assert summary["tag_text_docs_per_s"] > 0
    lines = [json.loads(line) for line in printed.splitlines() if line.startswith("{")]
    assert [line.get("set") for line in lines[:5]] == ["reuters", "bbc", "ag", "tr_news", "lgl"]
