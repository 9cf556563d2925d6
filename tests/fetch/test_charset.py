import codecs

import pytest

from newsflow.transforms.fetch.charset import codec_for, declared_charset, decode_body, header_charset

FRENCH = "Le café « Ça va » coûte 3 € — naïve façon, déjà vu."
GERMAN = "Grüße aus Köln: Straße, Äpfel, Öl und Übermut."
KOREAN = "서울 특별시에서 오늘 새로운 뉴스가 발표되었습니다. 대한민국 정부는 경제 정책을 발표했다."


def page(body: str, head: str = "") -> str:
    return f"<html><head>{head}<title>t</title></head><body><p>{body}</p></body></html>"


def test_windows_1252_from_http_header():
    text, encoding = decode_body(page(FRENCH).encode("windows-1252"), "text/html; charset=windows-1252")
    assert text == page(FRENCH)
    assert encoding == "cp1252"


def test_iso_8859_1_from_meta_charset_reads_as_its_windows_1252_superset():
    html = page(GERMAN + " “quoted”", '<meta charset="ISO-8859-1">')
    text, encoding = decode_body(html.encode("windows-1252"), "text/html")
    assert text == html
    assert encoding == "cp1252"


def test_plain_iso_8859_1_page():
    html = page(GERMAN, "<meta charset=iso-8859-1>")
    text, encoding = decode_body(html.encode("iso-8859-1"), None)
    assert text == html
    assert encoding == "cp1252"


def test_euc_kr_from_meta_http_equiv():
    html = page(KOREAN, '<meta http-equiv="Content-Type" content="text/html; charset=euc-kr">')
    text, encoding = decode_body(html.encode("euc-kr"), "text/html")
    assert text == html
    assert encoding == "cp949"


def test_bom_wins_over_header():
    body = codecs.BOM_UTF16_LE + page(FRENCH).encode("utf-16-le")
    assert decode_body(body, "text/html; charset=windows-1252") == (page(FRENCH), "utf-16-le")
    assert decode_body(codecs.BOM_UTF8 + "é".encode(), "text/html; charset=windows-1252") == ("é", "utf-8")


def test_header_wins_over_meta():
    html = page(FRENCH, '<meta charset="utf-8">')
    assert decode_body(html.encode("windows-1252"), "text/html; charset=windows-1252") == (html, "cp1252")


def test_wrong_header_falls_through_to_meta():
    html = page(KOREAN, '<meta charset="euc-kr">')
    assert decode_body(html.encode("euc-kr"), "text/html; charset=utf-8") == (html, "cp949")


def test_xml_prolog():
    xml = f'<?xml version="1.0" encoding="ISO-8859-1"?><rss><title>{GERMAN}</title></rss>'
    assert decode_body(xml.encode("latin-1"), "application/rss+xml") == (xml, "cp1252")


def test_undeclared_utf8():
    assert decode_body(page(KOREAN).encode("utf-8"), "text/html") == (page(KOREAN), "utf-8")


def test_undeclared_legacy_bytes_are_detected():
    html = page(" ".join([FRENCH] * 8))
    text, encoding = decode_body(html.encode("windows-1252"), "text/html")
    assert text == html
    assert encoding == "cp1252"


def test_undecodable_declared_charset_still_gives_text():
    text, encoding = decode_body(b"\x81\x8d\x8f\x90\x9d", "text/plain; charset=windows-1252")
    assert isinstance(text, str) and text
    assert encoding


@pytest.mark.parametrize(("label", "codec"), [("UTF-8", "utf-8"), ("latin1", "cp1252"), ("us-ascii", "cp1252"),
                                              ("EUC-KR", "cp949"), ("shift_jis", "shift_jis"), ("nonsense", None),
                                              (None, None)])
def test_codec_for(label, codec):
    assert codec_for(label) == codec


def test_header_and_declared_charset_parsing():
    assert header_charset('text/html; charset="Windows-1252"') == "Windows-1252"
    assert header_charset("text/html") is None
    assert declared_charset(b'<meta http-equiv=Content-Type content="text/html;charset=koi8-r">') == "koi8-r"
    assert declared_charset(b"<meta charset=utf-16>") == "utf-8"
    assert declared_charset(b" " * 5000 + b'<meta charset="euc-kr">') is None


RUSSIAN = "Москва. Правительство России сегодня объявило о новых мерах экономической политики в стране."


@pytest.mark.parametrize(("text", "charset", "codec"), [(KOREAN, "euc-kr", "cp949"),
                                                        (RUSSIAN, "windows-1251", "cp1251"),
                                                        (RUSSIAN, "koi8-r", "koi8-r")])
def test_undeclared_non_western_bytes_are_detected(text, charset, codec):
    assert decode_body(page(text).encode(charset), None) == (page(text), codec)
