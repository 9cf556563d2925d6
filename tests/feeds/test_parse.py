import gzip
import tracemalloc
from datetime import UTC, datetime

import feedparser
import pytest

from newsflow.transforms.feeds.parse import (
    DUPLICATE_IN_FEED,
    ENTRY_WITHOUT_LINK,
    FeedSecurityError,
    language_tag,
    parse_feed,
    parse_json_feed,
    plain_text,
)
from newsflow.transforms.items import Entry

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
FEED_URL = "http://news.example/feeds/main.xml"

RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:sy="http://purl.org/rss/1.0/modules/syndication/">
<channel>
  <title>Example &amp; News</title>
  <ttl>15</ttl>
  <sy:updatePeriod>hourly</sy:updatePeriod>
  <sy:updateFrequency>4</sy:updateFrequency>
  <item>
    <title>Harbour &lt;b&gt;vote&lt;/b&gt;</title>
    <link>/2026/11/harbour-vote?utm_source=rss</link>
    <guid isPermaLink="false">id-1</guid>
    <description>&lt;p&gt;The council &lt;em&gt;approved&lt;/em&gt; it.&lt;/p&gt;&lt;script&gt;alert(1)&lt;/script&gt;</description>
    <pubDate>Fri, 27 Nov 2026 09:30:00 +0100</pubDate>
  </item>
  <item>
    <title>Ferry timetable</title>
    <link>https://news.example/2026/11/ferry</link>
    <pubDate>Mon, 30 Nov 2026 10:00:00 GMT</pubDate>
  </item>
  <item>
    <title>No link here</title>
    <guid isPermaLink="false">id-3</guid>
  </item>
  <item>
    <title>Harbour vote (updated)</title>
    <link>http://news.example/2026/11/harbour-vote#comments</link>
    <guid isPermaLink="false">id-1-rev2</guid>
  </item>
  <item>
    <title>Mail</title>
    <link>mailto:desk@news.example</link>
  </item>
</channel>
</rss>
"""


def test_rss_entries_are_absolute_plain_utc_and_nothing_vanishes():
    parsed = parse_feed(RSS, FEED_URL, {"Content-Type": "application/rss+xml; charset=utf-8"}, now=NOW)

    assert (parsed.kind, parsed.bozo, parsed.bozo_message) == ("rss", False, None)
    assert parsed.title == "Example & News"
    assert parsed.ttl_s == 900
    assert parsed.update_period_s == 900
    assert parsed.entries == [
        Entry(feed_url=FEED_URL, url="http://news.example/2026/11/harbour-vote?utm_source=rss", guid="id-1",
              title="Harbour vote", summary="The council approved it.",
              published_at=datetime(2026, 11, 27, 8, 30, tzinfo=UTC)),
        # 30 Nov is more than a day after NOW: the date is dropped, the entry kept.
        Entry(feed_url=FEED_URL, url="https://news.example/2026/11/ferry", title="Ferry timetable"),
    ]
    assert [(r.kind, r.stage, r.reason, r.url, r.feed_url, r.message) for r in parsed.rejected] == [
        ("skip", "feeds", ENTRY_WITHOUT_LINK, FEED_URL, FEED_URL,
         "entry 2 (no http(s) link): guid='id-3' title='No link here'"),
        ("skip", "feeds", ENTRY_WITHOUT_LINK, FEED_URL, FEED_URL,
         "entry 4 (no http(s) link): guid=None title='Mail'"),
        ("skip", "feeds", DUPLICATE_IN_FEED, "http://news.example/2026/11/harbour-vote#comments", FEED_URL,
         "guid='id-1-rev2' repeats a link listed earlier"),
    ]


def test_date_even_hours_ahead_is_dropped_by_the_one_future_rule():
    # clock.not_future, the rule extraction applies too: no record is dated after it was seen
    body = RSS.replace(b"Mon, 30 Nov 2026 10:00:00 GMT", b"Sat, 28 Nov 2026 23:00:00 GMT")
    parsed = parse_feed(body, FEED_URL, now=NOW)
    assert parsed.entries[1].published_at is None
    on_time = RSS.replace(b"Mon, 30 Nov 2026 10:00:00 GMT", b"Sat, 28 Nov 2026 12:00:00 GMT")
    assert parse_feed(on_time, FEED_URL, now=NOW).entries[1].published_at == NOW


def test_atom_links_resolve_against_xml_base_and_content_location():
    atom = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="http://cdn.example/blog/">
  <title type="html">A &lt;i&gt;blog&lt;/i&gt;</title>
  <entry>
    <title>One</title><id>tag:example,2026:1</id>
    <link rel="alternate" href="posts/one.html"/>
    <updated>2026-11-20T10:00:00Z</updated>
    <content type="html">&lt;p&gt;Body &amp;amp; more&lt;/p&gt;</content>
  </entry>
  <entry xml:base="/other/">
    <title>Two</title><id>tag:example,2026:2</id>
    <link rel="alternate" href="two.html"/>
    <published>2026-11-21T10:00:00+02:00</published>
  </entry>
</feed>"""
    parsed = parse_feed(atom, "http://blog.example/atom.xml", {"content-type": "application/atom+xml"}, now=NOW)
    assert (parsed.kind, parsed.bozo, parsed.title) == ("atom", False, "A blog")
    assert [(e.url, e.guid, e.summary, e.published_at) for e in parsed.entries] == [
        ("http://cdn.example/blog/posts/one.html", "tag:example,2026:1", "Body & more",
         datetime(2026, 11, 20, 10, 0, tzinfo=UTC)),
        ("http://cdn.example/other/two.html", "tag:example,2026:2", None,
         datetime(2026, 11, 21, 8, 0, tzinfo=UTC)),
    ]


def test_relative_links_without_xml_base_use_content_location_then_feed_url():
    rss = b'<rss version="2.0"><channel><title>t</title><item><link>a/1</link></item></channel></rss>'
    assert parse_feed(rss, "http://site.example/x/feed.xml").entries[0].url == "http://site.example/x/a/1"
    moved = parse_feed(rss, "http://site.example/x/feed.xml", {"Content-Location": "/mirror/feed.xml"})
    assert moved.entries[0].url == "http://site.example/mirror/a/1"


def test_rdf_kind_and_http_charset_wins_over_prolog():
    rdf = """<?xml version="1.0" encoding="utf-8"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/">
<channel rdf:about="http://x.example/"><title>Café</title><link>http://x.example/</link></channel>
<item rdf:about="http://x.example/1"><title>Zürich</title><link>http://x.example/1</link></item>
</rdf:RDF>""".encode("iso-8859-1")
    parsed = parse_feed(rdf, "http://x.example/rdf", {"content-type": "application/rdf+xml; charset=iso-8859-1"})
    assert (parsed.kind, parsed.title, [e.title for e in parsed.entries]) == ("rdf", "Café", ["Zürich"])


def test_bozo_feed_keeps_recovered_entries():
    broken = b"""<rss version="2.0"><channel><title>Broken & co</title>
<item><title>First</title><link>http://b.example/1</link></item>
<item><title>Second</title><link>http://b.example/2</link></item>
</channel>"""
    parsed = parse_feed(broken, "http://b.example/rss")
    assert parsed.bozo is True
    assert parsed.bozo_message is not None and parsed.bozo_message.startswith("SAXParseException")
    assert [e.url for e in parsed.entries] == ["http://b.example/1", "http://b.example/2"]


def test_bytes_naming_a_local_file_are_parsed_as_bytes_not_opened(tmp_path):
    secret = tmp_path / "feed.xml"
    secret.write_bytes(b'<rss version="2.0"><channel><item><link>http://leak.example/</link></item></channel></rss>')
    parsed = parse_feed(str(secret).encode(), "http://a.example/feed")
    assert parsed.entries == []
    assert parsed.kind == "unknown"


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE rss [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss version="2.0"><channel><title>&lol9;</title>
<item><title>&lol9;</title><link>http://laughs.example/1</link></item></channel></rss>"""


def _xxe(path) -> bytes:
    return (f'<?xml version="1.0"?>\n<!DOCTYPE rss [ <!ENTITY xxe SYSTEM "file://{path}"> ]>\n'
            '<rss version="2.0"><channel><title>&xxe;</title><item><title>&xxe;</title>'
            '<description>&xxe;</description><link>http://xxe.example/1</link></item></channel></rss>').encode()


@pytest.mark.parametrize("body", [
    BILLION_LAUGHS,
    BILLION_LAUGHS.replace(b'<?xml version="1.0"?>', b"").decode().encode("utf-16"),
    b'<!DOCTYPE x [<!ENTITY % ext SYSTEM "http://evil.example/x.dtd"> %ext;]><rss/>',
    b'<!doctype urlset [<!entity a "b">]><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"/>',
])
def test_documents_declaring_entities_are_refused(body):
    with pytest.raises(FeedSecurityError, match="declares XML entities") as caught:
        parse_feed(body, "http://evil.example/feed")
    assert caught.value.reason == "xml_entities_refused"


def test_entities_hidden_in_a_charset_from_the_http_header_are_refused():
    doc = '<!DOCTYPE rss [<!ENTITY a "x"><!ENTITY b "&a;&a;">]><rss version="2.0"><channel><title>&b;</title></channel></rss>'
    body = doc.encode("cp037")  # EBCDIC: no ASCII byte of the declaration survives
    assert b"ENTITY" not in body
    with pytest.raises(FeedSecurityError):
        parse_feed(body, "http://e.example/feed", {"Content-Type": "application/rss+xml; charset=cp037"})


def test_xxe_is_refused_and_feedparser_alone_never_reads_the_file(tmp_path):
    marker = "MARKER-7f3a9c-never-in-output"
    secret = tmp_path / "secret.txt"
    secret.write_text(marker)
    with pytest.raises(FeedSecurityError):
        parse_feed(_xxe(secret), "http://xxe.example/feed")
    # Below the refusal, feedparser itself must not resolve external entities either.
    import io
    result = feedparser.parse(io.BytesIO(_xxe(secret)), response_headers={"content-type": "application/xml"})
    assert marker not in repr(result)
    assert [e.get("link") for e in result.entries] == ["http://xxe.example/1"]


def test_feedparser_alone_does_not_expand_billion_laughs():
    import io
    tracemalloc.start()
    try:
        result = feedparser.parse(io.BytesIO(BILLION_LAUGHS), response_headers={"content-type": "application/xml"})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "lollollol" not in repr(result)
    assert peak < 5_000_000  # fully expanded, lol9 alone is 3 GB


def test_internal_literal_entities_are_expanded():
    body = (b'<!DOCTYPE rss [\n  <!ENTITY id "tag:example.com,">\n  <!ENTITY who \'AT&#38;T\'>\n]>'
            b'<rss version="2.0"><channel><item><guid isPermaLink="false">&id;2006-05-04:/blog/</guid>'
            b"<link>http://e.example/1</link></item></channel></rss>")
    with pytest.raises(FeedSecurityError, match="'who' has references or markup"):
        parse_feed(body, "http://e.example/feed")  # a character reference is a reference too
    body = body.replace(b"  <!ENTITY who 'AT&#38;T'>\n", b"")
    parsed = parse_feed(body, "http://e.example/feed")
    assert (parsed.bozo, [(e.guid, e.url) for e in parsed.entries]) == (
        False, [("tag:example.com,2006-05-04:/blog/", "http://e.example/1")])


def _with_entities(declarations: str, references: int = 1, name: str = "a") -> bytes:
    return (f'<?xml version="1.0"?><!DOCTYPE rss [{declarations}]><rss version="2.0"><channel>'
            f'<title>{("&" + name + ";") * references}</title><item><link>http://q.example/1</link></item>'
            "</channel></rss>").encode()


@pytest.mark.parametrize(("body", "problem"), [
    (_with_entities(f'<!ENTITY a "{"x" * 9_000}">', references=200), "references expand to 1800000 bytes"),
    (_with_entities(f'<!ENTITY a "{"x" * 6_000}"><!ENTITY b "{"y" * 6_000}">'), "declared values exceed 10000"),
    (_with_entities('<!ENTITY a "<b>bold</b>">'), "'a' has references or markup"),
    (_with_entities('<!ENTITY a "100%">'), "'a' has references or markup"),
    (_with_entities('<!ENTITY a PUBLIC "-//x//EN" "http://evil.example/a.ent">'), "internal literal general"),
    (_with_entities('<!ENTITY a SYSTEM "file:///etc/passwd">'), "internal literal general"),
    (_with_entities('<!ENTITY % p "x"><!ENTITY a "y">'), "internal literal general"),
    (_with_entities('<!ENTITY a "y"><!ELEMENT rss ANY>'), "internal literal general"),
    (_with_entities('<!ENTITY a "y">').replace(b"<!DOCTYPE rss [", b'<!DOCTYPE rss SYSTEM "http://e.example/r.dtd" ['),
     "only an internal subset"),
    (_with_entities('<!ENTITY a "y">').replace(b"]>", b""), "internal literal general"),
])
def test_unsafe_entity_declarations_are_refused(body, problem):
    with pytest.raises(FeedSecurityError, match="declares XML entities") as caught:
        parse_feed(body, "http://q.example/feed")
    assert problem in str(caught.value)
    assert caught.value.reason == "xml_entities_refused"


def test_entity_expansion_just_under_the_caps_is_parsed():
    body = _with_entities(f'<!ENTITY a "{"x" * 10_000}">', references=100)
    parsed = parse_feed(body, "http://q.example/feed")
    assert (parsed.title, [e.url for e in parsed.entries]) == ("x" * 1_000_000, ["http://q.example/1"])


@pytest.mark.parametrize(("body", "content_type"), [
    (b'<rss version="2.0"><channel><language>en-US</language><item><link>http://l.example/1</link></item>'
     b"</channel></rss>", "application/rss+xml"),
    (b'<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en"><entry><id>1</id>'
     b'<link href="http://l.example/1"/></entry></feed>', "application/atom+xml"),
    (b'{"version": "https://jsonfeed.org/version/1.1", "language": "en-GB", "items": '
     b'[{"id": "1", "url": "http://l.example/1"}]}', "application/feed+json"),
])
def test_entries_carry_the_feeds_declared_language(body, content_type):
    parsed = parse_feed(body, "http://l.example/feed", {"Content-Type": content_type})
    assert [(e.url, e.language) for e in parsed.entries] == [("http://l.example/1", "en")]


def test_language_tag():
    assert [language_tag(v) for v in ("zh", "en-US", "pt_BR", "", None, "english", "1a")] == [
        "zh", "en", "pt", None, None, None, None]


def test_doctype_without_entities_is_parsed():
    body = (b'<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" '
            b'"http://my.netscape.com/publish/formats/rss-0.91.dtd">\n<rss version="0.91"><channel><title>n</title>'
            b"<item><title>i</title><link>http://n.example/1</link></item></channel></rss>")
    parsed = parse_feed(body, "http://n.example/rss")
    assert (parsed.kind, parsed.bozo, [e.url for e in parsed.entries]) == ("rss", False, ["http://n.example/1"])


def test_html_page_reports_its_feed_links():
    html = b"""<!DOCTYPE html><html><head><base href="/news/">
<link rel="alternate" type="application/rss+xml" href="rss.xml">
<link rel="alternate" type="application/atom+xml" href="https://other.example/atom">
<link rel="stylesheet" href="s.css"></head><body>hi</body></html>"""
    parsed = parse_feed(html, "http://site.example/index.html", {"content-type": "text/html; charset=utf-8"})
    assert (parsed.kind, parsed.entries, parsed.rejected) == ("html", [], [])
    assert parsed.alternate_links == ["http://site.example/news/rss.xml", "https://other.example/atom"]


JSON_FEED = b"""{
  "version": "https://jsonfeed.org/version/1.1",
  "title": "JSON News",
  "home_page_url": "https://j.example/",
  "items": [
    {"id": "1", "url": "https://j.example/a", "title": "A", "content_html": "<p>Alpha <b>one</b></p>",
     "date_published": "2026-11-27T10:00:00-05:00"},
    {"id": 2, "url": "/b", "title": "B", "summary": "Beta", "date_modified": "2026-11-26T10:00:00Z"},
    {"id": "3", "external_url": "https://elsewhere.example/c", "content_text": "Gamma"},
    {"id": "4", "title": "no url"},
    "not an object"
  ]
}"""


def test_json_feed():
    parsed = parse_feed(JSON_FEED, "https://j.example/feed.json", {"content-type": "application/feed+json"}, now=NOW)
    assert (parsed.kind, parsed.bozo, parsed.title) == ("json", False, "JSON News")
    assert parsed.entries == [
        Entry(feed_url="https://j.example/feed.json", url="https://j.example/a", guid="1", title="A",
              summary="Alpha one", published_at=datetime(2026, 11, 27, 15, 0, tzinfo=UTC)),
        Entry(feed_url="https://j.example/feed.json", url="https://j.example/b", guid="2", title="B",
              summary="Beta", published_at=datetime(2026, 11, 26, 10, 0, tzinfo=UTC)),
        Entry(feed_url="https://j.example/feed.json", url="https://elsewhere.example/c", guid="3",
              summary="Gamma"),
    ]
    assert [(r.reason, r.message) for r in parsed.rejected] == [
        (ENTRY_WITHOUT_LINK, "entry 3 (no http(s) url): guid='4' title='no url'"),
        (ENTRY_WITHOUT_LINK, "entry 4 (item is not an object): guid=None title=None"),
    ]


def test_json_that_is_not_a_json_feed_is_bozo():
    parsed = parse_json_feed(b'{"version": "2", "items": []}', "https://j.example/x.json")
    assert (parsed.kind, parsed.bozo, parsed.bozo_message) == (
        "unknown", True, "JSON document is not a JSON Feed (no jsonfeed.org version)")
    broken = parse_feed(b"{not json", "https://j.example/x.json")
    assert broken.bozo and broken.bozo_message is not None and broken.bozo_message.startswith("JSONDecodeError")


NEWS_SITEMAP = b"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
  <url><loc>https://s.example/a</loc>
    <news:news><news:publication><news:name>S</news:name><news:language>en</news:language></news:publication>
      <news:publication_date>2026-11-27T08:00:00+01:00</news:publication_date><news:title>A &amp; B</news:title>
    </news:news></url>
  <url><loc>https://s.example/b</loc><lastmod>2026-11-26</lastmod></url>
  <url><loc>ftp://s.example/c</loc></url>
</urlset>"""


def test_sitemap_through_parse_feed_plain_and_gzipped():
    for body in (NEWS_SITEMAP, gzip.compress(NEWS_SITEMAP)):
        parsed = parse_feed(body, "https://s.example/news-sitemap.xml", now=NOW)
        assert parsed.kind == "sitemap"
        assert [(e.url, e.title, e.published_at) for e in parsed.entries] == [
            ("https://s.example/a", "A & B", datetime(2026, 11, 27, 7, 0, tzinfo=UTC)),
            ("https://s.example/b", None, datetime(2026, 11, 26, tzinfo=UTC)),
        ]
        assert [(r.reason, r.message) for r in parsed.rejected] == [
            (ENTRY_WITHOUT_LINK, "entry 2 (loc 'ftp://s.example/c' is not http(s)): guid=None title=None")]


def test_sitemap_index_lists_children_and_broken_sitemap_is_bozo():
    index = b"""<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
<sitemap><loc>/sitemap-1.xml.gz</loc></sitemap><sitemap><loc>https://s.example/sitemap-2.xml</loc></sitemap>
</sitemapindex>"""
    parsed = parse_feed(index, "https://s.example/sitemap.xml")
    assert (parsed.kind, parsed.entries, parsed.child_sitemaps) == (
        "sitemap", [], ["https://s.example/sitemap-1.xml.gz", "https://s.example/sitemap-2.xml"])
    broken = parse_feed(b"<urlset><url><loc>https://s.example/a</loc></urlset>", "https://s.example/s.xml")
    assert (broken.kind, broken.bozo, broken.entries) == ("sitemap", True, [])
    assert broken.bozo_message is not None and broken.bozo_message.startswith("ParseError")


def test_gzip_bomb_is_capped(monkeypatch):
    monkeypatch.setattr("newsflow.transforms.feeds.sitemaps.MAX_SITEMAP_BYTES", 1000)
    parsed = parse_feed(gzip.compress(b"<urlset>" + b" " * 5000 + b"</urlset>"), "https://s.example/s.xml.gz")
    assert (parsed.bozo, parsed.bozo_message) == (True, "SitemapTooLarge: gzip body inflates beyond 1000 bytes")


def test_plain_text():
    assert plain_text("<p>One<br>two</p><script>x()</script><style>p{}</style>&amp; three&nbsp;4") == "One two & three 4"
    assert plain_text("  ") is None
    assert plain_text(None) is None


def _real_feeds():
    from tests.conftest import bench_kit
    kit = bench_kit("feeds/real-feeds")
    import json
    return kit, {f["file"]: f["feedparser"] for f in json.loads((kit / "manifest.json").read_text())["files"]}


def test_real_world_feeds_keep_every_entry_and_decode_cleanly():
    kit, expected = _real_feeds()
    for name, fp in expected.items():
        parsed = parse_feed((kit / name).read_bytes(), f"https://real.example/{name}")
        assert (name, parsed.bozo, len(parsed.entries) + len(parsed.rejected)) == (name, fp["bozo"], fp["entries"])
        assert parsed.title == (" ".join(fp["title"].split()) if fp["title"] else None)
        for entry in parsed.entries:
            assert entry.url.startswith(("http://", "https://")), (name, entry.url)
            assert entry.title and "\ufffd" not in entry.title, (name, entry.title)


def test_same_posts_as_atom_and_rss_give_the_same_links():
    kit, _ = _real_feeds()
    atom = parse_feed((kit / "large_atom.xml").read_bytes(), "https://real.example/atom")
    rss = parse_feed((kit / "large_rss.xml").read_bytes(), "https://real.example/rss")
    assert len(atom.entries) == 25
    assert [e.url for e in atom.entries] == [e.url for e in rss.entries]
    assert [e.title for e in atom.entries] == [e.title for e in rss.entries]


@pytest.mark.parametrize(("item", "expected"), [
    # RDF 1.0: the permalink is only the item's rdf:about
    (b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/">'
     b'<channel rdf:about="http://news.example/index.rdf"><title>N</title></channel>'
     b'<item rdf:about="http://news.example/2026/11/rdf-story"><title>RDF story</title></item></rdf:RDF>',
     "http://news.example/2026/11/rdf-story"),
    # RSS 2.0 without <link>: the guid is the permalink
    (b'<rss version="2.0"><channel><title>N</title><item><title>Guid story</title>'
     b'<guid>https://news.example/2026/11/guid-story</guid></item></channel></rss>',
     "https://news.example/2026/11/guid-story"),
    # a guid marked not a permalink that is still the only URL the item has
    (b'<rss version="2.0"><channel><title>N</title><item><title>Opaque</title>'
     b'<guid isPermaLink="false">https://news.example/2026/11/opaque</guid></item></channel></rss>',
     "https://news.example/2026/11/opaque"),
    # FeedBurner: the publisher's own URL behind the redirector link wins over an id
    (b'<rss version="2.0" xmlns:feedburner="http://rssnamespace.org/feedburner/ext/1.0"><channel><title>N</title>'
     b'<item><title>Burned</title><guid isPermaLink="false">tag:news.example,2026:1</guid>'
     b'<feedburner:origLink>https://news.example/2026/11/burned</feedburner:origLink></item></channel></rss>',
     "https://news.example/2026/11/burned"),
    # Atom: only a rel="related" HTML link
    (b'<feed xmlns="http://www.w3.org/2005/Atom"><title>N</title><id>urn:x</id><updated>2026-11-27T09:00:00Z</updated>'
     b'<entry><title>Related</title><id>urn:uuid:1</id><updated>2026-11-27T09:00:00Z</updated>'
     b'<link rel="related" type="text/html" href="https://news.example/2026/11/related"/></entry></feed>',
     "https://news.example/2026/11/related"),
])
def test_entries_whose_link_is_not_in_link_are_kept(item: bytes, expected: str):
    parsed = parse_feed(item, FEED_URL, now=NOW)
    assert [e.url for e in parsed.entries] == [expected] and parsed.rejected == []


def test_an_entry_with_no_url_anywhere_is_skipped_with_its_reason():
    body = (b'<rss version="2.0"><channel><title>N</title><item><title>Nowhere</title>'
            b'<guid isPermaLink="false">id-7</guid></item></channel></rss>')
    parsed = parse_feed(body, FEED_URL, now=NOW)
    assert parsed.entries == []
    assert [(r.kind, r.reason, r.message) for r in parsed.rejected] == [
        ("skip", ENTRY_WITHOUT_LINK, "entry 0 (no http(s) link): guid='id-7' title='Nowhere'")]
