import hashlib
from datetime import UTC, datetime

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from newsflow.transforms.dedup.keys import body_hash, normalize_text
from newsflow.transforms.dedup.repeated_text import (
    RemoveRepeatedText,
    remove_repeated_text,
    repeated_line_indices,
)
from newsflow.transforms.items import Article

BODY = [
    "The harbour authority approved the new ferry terminal on Tuesday after two years of talks.",
    "Construction starts in spring and the first boats should dock there by the end of 2027.",
    "Advertisement",
    "Local fishermen said they feared losing their moorings but were promised new berths.",
    "The mayor called the vote a turning point for the old industrial waterfront district.",
]


def _page(*blocks: list[str]) -> str:
    return "\n".join(line for block in blocks for line in block)


def test_body_twice_inside_boilerplate_comes_out_once():
    header = ["Loading", "Search", "Category:Other"]
    footer = ["Comment (0)", "Trackback(0)", "Search"]
    page = _page(header, BODY, ["Comment (0)", "Trackback(0)"], BODY, footer)
    assert remove_repeated_text(page) == _page(
        header, BODY, ["Comment (0)", "Trackback(0)"], ["Advertisement"], footer)


def test_repeated_line_indices_points_at_the_second_copy_only():
    lines = ["Home", *BODY, "Share", *BODY, "Share"]
    # second copy starts at 7; its short "Advertisement" line (9) stays
    assert repeated_line_indices(lines) == [7, 8, 10, 11]


def test_legit_short_repeats_are_kept():
    lines = ["Share", "Advertisement", "NISSAN SENTRA", BODY[0], "Advertisement", "Share",
             "—", "Photo:", BODY[1], "—", "Photo:", "Share", "Read more"]
    text = "\n".join(lines)
    assert repeated_line_indices(lines) == []
    assert remove_repeated_text(text) == text


def test_an_isolated_repeated_long_line_in_a_list_is_kept():
    # one 45-character line repeated between different lines: a list, not a repeated block
    item = "Portion: 1 green, 1 red, 1 yellow, 1 teaspoon"
    lines = ["Plan A", item, "Snack: an apple", "Plan B", item, "Snack: a pear"]
    assert repeated_line_indices(lines) == []


def test_a_repeated_block_of_three_paragraphs_inside_a_page_is_dropped():
    lines = [BODY[0], BODY[1], BODY[3], "Related stories", BODY[1], BODY[3], BODY[4], "End"]
    # two paragraphs (under 300 characters) repeated in order are not yet a block
    assert repeated_line_indices(lines) == []
    lines = [BODY[0], BODY[1], BODY[3], "Related stories", BODY[0], BODY[1], BODY[3], "End"]
    assert repeated_line_indices(lines) == [4, 5, 6]


def test_a_single_repeated_paragraph_of_300_characters_is_dropped():
    paragraph = " ".join(BODY[i] for i in (0, 1, 3, 4))
    assert len(paragraph) >= 300
    assert repeated_line_indices(["Title", paragraph, "Read on", paragraph, "Footer"]) == [3]


def test_repeats_match_across_quote_dash_and_space_variants():
    a = "He said \u201cthe deal is done\u201d \u2014 and the board agreed  with him."
    b = "He said \"the deal is done\" - and the board agreed with him."
    lines = [a, BODY[0], BODY[1], "x", b, BODY[0], BODY[1]]
    assert repeated_line_indices(lines) == [4, 5, 6]


def test_body_hash_normalises_case_quotes_dashes_and_whitespace():
    assert normalize_text("  Caf\u00e9 \u2018A\u2019\u2013B\n\nC  ") == "café 'a'-b c"
    assert body_hash("Caf\u00e9 \u2018A\u2019\u2013B\nC") == body_hash("café 'a'-b   c")
    assert body_hash("x") == hashlib.sha256(b"x").hexdigest()


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _article(aid: str, body: str) -> Article:
    return Article(id=aid, url=f"https://example.org/{aid}", canonical_url=f"https://example.org/{aid}",
                   feed_url="https://example.org/feed", site="example.org", body=body,
                   body_sha256="stale", fetched_at=datetime(2026, 1, 1, tzinfo=UTC))


def test_remove_repeated_text_transform_rewrites_body_hash_and_counts():
    twice = _page(BODY, BODY)
    once = "\n".join(BODY) + "\nAdvertisement"
    clean = "\n".join(BODY)
    with TestPipeline(runner="FnApiRunner") as p:
        out = ((p | beam.Create([_article("a", twice), _article("b", clean)]) | RemoveRepeatedText()).articles
               | beam.Map(lambda a: (a.id, a.body, a.body_sha256)))
        assert_that(out, equal_to([("a", once, sha256_hex(once)), ("b", clean, sha256_hex(clean))]))
    result = p.result
    counters = result.metrics().query(
        beam.metrics.MetricsFilter().with_name("repeats.pages_changed"))["counters"]
    assert sum(c.committed for c in counters) == 1
