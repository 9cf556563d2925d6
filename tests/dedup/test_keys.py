from datetime import UTC, datetime, timedelta

import pytest

from newsflow.transforms.dedup.history import (
    HistoryIndex,
    HistoryRow,
    load_exact_keys,
    load_history,
    write_history,
)
from newsflow.transforms.dedup.keys import (
    MAX_DOCS_PER_KEY,
    MAX_STORED_KEYS,
    SENTENCE,
    Deduplicator,
    KeyState,
    doc_keys,
    exact_keys,
    group_evidence,
    history_keys,
    key64,
    key_containment,
    sentence_keys,
    split_sentences,
)

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def story(name: str, n: int = 8) -> list[str]:
    """n distinct sentences of one made-up story (each at least six words)."""
    return [f"The {name} report number {i} says the council of {name} met on day {i} to vote."
            for i in range(n)]


def text(*blocks: list[str]) -> str:
    return "\n".join(line for block in blocks for line in block)


def template(site: str) -> tuple[list[str], list[str]]:
    header = ["Home", "News", f"Welcome to the {site} front page with all the latest local news.",
              f"Sign up for the {site} morning briefing delivered to your inbox."]
    footer = [f"Copyright {site} media group all rights reserved worldwide since 1999.",
              f"Read our {site} privacy policy and cookie settings before you continue.", "Share"]
    return header, footer


def run(docs: list[tuple[str, datetime, str, str]], **kwargs) -> dict[str, str | None]:
    dedup = Deduplicator(**kwargs)
    out = {}
    for doc_id, ts, site, body in docs:
        _, canonical, _ = dedup.add(doc_keys(doc_id, ts, body, site=site))
        out[doc_id] = canonical
    return out


def test_sentence_keys_normalise_and_skip_short_and_truncated_sentences():
    a = "He said \u201cthe harbour deal is finally done\u201d. Short one. It was cut off in the mid\u2026"
    b = 'HE SAID "the harbour deal is finally   done"!'
    assert split_sentences(a) == ["He said \u201cthe harbour deal is finally done\u201d.", "Short one.",
                                  "It was cut off in the mid\u2026"]
    assert sentence_keys(a) == [key64("he said the harbour deal is finally done")]
    assert sentence_keys(b) == sentence_keys(a)


def test_sentence_keys_hash_the_words_of_each_sentence_whatever_the_script_and_spacing():
    body = ("Alpha beta gamma delta epsilon zeta.\t \nEta theta iota kappa lambda mu?\u2028"
            "We were told that the mayor would...  \n"
            "Die B\u00fcrger von K\u00f6ln stimmten am Sonntag \u2013 mit 62 % \u2013 f\u00fcr den Plan.\u00a0"
            "Version 2.0 of the app shipped today...with bugs in it\r\n"
            "snake_case names like foo_bar count as one word each here!\n"
            "\u6771\u4eac\u306e\u5e02\u6c11\u3002broken \ud800 text has six words in it")
    assert sentence_keys(body) == [key64(s) for s in (
        "alpha beta gamma delta epsilon zeta", "eta theta iota kappa lambda mu",
        "die b\u00fcrger von k\u00f6ln stimmten am sonntag mit", "stimmten am sonntag mit 62 f\u00fcr den plan",
        "version 2 0 of the app shipped today", "the app shipped today with bugs in it",
        "snake_case names like foo_bar count as one word each here",
        "broken text has six words in it")]


def test_exact_keys_kinds_and_url_normalisation():
    keys = exact_keys(body="Body", url="https://Example.org/a?utm_source=x", canonical_url=None,
                      guid="g-1", site="example.org")
    assert [kind for kind, _ in keys] == ["url", "guid", "body_hash"]
    assert keys[0] == exact_keys(body="", url="https://example.org/a")[0]
    assert exact_keys(body="  ") == []
    # a canonical URL equal to the URL is one key; URL and canonical URL share one key space
    assert [k for k, _ in exact_keys(body="", url="https://a.org/x", canonical_url="https://a.org/x#top")] == ["url"]
    both = exact_keys(body="", url="https://m.a.org/x", canonical_url="https://a.org/x")
    assert both[1] == ("canonical_url", exact_keys(body="", url="https://a.org/x")[0][1])


def test_a_canonical_url_matches_an_earlier_url():
    dedup = Deduplicator()
    dedup.add(doc_keys("a", T0, "First body text.", url="https://a.org/story"))
    decision, canonical, _ = dedup.add(doc_keys("b", T0 + timedelta(hours=1), "Mobile page body.",
                                                url="https://m.a.org/story",
                                                canonical_url="https://a.org/story"))
    assert (canonical, decision.method) == ("a", "canonical_url")


def test_containment_is_measured_from_the_shorter_side():
    assert key_containment(3, 3, 40) == 1.0
    assert key_containment(3, 40, 4) == 0.75
    assert key_containment(0, 0, 5) == 0.0


def test_teaser_then_full_article_and_full_article_then_teaser():
    full = text(["Harbour vote"], story("harbour"))
    teaser = story("harbour")[0] + " " + story("harbour")[1] + " " + story("harbour")[2][:30] + "\u2026"
    assert run([("full", T0, "a.org", full), ("teaser", T0 + timedelta(hours=1), "b.org", teaser)]) == {
        "full": None, "teaser": "full"}
    assert run([("teaser", T0, "b.org", teaser), ("full", T0 + timedelta(hours=1), "a.org", full)]) == {
        "teaser": None, "full": "teaser"}


def test_syndicated_copy_inside_another_sites_template_is_a_duplicate():
    header, footer = template("other")
    page = text(header, ["Harbour vote (agency copy)"], story("harbour"), footer)
    dedup = Deduplicator()
    dedup.add(doc_keys("orig", T0, text(story("harbour")), site="a.org"))
    decision, canonical, _ = dedup.add(doc_keys("copy", T0 + timedelta(hours=2), page, site="other.net"))
    assert canonical == "orig"
    assert decision.method == "sentence_containment"
    assert decision.similarity == 1.0


def test_different_stories_of_one_site_sharing_its_boilerplate_do_not_merge():
    header, footer = template("city")
    docs = [(f"s{i}", T0 + timedelta(hours=i), "city.com", text(header, story(name, 6), footer))
            for i, name in enumerate(["harbour", "school", "bridge", "budget"])]
    assert run(docs) == {"s0": None, "s1": None, "s2": None, "s3": None}
    # from the fourth page on, the site's boilerplate sentences are its template: no evidence at all
    dedup = Deduplicator()
    evidence = [dedup.add(doc_keys(*d[:2], d[3], site=d[2]))[2] for d in docs]
    boilerplate = set(sentence_keys(text(header, footer)))
    assert all(not ev.template for ev in evidence[2] if ev.key in boilerplate)
    assert all(ev.template and not ev.earlier for ev in evidence[3] if ev.key in boilerplate)


def test_a_copy_points_to_the_canonical_document_not_to_another_copy():
    first = text(story("bridge", 4))
    longer = text(story("bridge", 12))        # contains `first`: a duplicate of it
    second_half = text(story("bridge", 12)[6:])  # only matches `longer`
    out = run([("a", T0, "a.org", first), ("b", T0 + timedelta(hours=1), "b.org", longer),
               ("c", T0 + timedelta(hours=2), "c.org", second_half)])
    assert out == {"a": None, "b": "a", "c": "a"}


def test_template_keys_are_remembered_in_history_rows():
    header, footer = template("city")
    dedup = Deduplicator()
    for i, name in enumerate(["harbour", "school", "bridge", "budget"]):
        keys = doc_keys(f"s{i}", T0 + timedelta(hours=i), text(header, story(name, 6), footer), site="city.com")
        _, canonical, evidence = dedup.add(keys)
    boilerplate = set(sentence_keys(text(header, footer)))
    rows = history_keys(keys, evidence, canonical is None)
    assert {key for kind, key in rows if kind == "template"} == boilerplate
    assert not boilerplate & {key for kind, key in rows if kind == SENTENCE}


def test_horizon_then_history_answers():
    body = text(story("budget"))
    late = T0 + timedelta(hours=80)
    assert run([("a", T0, "a.org", body), ("b", late, "b.org", body + "\nExtra line")]) == {
        "a": None, "b": None}
    history = HistoryIndex()
    history.add([HistoryRow(k, "a", T0, SENTENCE) for k in sentence_keys(body)])
    assert run([("b", late, "b.org", body + "\nExtra line")], history=history) == {"b": "a"}


def test_exact_url_match_and_body_hash_method():
    dedup = Deduplicator()
    dedup.add(doc_keys("a", T0, "One short body.", url="https://a.org/x?utm_medium=rss"))
    decision, canonical, _ = dedup.add(doc_keys("b", T0 + timedelta(minutes=5), "Other text.",
                                                url="https://a.org/x"))
    assert (canonical, decision.method, decision.similarity) == ("a", "url", 1.0)
    decision, canonical, _ = dedup.add(doc_keys("c", T0 + timedelta(minutes=9), "ONE  short body.",
                                                url="https://c.org/y"))
    assert (canonical, decision.method) == ("a", "body_hash")


def test_state_is_bounded_under_an_adversarial_hot_key():
    shared = "Subscribe to our newsletter to get every story in your inbox."
    dedup = Deduplicator()
    decisions = []
    for i in range(1000):
        body = text([shared], story(f"topic{i}", 8))
        decisions.append(dedup.add(doc_keys(f"d{i}", T0 + timedelta(seconds=i), body, site=f"s{i % 7}.org"))[1])
    hot = dedup.keys[sentence_keys(shared)[0]]
    assert len(hot.entries) == MAX_DOCS_PER_KEY
    assert decisions == [None] * 1000
    per_doc = dedup.state_bytes() / len(dedup.canonical)
    print(f"state bytes/doc under a hot key: {per_doc:.0f}")
    assert per_doc <= 1024
    assert len(KeyState.decode(hot.encode()).entries) == MAX_DOCS_PER_KEY


def test_state_per_document_is_capped_for_long_documents():
    dedup = Deduplicator()
    dedup.add(doc_keys("long", T0, text(story("long", 200)), url="https://a.org/long"))
    assert len(dedup.keys) == MAX_STORED_KEYS   # url + body hash + 28 sentence keys
    assert dedup.state_bytes() <= 1024


def test_key_state_round_trips_through_bytes():
    state = KeyState()
    for occ in doc_keys("a", T0, text(story("x", 1)), site="a.org").occurrences():
        state.observe(occ, 3600)
    assert KeyState.decode(state.encode()) == state
    assert len(state.encode()) + 8 == state.encoded_size()


def test_group_evidence_orders_within_a_second_by_microseconds():
    body = text(story("order", 2))
    late, early = doc_keys("a", T0.replace(microsecond=900), body), doc_keys("z", T0.replace(microsecond=100), body)
    key = early.sentences[0]
    out = list(group_evidence([o for d in (late, early) for o in d.occurrences() if o.key == key], 3600))
    assert [uid for uid, _ in out] == [early.uid, late.uid]


def test_group_evidence_sorts_by_arrival_time_then_id():
    body = text(story("order", 2))
    b, a = doc_keys("b", T0, body), doc_keys("a", T0, body)
    key = a.sentences[0]
    occs = [o for d in (b, a) for o in d.occurrences() if o.key == key]
    out = list(group_evidence(occs, 3600))
    assert [uid for uid, _ in out] == [a.uid, b.uid]
    assert out[0][1].earlier == () and [e.uid for e in out[1][1].earlier] == [a.uid]


def test_history_round_trip_through_parquet(tmp_path):
    rows = [HistoryRow(key64("x"), "a", T0, SENTENCE, 7), HistoryRow(-5, "a", T0, "url", 7),
            HistoryRow(key64("x"), "b", T0 + timedelta(hours=1), SENTENCE, 9),
            HistoryRow(key64("nav"), "b", T0 + timedelta(hours=1), "template", 9)]
    path = write_history(str(tmp_path), "run-1", rows)
    assert path.endswith("_state/dedup/v1/part-run-1.parquet")
    index = load_history(str(tmp_path))
    assert index.exact(-5) == "a"
    assert list(index.sentence_docs(key64("x"))) == ["a", "b"]
    assert index.n_keys("a") == 1
    assert (index.template(key64("nav"), 9), index.template(key64("nav"), 7)) == (True, False)
    assert index.template(key64("x"), 7) is False   # one doc of site 7: not yet its template
    assert len(load_history(str(tmp_path / "nothing-here"))) == 0
    with pytest.raises(ValueError, match="run_id"):
        write_history(str(tmp_path), "a/b", rows)


def test_exact_keys_of_the_history_are_those_of_the_full_index(tmp_path):
    write_history(str(tmp_path), "run-1", [
        HistoryRow(key64("x"), "a", T0, SENTENCE, 7), HistoryRow(-5, "a", T0, "url", 7),
        HistoryRow(11, "a", T0, "body_hash", 7), HistoryRow(key64("nav"), "a", T0, "template", 7)])
    write_history(str(tmp_path), "run-2", [HistoryRow(12, "b", T0, "guid", 9), HistoryRow(-5, "b", T0, "url", 9)])
    assert load_exact_keys(str(tmp_path)) == frozenset({-5, 11, 12}) == frozenset(load_history(str(tmp_path)).exact_docs)
    assert load_exact_keys(str(tmp_path / "nothing-here")) == frozenset()


def test_a_story_a_site_printed_twice_still_links_its_third_copy_to_the_other_sites_original():
    body = text(story("ferry"))
    out = run([("orig", T0, "a.org", body),
               ("again", T0 + timedelta(hours=1), "b.org", body + "\nAn extra closing line for the second print."),
               ("update", T0 + timedelta(hours=2), "b.org", "Update\n" + body),
               ("third", T0 + timedelta(hours=3), "b.org", "Ferry story, third print\n" + text(story("ferry")[1:]))])
    assert out == {"orig": None, "again": "orig", "update": "orig", "third": "orig"}


def test_a_page_of_the_same_site_needs_more_than_half_of_its_keys():
    header, footer = template("b.org")
    shared = story("chrome", 4)  # wrapper sentences the site prints on every page
    first = text(header, shared, story("harbour", 3), footer)
    second = text(header, shared, story("school", 3), footer)
    assert run([("first", T0, "b.org", first), ("second", T0 + timedelta(hours=1), "b.org", second)]) == {
        "first": None, "second": None}
    assert run([("first", T0, "b.org", first), ("second", T0 + timedelta(hours=1), "c.org", second)]) == {
        "first": None, "second": "first"}


def test_a_better_live_match_wins_over_an_older_history_match():
    """A page whose wrapper carries an old story (in the history) and whose body is a new story
    (live) is a copy of the new story: history does not pre-empt a better live match."""
    old, new = story("harbour", 10), story("bridge", 6)
    history = HistoryIndex()
    history.add([HistoryRow(k, "old", T0, SENTENCE) for k in sentence_keys(text(old))])
    late = T0 + timedelta(hours=100)
    page = text(new, old[:9])  # 9 of the old story's 10 sentences: containment 0.9 in the history
    assert run([("new", late, "a.org", text(new)), ("page", late + timedelta(hours=1), "b.org", page)],
               history=history) == {"new": None, "page": "new"}
    # the same page with nothing live: the history match stands
    assert run([("page", late + timedelta(hours=1), "b.org", page)], history=history) == {"page": "old"}


def test_a_story_a_site_printed_twice_still_links_its_third_print_on_that_site():
    """Two earlier pages of one site sharing a story (an original and its re-emitted copy) do not
    make the story that site's template: its third print there is still a duplicate."""
    header, footer = template("b.org")
    body = text(story("ferry"))
    out = run([("orig", T0, "b.org", body),
               ("again", T0 + timedelta(hours=1), "b.org", body),
               ("wrapped", T0 + timedelta(hours=2), "b.org", text(header, story("ferry"), footer))])
    assert out == {"orig": None, "again": "orig", "wrapped": "orig"}
