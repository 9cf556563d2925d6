"""Countries in other languages: datelines, inflected names, scripts without spaces (own short texts)."""

from newsflow.transforms.tag.tag_articles import tag_text


def test_a_german_vienna_dateline_is_austria():
    tags = tag_text(None, "Die Stadt plant neue Radwege. Wien – Der Gemeinderat hat am Montag beschlossen, "
                    "mehr Geld für Radwege auszugeben.", language="de", explain=True)
    assert tags.countries == ["AT"]
    assert tags.evidence is not None and tags.evidence["dateline"] == "Wien –"


def test_german_rome_and_moscow_datelines():
    assert tag_text(None, "Rom – Der Papst sprach am Sonntag vor Pilgern.", language="de").countries == ["IT"]
    assert tag_text(None, "Moskau – Die Regierung kündigte Reformen an.", language="de").countries == ["RU"]


def test_an_inflected_russian_city_is_found_and_shown_as_written():
    tags = tag_text(None, "Вчера в Москве прошла встреча министров.", language="ru", explain=True)
    assert tags.countries == ["RU"]
    assert tags.evidence is not None and tags.evidence["countries"] == {"RU": ["Москве"]}


def test_chinese_names_need_no_spaces():
    tags = tag_text(None, "法国总统昨天在北京会见了中国领导人。", language="zh")
    assert set(tags.countries + tags.mentioned_countries) == {"CN", "FR"}


def test_english_text_is_unchanged_by_the_language_names():
    assert tag_text("JAPAN TRADE", "TOKYO, April 8 - Japan said", language="en").countries == ["JP"]
