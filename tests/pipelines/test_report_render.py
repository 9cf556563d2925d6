"""The report page in headless Chromium: offline, every chart drawn as SVG, no script or console error."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from newsflow.pipelines.report import main, write_report
from newsflow.pipelines.report_data import collect, open_output
from newsflow.pipelines.report_page import chart_specs, duration, render_page
from tests.report_fixtures import demo_pipeline_output, write_sample_output

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def chromium() -> str:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    pytest.skip(f"no headless Chromium on PATH (looked for {', '.join(CHROMIUM_NAMES)})")


def run_chromium(page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """Open ``page`` headless with no network, let its scripts run (virtual time), return output."""
    command = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
               f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", "--virtual-time-budget=15000",
               *extra, page.as_uri()]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


class ChartScan(HTMLParser):
    """For each ``<div class="chart" id=...>``: whether an ``<svg>`` was drawn inside it."""

    def __init__(self) -> None:
        super().__init__()
        self.root_attrs: dict[str, str | None] = {}
        self.charts: dict[str, bool] = {}
        self._open: list[tuple[str | None, int]] = []
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "html":
            self.root_attrs = values
        elif tag == "div":
            self._depth += 1
            if values.get("class") and "chart" in (values["class"] or "").split():
                self.charts[values["id"] or ""] = False
                self._open.append((values["id"], self._depth))
        elif tag == "svg" and self._open:
            self.charts[self._open[-1][0] or ""] = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "div":
            if self._open and self._open[-1][1] == self._depth:
                self._open.pop()
            self._depth -= 1


class ResourceScan(HTMLParser):
    """Every ``src``/``href`` attribute of the markup (script bodies are text, not markup)."""

    def __init__(self) -> None:
        super().__init__()
        self.references: list[tuple[str, str | None]] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.scripts += tag == "script"
        self.references += [(tag, value) for name, value in attrs if name in ("src", "href")]


def console_messages(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def render_and_scan(html_path: Path, tmp_path: Path) -> tuple[ChartScan, list[str]]:
    result = run_chromium(html_path, tmp_path / "profile-dom", "--dump-dom")
    scan = ChartScan()
    scan.feed(result.stdout)
    return scan, console_messages(result.stderr)


@pytest.fixture(scope="module")
def sample_output(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sample_output(tmp_path_factory.mktemp("output"))


@pytest.fixture(scope="module")
def demo_output(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_pipeline_output(tmp_path_factory)


@pytest.fixture(scope="module", params=["sample", "demo"])
def output(request: pytest.FixtureRequest) -> Path:
    return request.getfixturevalue(f"{request.param}_output")


def test_page_is_self_contained(output, tmp_path):
    path = Path(write_report(str(output), str(tmp_path / "report.html")))
    page = path.read_text(encoding="utf-8")
    scan = ResourceScan()
    scan.feed(page)
    assert scan.references == []
    assert scan.scripts == 4
    specs = re.search(r'<script type="application/json" id="chart-specs">(.*?)</script>', page, re.S)
    assert specs is not None and "$schema" not in specs.group(1)
    assert 'id="summary"' in page and "What newsflow ingested" in page


def test_every_chart_renders_without_errors(output, tmp_path):
    path = Path(write_report(str(output), str(tmp_path / "report.html")))
    scan, console = render_and_scan(path, tmp_path)
    expected = set(chart_specs(collect(open_output(str(output)))))
    assert scan.charts == dict.fromkeys(expected, True)
    assert scan.root_attrs.get("data-charts-rendered") == str(len(expected))
    assert "data-errors" not in scan.root_attrs
    assert "data-warnings" not in scan.root_attrs
    assert console == []


def test_screenshot_is_not_blank(demo_output, tmp_path):
    path = Path(write_report(str(demo_output), str(tmp_path / "report.html")))
    shot = tmp_path / "shot.png"
    run_chromium(path, tmp_path / "profile-shot", f"--screenshot={shot}", "--window-size=1280,3200")
    image = Image.open(shot).convert("RGB")
    assert image.size == (1280, 3200)
    colours = image.getcolors(maxcolors=1 << 20) or []
    assert len(colours) > 200
    background = max(colours)[1]
    chart_band = image.crop((100, 350, 640, 650))
    busy = sum(1 for x in range(chart_band.width) for y in range(chart_band.height)
               if chart_band.getpixel((x, y)) not in (background, (255, 255, 255)))
    assert busy > 0.05 * chart_band.width * chart_band.height


def test_an_empty_output_still_renders_every_chart(tmp_path):
    (tmp_path / "empty").mkdir()
    out = tmp_path / "report.html"
    assert main([str(tmp_path / "empty"), "--out", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    assert "No duplicates yet: duplicates/v1 is absent or empty." in page
    assert "No feed state yet" in page
    scan, console = render_and_scan(out, tmp_path)
    assert scan.charts and all(scan.charts.values())
    assert "data-errors" not in scan.root_attrs and "data-warnings" not in scan.root_attrs
    assert console == []


def test_text_from_the_web_is_escaped(sample_output, tmp_path):
    data = collect(open_output(str(sample_output)))
    data.clusters[0]["title"] = "Breaking </script><img src=x onerror=alert(1)> & more"
    data.per_day_topic[0]["topic"] = "</script><b>topic</b>"
    page = render_page(data, output_root="/out", generated_at=data.feeds[0]["polled_at"])
    assert "<img src=x" not in page and "</script><b>" not in page
    assert "Breaking &lt;/script&gt;&lt;img src=x onerror=alert(1)&gt; &amp; more" in page
    specs = re.search(r'<script type="application/json" id="chart-specs">(.*?)</script>', page, re.S)
    assert specs is not None
    assert json.loads(specs.group(1))["chart-day-topic"]["data"]["values"][0]["topic"] == "</script><b>topic</b>"


def test_cli_refuses_a_missing_folder(tmp_path, capsys):
    assert main([str(tmp_path / "nope")]) == 2
    assert "is not a folder" in capsys.readouterr().err


@pytest.mark.parametrize(("seconds", "text"), [(None, "—"), (45, "45 s"), (300, "5 min"), (5400, "1 h 30 min"),
                                               (7200, "2 h"), (183600, "2 d 3 h")])
def test_durations_read_at_a_glance(seconds, text):
    assert duration(seconds) == text
