"""Language from the text: filled when nothing is declared, replaced when the text clearly says
otherwise, left alone when the text is too short to say."""

import dataclasses
from datetime import UTC, datetime

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from newsflow.transforms.items import Article
from newsflow.transforms.tag.language import normalize_declared, resolve_language
from newsflow.transforms.tag.tag_articles import TagArticles

RUSSIAN = ("Правительство страны в понедельник объявило о новых мерах поддержки экономики. "
           "По словам министра финансов, программа рассчитана на три года и коснётся малого бизнеса.")
GERMAN = ("Die Regierung hat am Montag ein neues Gesetz vorgestellt, das die Mieten in den großen "
          "Städten begrenzen soll. Die Opposition kritisierte den Entwurf als zu zaghaft.")


def test_a_russian_text_declared_english_is_recorded_as_russian():
    assert resolve_language("en", "Новые меры поддержки", RUSSIAN) == "ru"


def test_a_german_text_with_no_declaration_is_identified():
    assert resolve_language(None, None, GERMAN) == "de"


def test_a_short_ambiguous_text_keeps_its_declaration():
    assert resolve_language("fr", None, "Paris 2024") == "fr"
    assert resolve_language("de", "Live", "OK, Video") == "de"


def test_a_true_declaration_is_kept_and_normalised():
    assert resolve_language("de-AT", None, GERMAN) == "de"
    assert normalize_declared("EN_us") == "en"
    assert normalize_declared("not a tag") is None


def test_a_close_sibling_declaration_is_not_overridden():
    croatian = ("Vlada je u ponedjeljak predstavila novi zakon o najamninama u velikim gradovima, "
                "a oporba je prijedlog ocijenila preslabim i najavila izmjene u saboru.")
    assert resolve_language("bs", None, croatian) == "bs"


def test_tag_articles_records_the_language_of_the_text():
    article = Article(id="r1", url="https://example.org/r1", canonical_url="https://example.org/r1",
                      feed_url="", site="example.org", body=RUSSIAN, body_sha256="x",
                      fetched_at=datetime(2026, 1, 1, tzinfo=UTC), title="Новые меры", language="en")
    with TestPipeline() as p:
        out = (p | beam.Create([article, dataclasses.replace(article, id="d1", body=GERMAN, title=None,
                                                                      language=None)])
               | TagArticles())
        assert_that(out.articles | beam.Map(lambda a: (a.id, a.language)), equal_to([("r1", "ru"), ("d1", "de")]))
