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


JAPANESE = ("政府は月曜日、大都市の家賃を抑えるための新しい法案を発表した。野党はこの案が不十分だと批判し、"
            "国会での修正を求める考えを示した。")
CHINESE = "政府星期一公布了一项限制大城市房租的新法案。反对党批评该草案力度不够，并表示将在议会提出修改。"
ARABIC = ("أعلنت الحكومة يوم الاثنين عن قانون جديد للحد من الإيجارات في المدن الكبرى، "
          "وانتقدت المعارضة المشروع ووصفته بأنه غير كاف.")
FRENCH = ("Le gouvernement a présenté lundi un nouveau projet de loi destiné à limiter les loyers dans les "
          "grandes villes. L'opposition a jugé le texte trop timide.")
ENGLISH = ("The government on Monday unveiled a new bill to cap rents in the largest cities. The opposition "
           "called the draft too timid and promised amendments in parliament.")


def _page_html(lang_attribute: str, title: str, body: str) -> str:
    paragraphs = "".join(f"<p>{sentence}</p>" for sentence in body.split(". "))
    return (f"<!DOCTYPE html><html{lang_attribute}><head><meta charset='utf-8'><title>{title}</title></head>"
            f"<body><article><h1>{title}</h1>{paragraphs}</article></body></html>")


MORE = {
    "ru": "Эксперты считают, что меры помогут сохранить рабочие места. Первые выплаты ожидаются весной.",
    "de": "Mieterverbände begrüßten den Vorschlag. Vermieter warnen dagegen vor weniger Neubau.",
    "ja": "専門家は、法案が成立すれば若い世帯の負担が軽くなると見ている。一方、家主の団体は新しい住宅の建設が減ると警告した。"
          "政府は来年の春までに成立させたい考えだ。首相は記者会見で、家賃の上昇が続けば都市で暮らす人が減り、"
          "地方との格差も広がると述べ、関係する団体と話し合いを続ける方針を明らかにした。",
    "zh": "专家认为，法案如获通过，年轻家庭的负担将会减轻。房东团体则警告说，新建住房可能因此减少。"
          "政府希望在明年春天之前完成立法程序，并将听取各方意见。总理在记者会上表示，如果房租继续上涨，"
          "在城市生活的人将会减少，城乡之间的差距也会扩大，政府将继续与有关团体进行协商。"
          "据统计，过去五年大城市的平均房租上涨了三成以上，许多年轻人不得不搬到郊区居住。",
    "ar": "ويرى خبراء أن القانون سيخفف العبء عن الأسر الشابة، بينما حذر أصحاب العقارات من تراجع البناء.",
    "fr": "Les associations de locataires ont salué la mesure. Les propriétaires craignent moins de constructions.",
    "en": "Tenant groups welcomed the plan. Landlords warned that fewer new homes would be built.",
}
PAGES = [
    # (id, <html> attribute, title, body, language the record must carry)
    ("ru-declared-en", ' lang="en"', "Новые меры поддержки экономики", f"{RUSSIAN} {MORE['ru']}", "ru"),
    ("de-undeclared", "", "Mietendeckel für große Städte", f"{GERMAN} {MORE['de']}", "de"),
    ("ja-declared-en", ' lang="en"', "家賃抑制の新法案", JAPANESE + MORE["ja"], "ja"),
    ("zh-declared-en-us", ' lang="en-US"', "限制房租的新法案", CHINESE + MORE["zh"], "zh"),
    ("ar-declared-fr", ' lang="fr"', "قانون جديد للإيجارات", f"{ARABIC} {MORE['ar']}", "ar"),
    ("fr-declared-de", ' lang="de"', "Un projet de loi sur les loyers", f"{FRENCH} {MORE['fr']}", "fr"),
    ("en-declared-ru", ' lang="ru"', "A bill to cap rents", f"{ENGLISH} {MORE['en']}", "en"),
    ("en-true", ' lang="en-GB"', "A bill to cap rents", f"{ENGLISH} {MORE['en']}", "en"),
]


def test_pages_with_false_or_missing_declarations_get_the_language_of_their_text():
    from newsflow.transforms.extract.extract_articles import build_article
    from newsflow.transforms.extract.page import extract_page
    from newsflow.transforms.items import Entry, Page

    fetched = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    articles = []
    for page_id, attribute, title, body, _ in PAGES:
        url = f"https://news.example.org/{page_id}"
        html = _page_html(attribute, title, body)
        page = Page(entry=Entry(feed_url="https://news.example.org/feed.xml", url=url, guid=page_id),
                    final_url=url, html=html, fetched_at=fetched, redirect_chain=[url])
        article = build_article(page, extract_page(html, url, now=fetched))
        assert isinstance(article, Article), page_id
        articles.append(dataclasses.replace(article, id=page_id))
    with TestPipeline() as p:
        out = p | beam.Create(articles) | TagArticles()
        assert_that(out.articles | beam.Map(lambda a: (a.id, a.language)),
                    equal_to([(page_id, language) for page_id, *_, language in PAGES]))


def test_the_tagger_reads_a_page_in_its_detected_language():
    """A Russian story from Moscow on a page declared English: the Russian name of the city counts."""
    body = ("Москва – Правительство России в понедельник объявило о новых мерах поддержки экономики. "
            "По словам министра финансов, программа рассчитана на три года.")
    article = Article(id="m1", url="https://example.org/m1", canonical_url="https://example.org/m1",
                      feed_url="", site="example.org", body=body, body_sha256="x",
                      fetched_at=datetime(2026, 1, 1, tzinfo=UTC), title="Новые меры", language="en")
    with TestPipeline() as p:
        out = p | beam.Create([article]) | TagArticles()
        assert_that(out.articles | beam.Map(lambda a: (a.language, a.countries)), equal_to([("ru", ["RU"])]))


def test_written_chinese_is_chinese_whichever_variety_the_identifier_leans_to():
    traditional = "颱風過後，市政府宣布明天全市停班停課。"
    simplified = "台风过后，市政府宣布明天全市停工停课。"
    assert [resolve_language(None, None, traditional), resolve_language("en", None, simplified)] == ["zh", "zh"]
