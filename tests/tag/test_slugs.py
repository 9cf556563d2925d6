import pytest

from newsflow.transforms.tag.slugs import (
    REGION_SLUGS,
    REGION_VOCABULARY,
    TOPIC_SLUGS,
    TOPIC_VOCABULARY,
    region_slug,
    topic_slug,
)
from newsflow.transforms.tag.topics import media_topics


def test_topic_slug_examples():
    assert topic_slug("medtop:11000000") == "politics-government"
    assert topic_slug("11000000") == "politics-government"
    assert topic_slug("medtop:20000638") == "politics-government"  # second level → its top level
    assert topic_slug("medtop:15000000") == "sport"
    assert topic_slug(None) == "unknown"
    assert topic_slug("") == "unknown"


def test_region_slug_examples():
    assert region_slug("Eastern Asia") == "eastern-asia"
    assert region_slug("  eastern   ASIA ") == "eastern-asia"
    assert region_slug("South-eastern Asia") == "south-eastern-asia"
    assert region_slug("Latin America and the Caribbean") == "latin-america-and-the-caribbean"
    assert region_slug(None) == "unknown"
    assert region_slug("") == "unknown"


WEIRD = ["../etc", "medtop:99999999", "Eastern Asia/../x", "a=b", "X" * 500, "\x00", "🙂", "sport",
         "medtop:", "Mars", "eastern-asia", " ", "None", "medtop:1100000O"]


@pytest.mark.parametrize("value", WEIRD)
def test_weird_input_gives_other_or_unknown(value):
    assert topic_slug(value) in {"other", "unknown"}
    assert region_slug(value) in {"other", "unknown"}


def test_vocabulary_is_closed_over_every_known_input():
    every_topic = set(media_topics()) | set(TOPIC_SLUGS) | set(WEIRD) | {None}
    assert {topic_slug(code) for code in every_topic} <= TOPIC_VOCABULARY
    every_region = set(REGION_SLUGS) | set(WEIRD) | {None}
    assert {region_slug(name) for name in every_region} <= REGION_VOCABULARY
    assert len(TOPIC_SLUGS) == 17 and len(set(TOPIC_SLUGS.values())) == 17
    assert len(set(REGION_SLUGS.values())) == len(REGION_SLUGS)
    for slug in TOPIC_VOCABULARY | REGION_VOCABULARY:
        assert slug and all(ch.islower() or ch == "-" for ch in slug), slug


def test_every_m49_subregion_of_the_tagger_has_a_slug():
    from newsflow.transforms.tag.gazetteer import m49_table

    assert {region_slug(sub) for _, sub, _ in m49_table().values()} <= set(REGION_SLUGS.values())
