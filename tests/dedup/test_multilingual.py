"""Copies in German, Russian, Japanese and Chinese: the same kinds of copy as the English kit
(wrapped, headline, truncated, teaser, inserts) must be found, an unrelated story of the same
language must not. All text is written for these tests."""

from datetime import UTC, datetime, timedelta

import pytest

from newsflow.transforms.dedup.keys import Deduplicator, doc_keys, sentence_keys, split_sentences

T0 = datetime(2026, 5, 4, 6, 0, tzinfo=UTC)

STORIES = {
    "de": (
        "Neue Fähre verbindet die Inseln ab Mai",
        ["Die Gemeinde hat am Montag den Vertrag für eine neue Fähre zwischen den beiden Inseln unterschrieben.",
         "Das Schiff soll ab Mai jede Stunde fahren und bis zu zweihundert Fahrgäste mitnehmen.",
         "Der Bürgermeister sagte, die alte Fähre sei seit Jahren zu klein für den Sommerverkehr.",
         "Die Kosten von zwölf Millionen Euro teilen sich das Land und der Kreis.",
         "Fischer im Hafen begrüßten die Pläne, fürchten aber längere Wartezeiten während der Bauarbeiten.",
         "Eine erste Probefahrt ist für Ende April mit Schülern der örtlichen Schule geplant."],
        ["Im Stadtpark wurde am Wochenende ein neuer Spielplatz für kleine Kinder eröffnet.",
         "Die Eltern hatten seit drei Jahren um mehr Schatten und neue Bänke gebeten.",
         "Der Stadtrat will im Herbst auch die Wege im Park erneuern lassen."]),
    "ru": (
        "Новый мост через реку откроют осенью",
        ["Городские власти в среду объявили, что новый мост через реку откроют в начале осени.",
         "Строители уже закончили опоры и сейчас укладывают полотно для машин и пешеходов.",
         "По словам мэра, мост сократит дорогу до вокзала почти на двадцать минут.",
         "Жители ближних домов жалуются на шум, но ждут окончания работ с надеждой.",
         "Стоимость проекта выросла из-за цен на сталь, сообщили в мэрии.",
         "Первые автобусы по мосту пойдут уже через неделю после открытия."],
        ["В областной библиотеке открылась выставка старых карт и редких книг.",
         "Посетители могут увидеть атласы, которые раньше хранились в закрытых фондах.",
         "Выставка продлится до конца месяца, вход для школьников бесплатный."]),
    "ja": (
        "港町に新しい図書館が来月開館へ",
        ["市は月曜日、港の近くに建てていた新しい図書館を来月一日に開館すると発表した。",
         "館内には子ども向けの読書室と、海を眺めながら勉強できる広い席が用意される。",
         "市長は記者会見で、若い世代が集まる場所にしたいと話した。",
         "建設費は約十五億円で、その一部は市民からの寄付でまかなわれた。",
         "開館の日には地元の作家による朗読会や古い写真の展示も予定されている。",
         "近くの商店街では、来館者が増えることへの期待が高まっている。"],
        ["山あいの村で今年初めての桜が咲き、多くの写真愛好家が訪れた。",
         "村の人々は、例年より一週間ほど早い開花に驚いている。",
         "週末には小さな祭りが開かれ、地元の野菜や菓子が売られる予定だ。"]),
    "zh": (
        "城市公交明年全部换成电动车",
        ["市交通局周二宣布，到明年年底全市的公交车将全部换成电动车。",
         "目前已有三分之一的线路使用新车，乘客普遍反映车内更加安静。",
         "局长表示，新的充电站将建在各个公交总站附近，方便夜间充电。",
         "这项计划的总投资约为二十亿元，其中一半来自国家补贴。",
         "一些司机担心冬天电池续航会变短，交通局说会增加备用车辆。",
         "市民可以在网上查看每条线路更换新车的具体时间。"],
        ["本周末城市博物馆将举办一场关于古代丝绸的特别展览。",
         "展品中有不少是第一次向公众展示的珍贵文物。",
         "博物馆提醒观众提前在网上预约参观时间。"]),
}
"""Per language: the story's title and paragraphs, and an unrelated story of the same language."""

JOINER = {"de": " ", "ru": " ", "ja": "", "zh": ""}
"""How a teaser joins paragraphs: a space, or nothing in CJK text."""


def copies(lang: str) -> dict[str, str]:
    """The original and one copy of each kind (as the English kit makes them), plus an unrelated story."""
    title, body, other = STORIES[lang]
    original = "\n".join([title, *body])
    teaser_body = JOINER[lang].join(body)[:90]
    return {
        "original": original,
        "wrapped": "\n".join(["Startseite | Nachrichten | Sport | Wetter", "Melden Sie sich für unseren Newsletter an und bleiben Sie informiert.",
                              title, *body, "Alle Rechte vorbehalten, Kopieren nur mit schriftlicher Erlaubnis der Redaktion."]),
        "headline": "\n".join([f"UPDATE: {title} (video)", "By Staff Writer, Wire Service",
                               f"BERLIN (Wire Service) — {body[0]}", *body[1:],
                               "Copyright 2026 Wire Service. All rights reserved."]),
        "truncated": "\n".join([title, *body[:3], "Read more \u2026"]),
        "teaser": "\n".join([title, teaser_body + " \u2026", "Continue reading"]),
        "inserts": "\n".join([title, body[0], "Advertisement", *body[1:3], "RELATED: Other headline of the day",
                              *body[3:]]),
        "other": "\n".join([other[0][:20], *other]),
    }


@pytest.mark.parametrize("lang", sorted(STORIES))
def test_every_kind_of_copy_is_found_in_other_languages_and_an_unrelated_story_is_not(lang):
    docs = copies(lang)
    dedup = Deduplicator()
    canonical = {}
    for i, (kind, text) in enumerate(docs.items()):
        _, found, _ = dedup.add(doc_keys(kind, T0 + timedelta(minutes=10 * i), text, site=f"{kind}.example"))
        canonical[kind] = found
    assert canonical == {"original": None, "wrapped": "original", "headline": "original",
                         "truncated": "original", "teaser": "original", "inserts": "original", "other": None}


@pytest.mark.parametrize("lang", ["ja", "zh"])
def test_cjk_sentences_end_at_full_stops_without_spaces_and_get_keys(lang):
    _, body, _ = STORIES[lang]
    paragraph = "".join(body[:3])
    assert split_sentences(paragraph) == body[:3]
    assert len(sentence_keys(paragraph)) == 6  # each sentence has 24 characters or more: two keys
    assert sentence_keys(paragraph.replace("，", ",").replace("、", ",")) == sentence_keys(paragraph)


def test_german_and_russian_folding():
    assert sentence_keys("Die Straße wird im nächsten Jahr für den Verkehr gesperrt.") == sentence_keys(
        "DIE STRASSE wird im nächsten Jahr für den Verkehr gesperrt.")
    assert sentence_keys("Её новый фильм покажут на фестивале уже этой осенью.") == sentence_keys(
        "Ее новый фильм покажут на фестивале уже этой осенью.")
    assert sentence_keys("Er sagte: „Wir fahren morgen los.“ Dann gingen alle nach Hause zurück.") == sentence_keys(
        'Er sagte: "Wir fahren morgen los."\nDann gingen alle nach Hause zurück.')
