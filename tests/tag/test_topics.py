import pytest

from newsflow.transforms.items import TopicTag
from newsflow.transforms.tag.topics import (
    NO_TOPIC,
    TermHit,
    TopicLexicon,
    choose_topics,
    media_topics,
    score_hits,
    top_level_codes,
    topic_lexicon,
)


def test_taxonomy_has_the_17_top_levels_and_current_tree():
    codes = top_level_codes()
    assert len(codes) == 17 and codes[0] == "medtop:01000000" and codes[-1] == "medtop:17000000"
    topics = media_topics()
    assert topics["medtop:11000000"].label == "politics and government"
    assert topics["medtop:20000638"].top == "medtop:11000000"  # international relations
    assert topics["medtop:20000593"].parent == "medtop:11000000"  # government


def test_lexicon_cased_and_folded_terms_and_prefixes():
    lexicon = TopicLexicon([("Apple", "medtop:13000000", 2.0), ("election*", "medtop:20000574", 3.0),
                            ("prime minister", "medtop:20000593", 2.0), ("minister", "medtop:20000593", 1.0)])
    hits = lexicon.find("The Prime Minister ate an apple. Apple won elections.")
    assert [(h.term, h.start) for h in hits] == [("prime minister", 4), ("Apple", 33), ("election*", 43)]


def test_word_boundaries():
    lexicon = TopicLexicon([("war", "medtop:20000056", 2.0)])
    assert lexicon.find("software warrants award war") == [TermHit(24, 27, "war", "medtop:20000056", 2.0)]


def test_unknown_code_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown Media Topic code"):
        TopicLexicon([("x", "medtop:99999999", 1.0)])


def test_scores_roll_up_and_repeats_decay():
    hit = TermHit(0, 5, "troops", "medtop:20000056", 2.0)
    scores = score_hits([(hit, 1.0)] * 5)
    assert scores == {"medtop:20000056": 3.5, "medtop:16000000": 3.5}  # 2 + 1 + 0.5, then capped


def test_choose_topics_primary_then_children():
    tags = choose_topics({"medtop:11000000": 10.0, "medtop:20000638": 6.0, "medtop:20000593": 2.0,
                          "medtop:04000000": 9.0, "medtop:15000000": 1.0})
    assert tags == [TopicTag("medtop:11000000", "politics and government", 0.5),
                    TopicTag("medtop:20000638", "international relations", 0.3),
                    TopicTag("medtop:04000000", "economy, business and finance", 0.45)]
    assert choose_topics({"medtop:11000000": 10.0, "medtop:04000000": 8.9})[1:] == []  # not close enough
    assert choose_topics({"medtop:15000000": 1.9}) == []  # below the floor


def test_defence_and_diplomacy_sit_under_politics():
    lexicon = topic_lexicon()
    hits = lexicon.find("defence ministers signed a treaty; the armed forces and diplomats agreed")
    tops = {media_topics()[h.code].top for h in hits}
    assert tops == {"medtop:11000000"}


def test_a_term_may_vote_for_several_codes():
    lexicon = TopicLexicon([("job cuts", "medtop:20000509", 3.0), ("job cuts", "medtop:20000349", 1.5),
                            ("company", "medtop:20000349", 1.5)])
    hits = lexicon.find("The company announced job cuts.")
    assert hits == [TermHit(4, 11, "company", "medtop:20000349", 1.5),
                    TermHit(22, 30, "job cuts", "medtop:20000509", 3.0),
                    TermHit(22, 30, "job cuts", "medtop:20000349", 1.5)]
    assert score_hits([(h, 1.0) for h in hits]) == {
        "medtop:20000349": 3.0, "medtop:04000000": 3.0, "medtop:20000509": 3.0, "medtop:09000000": 3.0}


def test_a_term_listed_twice_is_a_clear_error():
    with pytest.raises(ValueError, match="listed twice"):
        TopicLexicon([("chip", "medtop:20000756", 1.5), ("chip", "medtop:20000756", 3.0)])
    with pytest.raises(ValueError, match="with and without"):  # "barrel*" would silently lose "barrels"
        TopicLexicon([("barrel*", "medtop:20000385", 2.0), ("barrel", "medtop:20000344", 2.0)])


def test_no_topic_phrases_only_block_the_shorter_term_inside_them():
    lexicon = TopicLexicon([("won", "medtop:15000000", 1.0), ("team", "medtop:15000000", 1.5),
                            ("won't", NO_TOPIC, 0.0), ("team up", NO_TOPIC, 0.0)])
    hits = lexicon.find("Rivals won't merge but will team up; the team won.")
    assert [(h.term, h.start) for h in hits] == [("team", 41), ("won", 46)]


def test_repeats_decay_across_zones():
    hit = TermHit(0, 4, "chip", "medtop:20000756", 2.0)
    # headline (x2), then the same word in the lead (x1.5) counts half: 4 + 1.5
    assert score_hits([(hit, 2.0), (hit, 1.5)]) == {"medtop:20000756": 5.5, "medtop:13000000": 5.5}


def test_labour_health_and_crime_stories_get_their_business_side():
    labour, economy, politics = "medtop:09000000", "medtop:04000000", "medtop:11000000"
    assert [t.code for t in choose_topics({labour: 10.0, economy: 5.0})] == [labour, economy]
    assert [t.code for t in choose_topics({labour: 10.0, economy: 4.9})] == [labour]
    assert [t.code for t in choose_topics({politics: 10.0, economy: 6.0})] == [politics]


def test_shipped_lexicon_matches_word_forms_not_lookalikes():
    # "invest*", "brand*", "putt*" once matched investigators, Brandon and putting; "won" matched won't
    hits = topic_lexicon().find("Investigators said Brandon was putting the brand first; it won't recover.")
    assert [(h.term, h.code) for h in hits] == [("brand", "medtop:20000209")]
