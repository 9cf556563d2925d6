import json
from datetime import UTC, datetime

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from newsflow.transforms.items import Article, TopicTag
from newsflow.transforms.tag.tag_articles import TagArticles, Tags, split_dateline, tag_text

# Our own wording of the seed story (golden/seed_article.json describes it; the original text is not used).
GOLDEN_TITLE = "ROK, Japan, US Sign Deal To 'Institutionalize' Military Ties Against North Korea"
GOLDEN_BODY = (
    "TOKYO, July 28 - The defence ministers of South Korea, Japan and the United States signed a "
    "trilateral security framework in Tokyo on Sunday that institutionalizes their military cooperation "
    "against North Korea.\n"
    "The three ministers said the framework would keep regular joint exercises and the sharing of missile "
    "warning data on track whatever the political changes in Seoul, Tokyo or Washington, a step their "
    "leaders first agreed at Camp David last year.\n"
    "They condemned the deepening military ties between Pyongyang and Moscow, including North Korean arms "
    "transfers to Russia, and noted that Belarus has also sought closer relations with Pyongyang."
)


def test_golden_seed_article():
    tags = tag_text(GOLDEN_TITLE, GOLDEN_BODY)
    codes = [t.code for t in tags.topics]
    assert tags.primary_topic == "medtop:11000000"
    assert "medtop:11000000" in codes
    assert "medtop:16000000" not in codes  # defence and treaties sit under politics and government
    assert set(tags.countries) == {"KR", "JP", "US", "KP"}
    assert set(tags.mentioned_countries) == {"RU", "BY"}
    assert set(tags.subregions) == {"Eastern Asia", "Northern America"}
    assert set(tags.regions) == {"Asia", "Americas"}
    assert tags.primary_region == "Eastern Asia"
    assert tags.evidence is None
    top = tags.topics[0]
    assert top == TopicTag("medtop:11000000", "politics and government", top.confidence)
    assert 0.5 < top.confidence <= 1.0


def test_golden_evidence_names_the_places():
    tags = tag_text(GOLDEN_TITLE, GOLDEN_BODY, explain=True)
    assert tags.evidence is not None
    places = tags.evidence["countries"]
    assert places["KR"] == ["ROK", "South Korea", "Seoul"]
    assert places["KP"] == ["North Korea", "Pyongyang", "North Korean"]
    assert places["US"] == ["US", "United States", "Washington", "Camp David"]
    assert places["RU"] == ["Moscow", "Russia"]
    assert tags.evidence["dateline"] == "TOKYO, July 28 -"
    assert "trilateral" in tags.evidence["topics"]["medtop:11000000"]


def _places(title, body, **kw):
    """Every country found (about + mentioned): what the ambiguity rules decide."""
    tags = tag_text(title, body, **kw)
    return set(tags.countries) | set(tags.mentioned_countries)


def _countries(title, body, **kw):
    tags = tag_text(title, body, **kw)
    return set(tags.countries), set(tags.mentioned_countries)


def test_georgia_state_versus_country():
    assert _places("Storms hit Georgia", "Power is out across Georgia after storms passed Atlanta "
                      "and moved on towards South Carolina.") == {"US"}
    assert _places("Georgia talks", "Georgia accused Russia of moving troops into South Ossetia; "
                      "officials in Tbilisi said talks would go on.") == {"GE", "RU"}


def test_jordan_person_versus_country():
    assert _places("Bulls win", "Michael Jordan scored 40 points as the Bulls beat the Knicks.") == set()
    assert _places("Lecture", "Jordan Peterson spoke to students on Tuesday.") == set()
    assert _places("Coach", "Jordan said the team played well. The win lifts the club to second.") == set()
    assert _places("Refugees", "More refugees crossed into Jordan from Syria, officials in Amman said.") == {"JO", "SY"}


def test_niger_is_never_matched_inside_nigeria():
    assert _places("Oil output", "Nigeria raised oil output, the Nigerian oil ministry said in Abuja.") == {"NG"}
    assert _places("Sahel", "Troops in Niger and Nigeria patrolled the border.") == {"NE", "NG"}
    assert _places("Delta", "Militants in the Niger Delta attacked a pipeline in Nigeria.") == {"NG"}


def test_washington_state_city_and_government_are_all_us():
    assert _places("Rain", "Heavy rain fell in Washington state on Monday.") == {"US"}
    assert _places("Talks", "Washington warned Beijing over trade, officials said.") == {"US", "CN"}
    assert _places("Parade", "Crowds gathered in Washington, D.C., for the parade.") == {"US"}


def test_turkey_the_food_is_not_a_country():
    assert _places("Pardon", "Obama pardoned a turkey ahead of Thanksgiving at the White House.") == {"US"}
    assert _places("Recipe", "Roast the turkey for three hours.") == set()
    assert _places("Turkey vote", "Turkey held a referendum, officials in Ankara said.") == {"TR"}


def test_chad_the_first_name_is_not_a_country():
    assert _places("Concert", "Chad Smith played the drums all night.") == set()
    assert _places("Aid", "Aid agencies in Chad said refugees kept arriving.") == {"TD"}


def test_person_names_that_match_places():
    assert _places("Party", "Paris Hilton arrived at the party with friends.") == set()
    assert _places("Fashion", "Victoria Beckham showed a new collection.") == set()
    assert _places("Books", "Jordan Peterson published another book.") == set()
    assert _places("Summit", "Leaders met in Paris to discuss the climate.") == {"FR"}


def test_abbreviations_demonyms_and_cities():
    assert _places("ROK and DPRK", "The ROK and the DPRK met at the border.") == {"KR", "KP"}
    assert _places("Trade", "U.S. and UK officials met South Korean envoys in Pyongyang.") == {"US", "GB", "KP", "KR"}


def test_mentions_outside_the_focus_go_to_mentioned_countries():
    body = ("The Japanese central bank held rates on Tuesday. Tokyo stocks rose and the yen fell. "
            "Japan's exports grew for a third month. Analysts said Japan's economy was recovering. "
            "Exports to Brazil fell slightly.")
    assert _countries("Japan holds rates", body) == ({"JP"}, {"BR"})


def test_currency_us_dollars_are_not_a_mention():
    assert _places("Bond issue", "The Hong Kong company raised 50 mln U.S. dlrs, it said in Hong Kong.") == {"HK"}


def test_region_hint_breaks_a_tie_but_never_adds_a_country():
    body = "Officials from France and Germany met on Monday."
    assert tag_text(None, body, region_hint="DE").countries[0] == "DE"
    assert tag_text(None, body, region_hint="FR").countries[0] == "FR"
    assert tag_text(None, body, region_hint="fr").primary_region == "Western Europe"
    assert _places("Talks", "Nothing about any place here.", region_hint="US") == set()


def test_dateline_split():
    assert split_dateline("TOKYO, April 8 - Japan said") == ("TOKYO, April 8 - ", "Japan said")
    assert split_dateline("NEW YORK (Reuters) - Stocks") == ("NEW YORK (Reuters) - ", "Stocks")
    assert split_dateline("The U.S. - and Japan") == ("", "The U.S. - and Japan")


def test_topics_by_domain():
    assert tag_text("Arsenal beat Chelsea", "The striker scored twice as Arsenal won the league match "
                    "in front of 60,000 fans.").primary_topic == "medtop:15000000"
    assert tag_text("Chip maker profits rise", "Shares rose after the company said quarterly profit "
                    "and revenue beat forecasts.").primary_topic == "medtop:04000000"
    assert tag_text("New browser", "The software lets users block spam and spyware on the internet."
                    ).primary_topic == "medtop:13000000"


def test_empty_and_none_input():
    assert tag_text(None, "") == Tags()
    assert tag_text("", "   \n ") == Tags()


def _article(n, title, body, hint=None):
    return Article(id=f"a{n}", url=f"https://example.org/{n}", canonical_url=f"https://example.org/{n}",
                   feed_url="https://example.org/feed", site="example.org", body=body, body_sha256="0" * 64,
                   fetched_at=datetime(2026, 1, 1, tzinfo=UTC), title=title, region_hint=hint)


def test_tag_articles_on_fn_api_runner():
    articles = [_article(1, GOLDEN_TITLE, GOLDEN_BODY), _article(2, None, "Nothing to see here.")]
    with TestPipeline(runner="FnApiRunner") as p:
        tagged = ((p | beam.Create(articles) | TagArticles(explain=True)).articles
                  | beam.Map(lambda a: (a.id, a.primary_topic, sorted(a.countries), sorted(a.mentioned_countries),
                                        a.primary_region, sorted(a.subregions),
                                        sorted(json.loads(a.tag_evidence)["countries"]))))
        assert_that(tagged, equal_to([
            ("a1", "medtop:11000000", ["JP", "KP", "KR", "US"], ["BY", "RU"], "Eastern Asia",
             ["Eastern Asia", "Northern America"], ["BY", "JP", "KP", "KR", "RU", "US"]),
            ("a2", None, [], [], None, [], []),
        ]))
    counters = {m.key.metric.name: m.committed for m in p.result.metrics().query()["counters"]}
    assert counters["tag.articles"] == 2
    assert counters["tag.no_topic"] == 1
    assert counters["tag.no_country"] == 1


def test_tag_articles_validates_config():
    with pytest.raises(TypeError):
        TagArticles(explain="yes")  # type: ignore[arg-type]


def test_tag_job_writes_records_and_rejections(tmp_path):
    from newsflow.pipelines.tag_job import run

    source = tmp_path / "in.jsonl"
    source.write_text("\n".join([
        json.dumps({"id": "g", "title": GOLDEN_TITLE, "body": GOLDEN_BODY}),
        json.dumps({"id": 7, "title": "JAPAN TRADE SURPLUS GROWS", "dateline": "TOKYO, April 8 -",
                    "body": "Japan's trade surplus grew in March, the finance ministry said."}),
        "not json",
        json.dumps({"id": "nobody"}),
        "",
    ]) + "\n", encoding="utf-8")
    target = tmp_path / "out.jsonl"
    counts = run(str(source), str(target))
    assert counts == {"output": str(target), "rejected_output": str(target) + ".rejected.jsonl",
                      "articles": 2, "no_topic": 0, "no_country": 0, "rejected": 2}
    rows = sorted((json.loads(line) for line in target.read_text().splitlines()), key=lambda r: r["id"])
    assert [r["id"] for r in rows] == ["7", "g"]
    assert rows[0] == {"id": "7", "topics": ["medtop:04000000", "medtop:20000344"], "regions": ["JP"],
                       "mentioned_regions": [], "subregions": ["Eastern Asia"],
                       "primary_topic": "medtop:04000000", "primary_region": "Eastern Asia"}
    assert set(rows[1]["regions"]) == {"KR", "JP", "US", "KP"}
    assert set(rows[1]["mentioned_regions"]) == {"RU", "BY"}
    assert rows[1]["primary_topic"] == "medtop:11000000"
    rejected = [json.loads(line) for line in (tmp_path / "out.jsonl.rejected.jsonl").read_text().splitlines()]
    assert sorted((r["reason"], r["message"][:15]) for r in rejected) == [
        ("JSONDecodeError", "Expecting value"), ("ValueError", "missing body")]


def test_headline_repeated_at_the_top_of_the_body_does_not_hide_the_dateline():
    title = "Almenara win cup final on penalties in Valencia"
    body = (title + "\nVALENCIA, Spain — Club Almenara won the cup on Sunday night, beating Sierra on "
            "penalties. Sierra's coach, Raúl Medina, said his side had been the better team.")
    tags = tag_text(title, body, explain=True)
    assert tags.evidence is not None and tags.evidence["dateline"] == "VALENCIA, Spain —"
    assert (tags.countries, tags.mentioned_countries) == (["ES"], [])  # not Valencia County / Medina County
    assert tags.primary_topic == "medtop:15000000"


def test_a_strike_at_a_company_is_labour_and_business_news():
    tags = tag_text("Workers strike at carmaker", "Thousands of workers went on strike at the carmaker's plants, "
                    "the union said, as talks on wages failed.")
    assert [t.code for t in tags.topics] == ["medtop:09000000", "medtop:20000509",
                                             "medtop:04000000", "medtop:20000349"]
