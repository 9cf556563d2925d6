"""extract_job on pages written here (exact output lines) and over the extraction kit when present."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from newsflow.pipelines import extract_job
from newsflow.pipelines.cli import main as cli_main

KIT = Path(__file__).resolve().parents[2] / ".." / "shared" / "bench" / "extraction"
PARAS = [
    "The old harbour bridge reopened to traffic on Monday morning after eighteen months of repairs, "
    "the city council said in a statement.",
    "Engineers replaced all of the steel cables and resurfaced the deck, which had been closed since "
    "a barge struck one of its piers in the spring of last year.",
]
HTML = ('<html lang="en"><head><title>Harbour bridge reopens</title>'
        '<meta property="article:published_time" content="2026-11-27T08:30:00Z"></head><body><article>'
        "<h1>Harbour bridge reopens</h1>" + "".join(f"<p>{p}</p>" for p in PARAS) + "</article></body></html>")


def read_lines(path: Path) -> dict[str, dict]:
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return {r["id"]: r for r in records}


def expected(page_id: str, url: str) -> dict:
    return {"id": page_id, "url": url, "title": "Harbour bridge reopens",
            "published_at": "2026-11-27T08:30:00+00:00", "language": "en", "text": "\n".join(PARAS)}


@pytest.mark.parametrize("workers", [0, 2])
def test_folder_of_html_and_gzip_pages(tmp_path: Path, workers: int) -> None:
    folder = tmp_path / "pages"
    folder.mkdir()
    (folder / "a.html").write_text(HTML, encoding="utf-8")
    (folder / "b.html.gz").write_bytes(gzip.compress(HTML.encode("utf-8")))
    (folder / "empty.html").write_text("<html><body></body></html>", encoding="utf-8")
    (folder / "notes.txt").write_text("not a page", encoding="utf-8")
    counts = extract_job.run(str(folder), str(tmp_path / "out.jsonl"), workers=workers)
    assert counts == {"pages": 3, "articles": 2, "skipped": 1, "failed": 0, "output": str(tmp_path / "out.jsonl")}
    lines = read_lines(tmp_path / "out.jsonl")
    assert lines == {
        "a": expected("a", (folder / "a.html").resolve().as_uri()),
        "b": expected("b", (folder / "b.html.gz").resolve().as_uri()),
        "empty": {"id": "empty", "url": (folder / "empty.html").resolve().as_uri(), "title": None,
                  "published_at": None, "language": None, "text": ""},
    }


def test_jsonl_input_keeps_every_id(tmp_path: Path) -> None:
    source = tmp_path / "pages.jsonl"
    source.write_text("\n".join(json.dumps(r) for r in [
        {"id": "x1", "url": "https://example.com/news/bridge", "html": HTML},
        {"id": "x2", "html": ""},
    ]) + "\n\n", encoding="utf-8")
    counts = extract_job.run(str(source), str(tmp_path / "out.jsonl"))
    assert (counts["articles"], counts["skipped"], counts["failed"]) == (1, 1, 0)
    lines = read_lines(tmp_path / "out.jsonl")
    assert lines["x1"] == expected("x1", "https://example.com/news/bridge")
    assert lines["x2"] == {"id": "x2", "url": f"{source}#x2", "title": None, "published_at": None,
                           "language": None, "text": ""}


def test_bad_jsonl_line_fails_before_the_pipeline(tmp_path: Path) -> None:
    source = tmp_path / "pages.jsonl"
    source.write_text('{"id": "ok", "html": ""}\n{"html": "no id"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"pages.jsonl:2: expected an object with an 'id'"):
        extract_job.run(str(source), str(tmp_path / "out.jsonl"))


def test_missing_input_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="extract input not found"):
        extract_job.run(str(tmp_path / "nowhere"), str(tmp_path / "out.jsonl"))


def test_newsflow_extract_over_the_kit_prints_its_score(tmp_path: Path) -> None:
    if not (KIT / "score.py").exists():
        pytest.skip(f"extraction kit not present at {KIT}")
    out = tmp_path / "pred.jsonl"
    assert cli_main(["extract", "--input", str(KIT / "html"), "--output", str(out)]) == 0
    n_pages = len(json.loads((KIT / "ground-truth.json").read_text(encoding="utf-8")))
    assert len(read_lines(out)) == n_pages
    scored = subprocess.run([sys.executable, str(KIT / "score.py"), str(out), "--bootstrap", "0", "--strict"],
                            check=True, capture_output=True, text=True)
    print("newsflow extract on the kit:", scored.stdout.strip())
