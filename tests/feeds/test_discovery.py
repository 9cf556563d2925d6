from newsflow.transforms.feeds.discovery import (
    WELL_KNOWN_FEED_PATHS,
    candidate_feed_urls,
    feed_candidates,
    find_feed_links,
    looks_like_html,
    well_known_feed_urls,
)

PAGE = """<!DOCTYPE html><html><head>
<title>Home</title>
<link rel="stylesheet" href="/style.css">
<link rel="alternate" type="text/html" href="/mobile">
<link rel="Alternate Feed" type="application/RSS+XML" href="feeds/all.rss">
<link rel="alternate" type="application/atom+xml; charset=utf-8" href="https://cdn.example/atom.xml"/>
<link rel="alternate" type="application/feed+json" href="feeds/all.rss#dup">
<link rel="alternate" type="application/feed+json" href="/feed.json">
<link rel="alternate" type="application/rss+xml" href="javascript:alert(1)">
<base href="https://www.example/section/">
</head><body><a href="/rss">RSS</a></body></html>"""


def test_feed_links_in_document_order_resolved_against_base_href():
    assert find_feed_links(PAGE, "https://www.example/section/page.html?x=1") == [
        "https://www.example/section/feeds/all.rss",
        "https://cdn.example/atom.xml",
        "https://www.example/feed.json",
    ]


def test_without_base_links_resolve_against_the_page():
    html = '<html><head><link rel="alternate" type="application/rss+xml" href="rss.xml"></head></html>'
    assert find_feed_links(html, "http://a.example/news/today") == ["http://a.example/news/rss.xml"]
    assert find_feed_links("<html><body>no feeds</body></html>", "http://a.example/") == []


def test_well_known_paths_on_the_site_root_in_order():
    assert WELL_KNOWN_FEED_PATHS == ("/feed", "/rss", "/rss.xml", "/atom.xml", "/feed.xml", "/index.xml",
                                     "/feeds/posts/default")
    assert well_known_feed_urls("https://b.example:8443/a/b?c=d") == [
        f"https://b.example:8443{path}" for path in WELL_KNOWN_FEED_PATHS]


def test_candidates_are_links_then_well_known_without_repeats_or_the_page():
    html = '<link rel="alternate" type="application/rss+xml" href="/rss.xml">'
    assert candidate_feed_urls(html, "http://c.example/feed") == [
        "http://c.example/rss.xml", "http://c.example/rss", "http://c.example/atom.xml",
        "http://c.example/feed.xml", "http://c.example/index.xml", "http://c.example/feeds/posts/default"]


def test_looks_like_html():
    assert looks_like_html(b"<!DOCTYPE html><html><body>x</body></html>") is True
    assert looks_like_html(b"\n<HTML lang=en>") is True
    assert looks_like_html(b"<p>fragment</p>", "text/html; charset=utf-8") is True
    assert looks_like_html(b'<?xml version="1.0"?><rss version="2.0"></rss>', "text/html") is False
    assert looks_like_html(b'<feed xmlns="http://www.w3.org/2005/Atom"><content type="html">'
                           b"<![CDATA[<html>x</html>]]></content></feed>") is False
    assert looks_like_html(b"<rdf:RDF xmlns:rdf='x'>") is False
    assert looks_like_html('<rss version="2.0">'.encode("utf-16")) is False
    assert looks_like_html(b'{"version": "https://jsonfeed.org/version/1.1"}', "text/html") is False


def test_feed_candidates_exclude_the_requested_url_after_a_redirect():
    assert feed_candidates(["http://d.example/feed", "http://d.example/atom.xml"], "http://d.example/home",
                           "http://d.example/rss") == [
        "http://d.example/feed", "http://d.example/atom.xml", "http://d.example/rss.xml",
        "http://d.example/feed.xml", "http://d.example/index.xml", "http://d.example/feeds/posts/default"]
