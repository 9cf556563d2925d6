import pytest

from newsflow.transforms.urls import (
    absolute_http_url,
    article_id,
    is_http_url,
    is_tracking_param,
    normalize_url,
    site_of,
)


@pytest.mark.parametrize("name", ["utm_source", "UTM_Medium", "fbclid", "mkt_tok", "_hsenc", "_hsmi", "icid",
                                  "ncid", "xtor", "guccounter", "guce_referrer", "guce_referrer_sig", "ftag", "wt_mc",
                                  "rss_id", "__hstc", "pk_campaign"])
def test_tracking_params(name):
    assert is_tracking_param(name) is True


@pytest.mark.parametrize("name", ["id", "page", "q", "article", "p"])
def test_content_params_are_kept(name):
    assert is_tracking_param(name) is False


def test_normalize_url_strips_tracking_sorts_query_and_drops_fragment():
    assert normalize_url("HTTPS://WWW.Example.com:443/a/b?z=1&utm_source=rss&xtor=RSS-1&a=2#top") == \
        "https://www.example.com/a/b?a=2&z=1"
    assert normalize_url("not a url") == "not a url"


def test_site_and_id():
    assert site_of("https://www.example.com/x") == "example.com"
    assert article_id("https://www.example.com/a?utm_source=x") == article_id("https://www.example.com/a")
    assert len(article_id("https://www.example.com/a")) == 16


def test_is_http_url():
    assert is_http_url("https://a.example/x") is True
    assert is_http_url("http://a.example") is True
    assert is_http_url("ftp://a.example/x") is False
    assert is_http_url("/relative") is False
    assert is_http_url("http:///nohost") is False


def test_absolute_http_url():
    assert absolute_http_url(" ../b?x=1 ", "http://a.example/feeds/x/rss") == "http://a.example/feeds/b?x=1"
    assert absolute_http_url("//cdn.example/p", "https://a.example/") == "https://cdn.example/p"
    assert absolute_http_url("javascript:alert(1)", "https://a.example/") is None
    assert absolute_http_url("mailto:x@a.example", "https://a.example/") is None
    assert absolute_http_url("", "https://a.example/") is None
    assert absolute_http_url(None, "https://a.example/") is None
