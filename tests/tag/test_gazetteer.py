import pytest

from newsflow.transforms.tag.gazetteer import (
    PlaceMention,
    dateline_places,
    find_places,
    gazetteer,
    looks_like_person,
    m49_table,
    resolve_mentions,
)


def _found(text, **kw):
    return [(m.surface, m.iso, m.kind) for m in find_places(text, **kw)]


def _resolved(text):
    return [(m.surface, m.iso) for m in resolve_mentions(text, find_places(text))]


def test_names_abbreviations_capitals_demonyms():
    assert _found("ROK and DPRK envoys met in Pyongyang; South Korean and Japanese officials watched.") == [
        ("ROK", "KR", "abbrev"), ("DPRK", "KP", "abbrev"), ("Pyongyang", "KP", "capital"),
        ("South Korean", "KR", "demonym"), ("Japanese", "JP", "demonym")]
    assert _found("The U.S. and the UK and Britain") == [
        ("U.S.", "US", "abbrev"), ("UK", "GB", "abbrev"), ("Britain", "GB", "country")]


def test_longest_match_wins_and_words_are_bounded():
    assert _found("Papua New Guinea and Guinea-Bissau, not Guinea pigs") == [
        ("Papua New Guinea", "PG", "country"), ("Guinea-Bissau", "GW", "country"), ("Guinea", "GN", "country")]
    assert _found("Nigeria") == [("Nigeria", "NG", "country")]
    assert _found("Nigerians and the Niger") == [("Niger", "NE", "country")] or \
        _found("Nigerians and the Niger")[-1] == ("Niger", "NE", "country")
    assert _found("Chinatown") == []
    assert _found("Latin America and South America") == []  # blocked: no country


def test_us_states_and_counties():
    assert _found("Ohio and Avoyelles Parish and Cook County") == [
        ("Ohio", "US", "state"), ("Avoyelles Parish", "US", "county"), ("Cook County", "US", "county")]


def test_all_caps_headlines_use_the_upper_case_automaton():
    assert _found("ASIAN EXPORTERS FEAR DAMAGE FROM U.S.-JAPAN RIFT", all_caps=True) == [
        ("U.S.", "US", "abbrev"), ("Japan", "JP", "country")]
    assert _found("ASIAN EXPORTERS FEAR DAMAGE FROM U.S.-JAPAN RIFT") == [("U.S.", "US", "abbrev")]


def test_currency_is_not_a_mention():
    assert _found("50 mln U.S. dlrs and 20 US$ and the U.S. economy") == [("U.S.", "US", "abbrev")]


def test_lower_case_words_are_not_places():
    assert _found("a roast turkey, a chad on the ballot, china plates") == []


@pytest.mark.parametrize(("text", "expected"), [
    ("Paris Hilton flew in.", True),
    ("Michael Jordan retired.", True),
    ("Jordan said he was tired.", True),
    ("Chad Smith drums.", True),
    ("Refugees in Chad said they were hungry.", False),
    ("King Abdullah of Jordan", False),
    ("Talks in Paris ended.", False),
    ("Japan said", False),  # not a person-like name
])
def test_looks_like_person(text, expected):
    mention = find_places(text)[0]
    assert looks_like_person(text, mention) is expected


def test_resolve_georgia():
    assert _resolved("Georgia voters went to the polls in Atlanta.") == [("Georgia", "US"), ("Atlanta", "US")]
    assert _resolved("Georgia and Texas sued.") == [("Georgia", "US"), ("Texas", "US")]
    assert _resolved("Georgia said Russian troops left Abkhazia.") == [
        ("Georgia", "GE"), ("Russian", "RU"), ("Abkhazia", "GE")]


def test_resolve_person_names_and_turkey():
    assert _resolved("Paris Hilton visited Paris.") == [("Paris", "FR")]
    assert _resolved("Jordan Peterson spoke. Jordan was late.") == []
    assert _resolved("Syria, Jordan and Iraq") == [("Syria", "SY"), ("Jordan", "JO"), ("Iraq", "IQ")]
    assert _resolved("Turkey for Thanksgiving dinner") == []
    assert _resolved("Turkey for Thanksgiving dinner, officials in Ankara joked") == [
        ("Turkey", "TR"), ("Ankara", "TR")]


def test_resolve_keeps_offsets():
    text = "Trade with Japan"
    assert resolve_mentions(text, find_places(text)) == [PlaceMention(11, 16, "Japan", "JP", "country")]


def test_m49_table_and_gazetteer_are_cached():
    assert m49_table()["KR"] == ("Korea, Republic of", "Eastern Asia", "Asia")
    assert m49_table()["US"][1:] == ("Northern America", "Americas")
    assert "AQ" not in m49_table()  # no M49 region
    assert gazetteer() is gazetteer()


def test_dateline_places_use_the_qualifier():
    assert [(m.surface, m.iso, m.kind) for m in dateline_places("SANTA MONICA, Calif., April 8 - ")] == [
        ("SANTA MONICA", "US", "town"), ("Calif.", "US", "state")]
    assert [(m.surface, m.iso) for m in dateline_places("SALEM, Va, April 8 - ")] == [("Va", "US")]
    assert [(m.surface, m.iso) for m in dateline_places("HOUSTON, April 8 - ")] == [("HOUSTON", "US")]
    assert [(m.surface, m.iso) for m in dateline_places("LONDON, March 3 - ")] == [("LONDON", "GB")]
    assert dateline_places("NOWHEREVILLE, April 8 - ") == []


def test_city_qualified_by_a_state_or_province_moves_there():
    assert _resolved("Riley Smith of Paris, Texas, died.") == [("Paris", "US"), ("Texas", "US")]
    assert _resolved("Police in London, Ont., said.") == [("London", "CA"), ("Ont.", "CA")]


def test_lone_foreign_city_in_local_news_is_a_namesake():
    # Athens, Georgia: another country's counties are named, Greece is not
    assert _resolved("Deputies in Athens and Clarke County arrested two men.") == [
        ("Athens", "US"), ("Clarke County", "US")]
    # a foreign city with no namesake on file is dropped in another country's local news
    text = "A fire in Edmonton was put out, Kentucky State Police said. Kentucky officials helped."
    assert _resolved(text) == [("Kentucky", "US"), ("Kentucky", "US")]
    # with its own country named, the city stays
    assert _resolved("Athens, the Greek capital, and Clarke County") == [
        ("Athens", "GR"), ("Greek", "GR"), ("Clarke County", "US")]


def test_towns_count_only_when_their_country_is_named_or_twice():
    assert _found("He lives in Danbury.") == [("Danbury", "US", "town")]
    assert _resolved("He lives in Danbury.") == []
    assert _resolved("He moved from Danbury to New Milford.") == [("Danbury", "US"), ("New Milford", "US")]
    assert _resolved("He lives in Danbury, Connecticut.") == [("Danbury", "US"), ("Connecticut", "US")]
    assert _resolved("Danbury beat them.") == []  # no place-like context
