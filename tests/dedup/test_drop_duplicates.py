import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import TimestampedValue

from newsflow.pipelines.dedup_job import run as run_dedup_job
from newsflow.transforms.dedup.drop_duplicates import (
    DUPLICATES,
    HISTORY,
    DropDuplicates,
    _Decided,
    _Pointer,
    decode_round_state,
    encode_round_state,
    resolve_group,
)
from newsflow.transforms.dedup.history import WriteHistory, load_history
from newsflow.transforms.dedup.keys import Decision, body_hash, exact_keys, sentence_keys
from newsflow.transforms.items import Article

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
DETECTED = datetime(2026, 3, 5, 0, 0, tzinfo=UTC)


def story(name: str, n: int = 8) -> list[str]:
    return [f"The {name} report number {i} says the council of {name} met on day {i} to vote."
            for i in range(n)]


def article(aid: str, body: str, at: datetime, site: str = "a.org", url: str | None = None) -> Article:
    url = url or f"https://{site}/{aid}"
    return Article(id=aid, url=url, canonical_url=url, feed_url=f"https://{site}/feed", site=site,
                   body=body, body_sha256=body_hash(body), fetched_at=at)


def summary(outputs):
    """(main ids, duplicates as (id, duplicate_of, method, similarity, detected_at))."""
    main = outputs.articles | "MainIds" >> beam.Map(lambda a: a.id)
    dups = outputs[DUPLICATES] | "DupSummary" >> beam.Map(
        lambda d: (d.article.id, d.article.duplicate_of, d.method, d.similarity, d.detected_at))
    return main, dups


HARBOUR = "\n".join(story("harbour"))
WRAPPED = "\n".join(["Home", "Welcome to the other site front page with the latest news today.",
                     "Harbour vote (agency copy)", *story("harbour"),
                     "Copyright other media group all rights reserved worldwide since 1999."])
TEASER = " ".join(story("harbour")[:2]) + " The harbour report number 2 says the coun\u2026"
SCHOOL = "\n".join(story("school"))


def batch_articles() -> list[Article]:
    return [
        article("orig", HARBOUR, T0),
        article("wrapped", WRAPPED, T0 + timedelta(hours=1), site="other.net"),
        article("teaser", TEASER, T0 + timedelta(hours=2), site="feeds.example"),
        article("again", "A different body after an edit.", T0 + timedelta(hours=3),
                url="https://a.org/orig?utm_source=rss"),
        article("school", SCHOOL, T0 + timedelta(hours=4), site="b.org"),
    ]


def test_batch_keeps_first_arrivals_and_routes_copies_to_duplicates():
    with TestPipeline(runner="FnApiRunner") as p:
        outputs = (p | beam.Create(batch_articles())
                   | DropDuplicates(streaming=False, clock=lambda: DETECTED))
        main, dups = summary(outputs)
        assert_that(main, equal_to(["orig", "school"]), label="main")
        assert_that(dups, equal_to([
            ("wrapped", "orig", "sentence_containment", 1.0, DETECTED),
            ("teaser", "orig", "sentence_containment", 1.0, DETECTED),
            ("again", "orig", "url", 1.0, DETECTED),
        ]), label="duplicates")
        history = outputs[HISTORY] | beam.Map(lambda r: (r.doc_id, r.kind))
        counts = history | beam.combiners.Count.PerElement()
        # canonical docs: url (= canonical url: one key), body hash and 8 sentences of 17 words
        # (two keys each); the three copies of "orig" leave their exact keys only
        assert_that(counts, equal_to([
            (("orig", "url"), 4), (("orig", "body_hash"), 4), (("orig", "sentence"), 16),
            (("school", "url"), 1), (("school", "body_hash"), 1), (("school", "sentence"), 16),
        ]), label="history")


def test_batch_resolves_a_copy_of_a_copy_to_the_canonical_id():
    docs = [article("a", "\n".join(story("bridge", 4)), T0),
            article("b", "\n".join(story("bridge", 12)), T0 + timedelta(hours=1), site="b.org"),
            article("c", "\n".join(story("bridge", 12)[6:]), T0 + timedelta(hours=2), site="c.org")]
    with TestPipeline(runner="FnApiRunner") as p:
        main, dups = summary(p | beam.Create(docs) | DropDuplicates(streaming=False, clock=lambda: DETECTED))
        assert_that(main, equal_to(["a"]), label="main")
        assert_that(dups, equal_to([("b", "a", "sentence_containment", 1.0, DETECTED),
                                    ("c", "a", "sentence_containment", 1.0, DETECTED)]), label="dups")


def _chain() -> list[Article]:
    """a <- b <- c <- d: each shares half of its sentences with the one before, nothing further."""
    lines = story("chain", 20)
    return [article("a", "\n".join(lines[0:4]), T0),
            article("b", "\n".join(lines[0:10]), T0 + timedelta(hours=1), site="b.org"),
            article("c", "\n".join(lines[5:15]), T0 + timedelta(hours=2), site="c.org"),
            article("d", "\n".join(lines[10:20]), T0 + timedelta(hours=3), site="d.org")]


@pytest.mark.parametrize("rounds, expected, unresolved", [
    (5, [("b", "a"), ("c", "a"), ("d", "a")], 0),
    # one round cannot reach the canonical doc from c and d: they name the copy passed on the way
    (1, [("b", "a"), ("c", "b"), ("d", "c")], 2),
])
def test_chain_resolution_rounds(rounds, expected, unresolved):
    with TestPipeline(runner="FnApiRunner") as p:
        outputs = p | beam.Create(_chain()) | DropDuplicates(streaming=False, resolve_rounds=rounds)
        main = outputs.articles | "MainIds" >> beam.Map(lambda a: a.id)
        dups = outputs[DUPLICATES] | beam.Map(lambda d: (d.article.id, d.article.duplicate_of))
        assert_that(main, equal_to(["a"]), label="main")
        assert_that(dups, equal_to(expected), label="dups")
    counters = p.result.metrics().query(
        beam.metrics.MetricsFilter().with_name("dedup.unresolved_chains"))["counters"]
    assert sum(c.committed for c in counters) == unresolved


def _stream(items: list[Article]) -> TestStream:
    stream = TestStream()
    for item in items:
        at = item.fetched_at.timestamp()
        stream = stream.advance_watermark_to(at - 1).add_elements([TimestampedValue(item, at)])
    return stream.advance_watermark_to_infinity()


def _streaming_options() -> PipelineOptions:
    options = PipelineOptions()
    options.view_as(StandardOptions).streaming = True
    return options


def test_streaming_horizon_a_copy_inside_is_dropped_one_after_is_not():
    items = [article("orig", HARBOUR, T0),
             article("soon", HARBOUR + "\nAdvertisement", T0 + timedelta(hours=2), site="b.org"),
             article("late", HARBOUR + "\nMore", T0 + timedelta(hours=80), site="c.org")]
    with TestPipeline(runner="BundleBasedDirectRunner", options=_streaming_options()) as p:
        main, dups = summary(p | _stream(items) | DropDuplicates(clock=lambda: DETECTED))
        assert_that(main, equal_to(["orig", "late"]), label="main")
        assert_that(dups, equal_to([("soon", "orig", "sentence_containment", 1.0, DETECTED)]),
                    label="dups")


def test_streaming_after_the_horizon_history_catches_the_copy(tmp_path):
    root = str(tmp_path)
    with TestPipeline(runner="FnApiRunner") as p:
        outputs = p | "Day1" >> beam.Create([article("orig", HARBOUR, T0)]) | DropDuplicates(streaming=False)
        _ = outputs[HISTORY] | WriteHistory(root, "day1")
    items = [article("late", HARBOUR + "\nMore", T0 + timedelta(hours=80), site="c.org")]
    with TestPipeline(runner="BundleBasedDirectRunner", options=_streaming_options()) as p:
        main, dups = summary(p | _stream(items) | DropDuplicates(history_root=root, clock=lambda: DETECTED))
        assert_that(main, equal_to([]), label="main")
        assert_that(dups, equal_to([("late", "orig", "sentence_containment", 1.0, DETECTED)]),
                    label="dups")


def test_once_mode_second_run_re_emits_nothing(tmp_path):
    root = str(tmp_path)
    first = batch_articles()
    with TestPipeline(runner="FnApiRunner") as p:
        outputs = p | beam.Create(first) | DropDuplicates(history_root=root, streaming=False)
        _ = outputs[HISTORY] | WriteHistory(root, "run1")
    index = load_history(root)
    assert index.exact(exact_keys(body="", url="https://a.org/orig")[0][1]) == "orig"
    assert sorted(index.sentence_docs(sentence_keys(SCHOOL)[0])) == ["school"]
    # the next day the feeds list the same stories again (re-fetched)
    again = [article(a.id, a.body, a.fetched_at + timedelta(days=1), site=a.site, url=a.url) for a in first]
    with TestPipeline(runner="FnApiRunner") as p:
        main, dups = summary(p | beam.Create(again)
                             | DropDuplicates(history_root=root, streaming=False, clock=lambda: DETECTED))
        assert_that(main, equal_to([]), label="main")
        assert_that(dups, equal_to([
            ("orig", "orig", "url", 1.0, DETECTED), ("wrapped", "orig", "url", 1.0, DETECTED),
            ("teaser", "orig", "url", 1.0, DETECTED), ("again", "orig", "url", 1.0, DETECTED),
            ("school", "school", "url", 1.0, DETECTED)]), label="dups")


@pytest.mark.parametrize("pointer, size", [
    (_Pointer(0, "0123456789abcdef", True), 23),          # canonical: flags, ts, own id
    (_Pointer(0, "root", True), 15),                      # resolved duplicate: + canonical id
    (_Pointer(-77, None, False, "via"), 22),              # unresolved: + target uid, via id
])
def test_round_state_codec_round_trips_compactly(pointer, size):
    doc_id = "0123456789abcdef" if pointer.target_id == "0123456789abcdef" else "me"
    data = encode_round_state(pointer, 1_700_000_000, doc_id)
    assert len(data) == size
    assert decode_round_state(data) == (pointer, 1_700_000_000, doc_id)


@pytest.mark.parametrize("kwargs, message", [
    ({"horizon": timedelta(0)}, "horizon"),
    ({"horizon": 3600}, "horizon"),
    ({"containment_threshold": 0.0}, "containment_threshold"),
    ({"containment_threshold": 1.5}, "containment_threshold"),
    ({"history_root": ""}, "history_root"),
    ({"resolve_rounds": 0}, "resolve_rounds"),
])
def test_constructor_validates(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DropDuplicates(**kwargs)


def test_dedup_job_writes_one_decision_per_document(tmp_path):
    lines = [
        {"id": "x1", "ts": "2026-03-02T08:00:00Z", "site": "a.org", "text": HARBOUR},
        {"id": "x2", "ts": "2026-03-02T09:00:00Z", "site": "b.org", "text": WRAPPED},
        {"id": "x3", "ts": "2026-03-02T10:00:00Z", "site": "b.org", "title": "School", "text": SCHOOL},
        {"id": "x4", "ts": "2026-03-02T11:00:00Z", "text": TEASER},
    ]
    src, dst = tmp_path / "docs.jsonl", tmp_path / "out" / "decisions.jsonl"
    src.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    result = run_dedup_job(str(src), str(dst))
    assert result == {"documents": 4, "duplicates": 2, "output": str(dst)}
    assert [json.loads(line) for line in dst.read_text().splitlines()] == [
        {"id": "x1", "dup_of": None}, {"id": "x2", "dup_of": "x1"},
        {"id": "x3", "dup_of": None}, {"id": "x4", "dup_of": "x1"}]


def test_dedup_job_with_history_root_re_emits_nothing_on_a_second_run(tmp_path):
    lines = [{"id": "x1", "ts": "2026-03-02T08:00:00Z", "site": "a.org", "text": HARBOUR},
             {"id": "x2", "ts": "2026-03-02T09:00:00Z", "site": "b.org", "text": SCHOOL}]
    src = tmp_path / "docs.jsonl"
    src.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    root = str(tmp_path / "root")
    first = run_dedup_job(str(src), str(tmp_path / "d1.jsonl"), ["--history-root", root, "--run-id", "r1"])
    assert first["history"] == f"{root}/_state/dedup/v1/part-r1.parquet"
    assert first["duplicates"] == 0
    second = run_dedup_job(str(src), str(tmp_path / "d2.jsonl"), ["--history-root", root, "--run-id", "r2"])
    assert second["duplicates"] == 2
    assert [json.loads(line) for line in (tmp_path / "d2.jsonl").read_text().splitlines()] == [
        {"id": "x1", "dup_of": "x1"}, {"id": "x2", "dup_of": "x2"}]


def test_dedup_job_rejects_a_bad_line_with_its_number(tmp_path):
    src = tmp_path / "docs.jsonl"
    src.write_text('{"id": "a", "ts": "2026-03-02T08:00:00Z", "text": "x"}\n{"id": "b"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"docs.jsonl:2: expected an object with id, ts and text"):
        run_dedup_job(str(src), str(tmp_path / "out.jsonl"))


def test_batch_arrival_keeps_publication_order_within_a_day_of_the_run():
    from newsflow.transforms.dedup.drop_duplicates import PUBLICATION_ORDER_WINDOW, batch_arrival

    reference = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    two_years_ago = datetime(2024, 7, 31, 7, 10, tzinfo=UTC)
    original, copy = batch_arrival(two_years_ago, reference), batch_arrival(
        two_years_ago + timedelta(hours=4, minutes=35), reference)
    assert reference - PUBLICATION_ORDER_WINDOW < original < copy < reference
    assert (copy - original).total_seconds() > 0.001  # kept apart at the microseconds dedup orders by
    assert batch_arrival(None, reference) == reference
    assert batch_arrival(reference + timedelta(hours=1), reference) == reference
    recent = batch_arrival(reference - timedelta(minutes=10), reference)
    assert reference - timedelta(minutes=10) < recent < reference


def test_batch_same_id_at_the_same_arrival_keeps_the_least_url_and_feed_as_the_record():
    # one article listed by two feeds: the same id and arrival time, so the same dedup node (uid)
    first = article("same", HARBOUR, T0)
    second = replace(first, feed_url="https://a.org/world.xml")
    with TestPipeline(runner="FnApiRunner") as p:
        outputs = p | beam.Create([second, first]) | DropDuplicates(streaming=False, clock=lambda: DETECTED)
        main = outputs.articles | "MainFeeds" >> beam.Map(lambda a: (a.id, a.feed_url))
        dups = outputs[DUPLICATES] | "DupFeeds" >> beam.Map(
            lambda d: (d.article.id, d.article.feed_url, d.article.duplicate_of, d.method, d.similarity))
        kinds = outputs[HISTORY] | beam.Map(lambda r: (r.doc_id, r.kind)) | beam.combiners.Count.PerElement()
        assert_that(main, equal_to([("same", "https://a.org/feed")]), label="main")
        assert_that(dups, equal_to([("same", "https://a.org/world.xml", "same", "canonical_url", 1.0)]),
                    label="dups")
        assert_that(kinds, equal_to([(("same", "url"), 1), (("same", "body_hash"), 1),
                                     (("same", "sentence"), 16)]), label="history")


def test_resolve_group_answers_queries_with_the_pointer_here_or_leaves_them_as_they_are():
    decision = Decision(7, "copy", dup_of_uid=5, similarity=1.0, method="url")
    query = _Decided(7, ("https://b.org/c", "f"), "copy", _Pointer(5, None, False), decision)
    here = (("https://a.org/x", "f"), _Pointer(5, "orig", True), "orig")
    later_copy = (("https://a.org/y", "f"), _Pointer(5, None, False), "orig")
    [answered] = resolve_group((5, [("query", query), ("self", later_copy), ("self", here)]))
    assert answered == query._replace(pointer=_Pointer(5, "orig", True))
    assert list(resolve_group((5, [("query", query)]))) == [query]
