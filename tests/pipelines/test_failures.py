"""Failure injection: a page that makes any stage after extraction raise becomes a dead letter with its
stage, and the rest of the run is written (the once job on the bundled demo site, real HTTP and runner)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from newsflow.pipelines import once
from newsflow.pipelines.demo_server import DemoServer, bundled_site
from tests.pipelines.test_end_to_end import EXAMPLE_URL, articles, dataset_rows, demo_argv

pytestmark = pytest.mark.slow

EXAMPLE_TITLE = "ROK, Japan, US sign trilateral security framework in Tokyo"


class InjectedFailure(RuntimeError):
    pass


def failing_for_example(original: Callable[..., Any], is_example: Callable[..., bool]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if is_example(*args, **kwargs):
            raise InjectedFailure("injected for the example page")
        return original(*args, **kwargs)
    return wrapper


def about_example_article(article: Any, *_: Any, **__: Any) -> bool:
    return article.url == EXAMPLE_URL


INJECTIONS = {
    # stage: (module, function, predicate on the function's arguments)
    "dedup/repeats": ("newsflow.transforms.dedup.repeated_text", "remove_repeated_text",
                      lambda text, *_, **__: "first trilateral ministerial meeting" in text),
    "dedup/keys": ("newsflow.transforms.dedup.drop_duplicates", "_article_keys", about_example_article),
    "tag": ("newsflow.transforms.tag.tag_articles", "tag_text",
            lambda title, *_, **__: title == EXAMPLE_TITLE),
    "write": ("newsflow.pipelines.ingest", "article_row", about_example_article),
}


@pytest.mark.parametrize("where", sorted(INJECTIONS))
def test_a_failure_at_each_stage_is_a_dead_letter_and_loses_nothing_else(where: str, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch):
    module_name, function, is_example = INJECTIONS[where]
    module = __import__(module_name, fromlist=[function])
    monkeypatch.setattr(module, function, failing_for_example(getattr(module, function), is_example))
    output = tmp_path / "out"
    with DemoServer(bundled_site()) as server:
        summary = once.run(demo_argv(output, server.replay_prefix))
    stage = where.split("/")[0]
    failures = [(d["kind"], d["stage"], d["reason"], d["url"], d["error_class"], d["message"])
                for d in dataset_rows(output, "deadletters") if d["reason"] == "unexpected_error"]
    assert failures == [("error", stage, "unexpected_error", EXAMPLE_URL, "InjectedFailure",
                         "injected for the example page")]
    titles = [a["title"] for a in articles(output)]
    assert EXAMPLE_TITLE not in titles and len(titles) == 7  # the demo writes 8 articles without failures
    assert summary.counters[f"{stage}.failed.unexpected_error"] == 1
    # the demo's own two dead letters are still there, beside the injected one
    assert summary.by_prefix("deadlettered.") == {"feed_without_entries": 1, "http_404": 1, "unexpected_error": 1}
