"""HttpClient against a real HTTP server on 127.0.0.1 (fakes only for sleep and clock)."""

import gzip
import itertools
import socket
import ssl
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import brotli
import pytest
import zstandard

from newsflow.transforms.fetch.backoff import backoff_delay, parse_retry_after
from newsflow.transforms.fetch.client import FetchPolicy, HttpClient, replay_original
from newsflow.transforms.fetch.decoding import decoded_chunks
from newsflow.transforms.fetch.media import accepts, media_type, sniff_media_type
from newsflow.transforms.fetch.robots import RobotsRules
from tests.fixture_server import Route, html, redirect, sequence, serve

PAGE = "<html><head><title>t</title></head><body><p>Grüße</p></body></html>"
LOCAL = ("127.0.0.1/32",)


def policy(**overrides):
    settings = {"allow_private_networks": LOCAL, "host_delay_s": 0.0, "backoff_base_s": 0.01,
                "respect_robots": False}
    settings.update(overrides)
    return FetchPolicy(**settings)


class Sleeps(list):
    """A fake sleep that records each wait."""

    def __call__(self, seconds):
        self.append(seconds)



@pytest.fixture
def sleeps():
    return Sleeps()


@pytest.fixture
def client_factory():
    clients = []

    def make(sleep=None, clock=None, **overrides):
        kwargs = {}
        if sleep is not None:
            kwargs["sleep"] = sleep
        if clock is not None:
            kwargs["clock"] = clock
        client = HttpClient(policy(**overrides), **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def paths(server, path=None):
    return [request.path for request in server.requests if path is None or request.path == path]


# ---------------------------------------------------------------- basics


def test_ok_page(client_factory):
    with serve({"/a": Route(body=PAGE.encode(), headers={"Content-Type": "Text/HTML; Charset=UTF-8",
                                                        "ETag": '"v1"', "Last-Modified": "Mon, 29 Jul 2024 00:00:00 GMT",
                                                        "X-Multi": "1"})}) as server:
        result = client_factory().fetch(server.url("/a"))
        request = server.requests_for("/a")[0]
    assert (result.outcome, result.reason, result.status) == ("ok", None, 200)
    assert (result.url, result.final_url, result.redirect_chain) == (server.url("/a"), server.url("/a"), [])
    assert (result.text, result.encoding, result.content_type) == (PAGE, "utf-8", "text/html")
    assert result.body == PAGE.encode()
    assert (result.etag, result.last_modified) == ('"v1"', "Mon, 29 Jul 2024 00:00:00 GMT")
    assert result.headers["x-multi"] == "1"
    assert (result.attempts, result.error_class, result.message) == (1, None, None)
    assert result.fetched_at.tzinfo == UTC
    assert request.headers["user-agent"] == FetchPolicy().user_agent
    assert request.headers["accept-encoding"] == "gzip, deflate, br, zstd"
    assert request.headers["accept"].startswith("text/html")


def test_cookies_are_not_shared_between_requests(client_factory):
    routes = {"/set": Route(body=PAGE.encode(), headers={"Content-Type": "text/html", "Set-Cookie": "s=1; Path=/"}),
              "/next": html(PAGE)}
    with serve(routes) as server:
        client = client_factory()
        client.fetch(server.url("/set"))
        client.fetch(server.url("/next"))
        assert "cookie" not in server.requests_for("/next")[0].headers


# ---------------------------------------------------------------- redirects


def test_redirect_chain_is_kept(client_factory):
    routes = {"/r1": redirect("/r2", 301), "/r2": redirect("r3", 307), "/r3": redirect("PLACEHOLDER", 308),
              "/final": html(PAGE)}
    with serve(routes) as server:
        server.set("/r3", redirect(server.url("/final"), 308))
        result = client_factory().fetch(server.url("/r1"))
    assert (result.outcome, result.status, result.text) == ("ok", 200, PAGE)
    assert result.final_url == server.url("/final")
    assert result.redirect_chain == [server.url("/r1"), server.url("/r2"), server.url("/r3")]
    assert result.moved_permanently is False  # the 307 hop is temporary


def test_only_permanent_redirects_mean_moved(client_factory):
    routes = {"/a": redirect("/b", 301), "/b": redirect("/c", 308), "/c": html(PAGE), "/d": html(PAGE)}
    with serve(routes) as server:
        moved = client_factory().fetch(server.url("/a"))
        direct = client_factory().fetch(server.url("/d"))
    assert (moved.final_url, moved.moved_permanently) == (server.url("/c"), True)
    assert (direct.final_url, direct.moved_permanently) == (server.url("/d"), False)


def test_five_redirects_are_followed_and_the_sixth_is_refused(client_factory):
    routes = {f"/h{i}": redirect(f"/h{i + 1}") for i in range(7)}
    routes["/h5"] = html(PAGE)
    with serve(routes) as server:
        ok = client_factory().fetch(server.url("/h0"))
        server.set("/h5", redirect("/h6"))
        server.set("/h6", html(PAGE))
        server.clear_requests()
        too_many = client_factory().fetch(server.url("/h0"))
        requested = paths(server)
    assert (ok.outcome, ok.final_url, len(ok.redirect_chain)) == ("ok", server.url("/h5"), 5)
    assert (too_many.outcome, too_many.reason, too_many.status) == ("error", "too_many_redirects", 302)
    assert (too_many.error_class, too_many.message) == ("TooManyRedirects", "more than 5 redirects")
    assert too_many.redirect_chain == [server.url(f"/h{i}") for i in range(5)]
    assert too_many.final_url == server.url("/h5")
    assert requested == ["/h0", "/h1", "/h2", "/h3", "/h4", "/h5"]


def test_redirect_loop(client_factory):
    with serve({"/x": redirect("/y"), "/y": redirect("/x#again")}) as server:
        result = client_factory().fetch(server.url("/x"))
        requested = paths(server)
    assert (result.outcome, result.reason, result.error_class) == ("error", "too_many_redirects", "TooManyRedirects")
    assert result.message == f"redirect loop: {server.url('/y')} redirects back to {server.url('/x#again')}"
    assert result.redirect_chain == [server.url("/x")]
    assert result.final_url == server.url("/y")
    assert requested == ["/x", "/y"]


def test_redirect_to_another_scheme_is_skipped(client_factory):
    with serve({"/x": redirect("ftp://example.org/file")}) as server:
        result = client_factory().fetch(server.url("/x"))
    assert (result.outcome, result.reason, result.final_url) == ("skip", "unsupported_scheme", "ftp://example.org/file")


# ---------------------------------------------------------------- statuses and retries


@pytest.mark.parametrize("status", [404, 410, 401, 403])
def test_permanent_errors_are_not_retried(client_factory, sleeps, status):
    with serve({"/gone": Route(status=status, body=b"no")}) as server:
        result = client_factory(sleep=sleeps).fetch(server.url("/gone"))
        requested = paths(server)
    assert (result.outcome, result.reason, result.status, result.attempts) == ("error", f"http_{status}", status, 1)
    assert result.error_class == "HTTPStatusError"
    assert result.message.startswith(f"HTTP {status} ")
    assert requested == ["/gone"]
    assert sleeps == []


def test_503_then_200_honours_retry_after(client_factory, sleeps):
    flaky = sequence(Route(status=503, headers={"Retry-After": "7"}), html(PAGE))
    with serve({"/flaky": Route(handler=flaky)}) as server:
        result = client_factory(sleep=sleeps).fetch(server.url("/flaky"))
        requested = paths(server)
    assert (result.outcome, result.status, result.attempts, result.text) == ("ok", 200, 2, PAGE)
    assert sleeps == [7.0]
    assert requested == ["/flaky", "/flaky"]


def test_retry_after_beyond_the_cap_gives_up_without_asking_again(client_factory, sleeps):
    flaky = sequence(Route(status=429, headers={"Retry-After": "3600"}), html(PAGE))
    with serve({"/busy": Route(handler=flaky)}) as server:
        result = client_factory(sleep=sleeps, backoff_max_s=12.0).fetch(server.url("/busy"))
        requested = paths(server)
    assert (result.outcome, result.reason, result.attempts) == ("error", "http_429", 1)
    assert result.headers["retry-after"] == "3600"
    assert requested == ["/busy"]
    assert sleeps == []


def test_retry_after_within_the_cap_is_waited_exactly(client_factory, sleeps):
    flaky = sequence(Route(status=429, headers={"Retry-After": "12"}), html(PAGE))
    with serve({"/busy": Route(handler=flaky)}) as server:
        result = client_factory(sleep=sleeps, backoff_max_s=12.0).fetch(server.url("/busy"))
    assert (result.outcome, result.attempts) == ("ok", 2)
    assert sleeps == [12.0]


def test_persistent_5xx_uses_jittered_backoff_then_gives_up(client_factory, sleeps):
    with serve({"/down": Route(status=502)}) as server:
        result = client_factory(sleep=sleeps, max_attempts=4, backoff_base_s=1.0).fetch(server.url("/down"))
        requested = paths(server)
    assert (result.outcome, result.reason, result.status, result.attempts) == ("error", "http_502", 502, 4)
    assert requested == ["/down"] * 4
    assert len(sleeps) == 3
    assert all(0.0 <= wait <= cap for wait, cap in zip(sleeps, [1.0, 2.0, 4.0], strict=True))


def test_connection_refused_is_retried(client_factory, sleeps):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = client_factory(sleep=sleeps, max_attempts=2).fetch(f"http://127.0.0.1:{port}/")
    assert (result.outcome, result.reason, result.attempts, result.status) == ("error", "connect_error", 2, None)
    assert result.error_class == "ConnectError"
    assert len(sleeps) == 1


def test_unresolvable_host_is_a_dns_error(client_factory, sleeps):
    result = client_factory(sleep=sleeps).fetch("http://no-such-host.invalid/")
    assert (result.outcome, result.reason, result.error_class) == ("error", "dns_error", "DnsError")


def test_retry_after_parsing():
    now = datetime(2024, 7, 29, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after("Mon, 29 Jul 2024 12:00:30 GMT", now) == 30.0
    assert parse_retry_after("Mon, 29 Jul 2024 11:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


def test_backoff_delay():
    assert backoff_delay(1, 5.0, 0.5, 30.0) == 5.0
    assert backoff_delay(1, 50.0, 0.5, 30.0) == 30.0
    assert all(0.0 <= backoff_delay(3, None, 0.5, 30.0) <= 2.0 for _ in range(200))
    assert all(0.0 <= backoff_delay(20, None, 0.5, 30.0) <= 30.0 for _ in range(200))


# ---------------------------------------------------------------- timeouts


def test_slow_headers_time_out(client_factory):
    with serve({"/slow": Route(body=PAGE.encode(), header_delay_s=2.0)}) as server:
        started = time.monotonic()
        result = client_factory(read_timeout_s=0.3, max_attempts=1).fetch(server.url("/slow"))
        elapsed = time.monotonic() - started
    assert (result.outcome, result.reason, result.error_class) == ("error", "timeout", "ReadTimeout")
    assert elapsed < 1.5


def test_trickle_is_cut_at_the_total_timeout(client_factory):
    trickle = Route(body=b"<html>" + b"x" * 200 + b"</html>", chunk_size=1, chunk_delay_s=0.05)
    with serve({"/trickle": trickle}) as server:
        started = time.monotonic()
        result = client_factory(total_timeout_s=1.0, read_timeout_s=5.0, max_attempts=1).fetch(server.url("/trickle"))
        elapsed = time.monotonic() - started
    assert (result.outcome, result.reason, result.attempts) == ("error", "timeout", 1)
    assert 0.9 <= elapsed < 1.4


def test_stall_mid_body_is_cut_at_the_total_timeout_not_the_read_timeout(client_factory):
    stall = Route(body=b"<html>" + b"x" * 10 + b"</html>", chunk_size=8, chunk_delay_s=3.0)
    with serve({"/stall": stall}) as server:
        started = time.monotonic()
        result = client_factory(total_timeout_s=0.8, read_timeout_s=10.0, max_attempts=1).fetch(server.url("/stall"))
        elapsed = time.monotonic() - started
    assert (result.outcome, result.reason) == ("error", "timeout")
    assert elapsed < 1.3


# ---------------------------------------------------------------- size limits and decompression


def compressed(coding, data):
    if coding == "gzip":
        return gzip.compress(data, compresslevel=9)
    if coding == "deflate":
        return zlib.compress(data, 9)
    if coding == "br":
        return brotli.compress(data, quality=5)
    if coding == "zstd":
        return zstandard.ZstdCompressor().compress(data)
    raise ValueError(coding)


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br", "zstd"])
def test_compressed_pages_are_decoded(client_factory, coding):
    body = compressed(coding, PAGE.encode())
    route = Route(body=body, headers={"Content-Type": "text/html; charset=utf-8", "Content-Encoding": coding})
    with serve({"/c": route}) as server:
        result = client_factory().fetch(server.url("/c"))
    assert (result.outcome, result.text, result.body) == ("ok", PAGE, PAGE.encode())


def test_raw_deflate_and_stacked_encodings_are_decoded():
    raw = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    raw_deflate = raw.compress(PAGE.encode()) + raw.flush()
    assert b"".join(decoded_chunks([raw_deflate], "deflate")) == PAGE.encode()
    stacked = brotli.compress(gzip.compress(PAGE.encode()))
    assert b"".join(decoded_chunks([stacked[:5], stacked[5:]], "gzip, br")) == PAGE.encode()
    members = gzip.compress(b"one ") + gzip.compress(b"two")
    assert b"".join(decoded_chunks([members], "gzip")) == b"one two"


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br", "zstd"])
def test_decompression_bombs_are_cut(client_factory, coding):
    bomb = compressed(coding, b"\0" * 100_000_000)
    assert len(bomb) < 120_000
    route = Route(body=bomb, headers={"Content-Type": "text/html", "Content-Encoding": coding})
    with serve({"/bomb": route}) as server:
        started = time.monotonic()
        result = client_factory(max_bytes=1_000_000).fetch(server.url("/bomb"))
        elapsed = time.monotonic() - started
    assert (result.outcome, result.reason, result.status, result.body) == ("skip", "body_too_large", 200, b"")
    assert elapsed < 2.0


def test_decoded_chunks_stay_small_for_a_bomb():
    bomb = zstandard.ZstdCompressor().compress(b"\0" * 100_000_000)
    sizes = [len(chunk) for _, chunk in zip(range(50), decoded_chunks([bomb], "zstd"), strict=False)]
    assert max(sizes) <= 2_000_000


@pytest.mark.parametrize("declared", [True, False])
def test_plain_oversize_body(client_factory, declared):
    route = Route(body=b"<html>" + b"x" * 300_000 + b"</html>", content_length=declared)
    with serve({"/big": route}) as server:
        result = client_factory(max_bytes=100_000).fetch(server.url("/big"))
        at_limit = client_factory(max_bytes=300_013).fetch(server.url("/big"))
    assert (result.outcome, result.reason) == ("skip", "body_too_large")
    assert (at_limit.outcome, len(at_limit.body)) == ("ok", 300_013)


def test_corrupt_compressed_body_is_an_error(client_factory):
    route = Route(body=b"this is not gzip", headers={"Content-Type": "text/html", "Content-Encoding": "gzip"})
    with serve({"/bad": route}) as server:
        result = client_factory().fetch(server.url("/bad"))
    assert (result.outcome, result.reason, result.error_class) == ("error", "content_decoding_error", "error")


def test_unknown_content_encoding_is_skipped(client_factory):
    route = Route(body=b"xx", headers={"Content-Type": "text/html", "Content-Encoding": "compress"})
    with serve({"/lzw": route}) as server:
        result = client_factory().fetch(server.url("/lzw"))
    assert (result.outcome, result.reason) == ("skip", "unsupported_content_encoding")


# ---------------------------------------------------------------- content types and charsets


@pytest.mark.parametrize(("kind", "content_type", "outcome"), [
    ("page", "application/pdf", "skip"),
    ("page", "image/png", "skip"),
    ("page", "application/xhtml+xml; charset=utf-8", "ok"),
    ("page", "application/rss+xml", "skip"),
    ("feed", "application/rss+xml", "ok"),
    ("feed", "application/atom+xml", "ok"),
    ("feed", "text/xml", "ok"),
    ("feed", "application/feed+json", "ok"),
    ("feed", "text/html", "ok"),
    ("feed", "text/plain", "ok"),
    ("feed", "application/pdf", "skip"),
    ("any", "application/pdf", "ok"),
])
def test_content_types(client_factory, kind, content_type, outcome):
    with serve({"/doc": Route(body=b"<x/>", headers={"Content-Type": content_type})}) as server:
        result = client_factory().fetch(server.url("/doc"), kind=kind)
    assert result.outcome == outcome
    if outcome == "skip":
        assert result.reason == "unsupported_content_type"
        assert result.body == b""
    else:
        assert result.content_type == media_type(content_type)
        assert result.text == ("<x/>" if content_type != "application/pdf" else None)


def test_missing_content_type_is_sniffed(client_factory):
    routes = {"/html": Route(body=b"<!DOCTYPE html><html><body>x</body></html>", headers={}),
              "/bin": Route(body=b"%PDF-1.7 binary", headers={})}
    with serve(routes) as server:
        client = client_factory()
        page, binary = client.fetch(server.url("/html")), client.fetch(server.url("/bin"))
    assert (page.outcome, page.content_type) == ("ok", "text/html")
    assert (binary.outcome, binary.reason) == ("skip", "unsupported_content_type")


@pytest.mark.parametrize(("text", "charset", "headers", "encoding"), [
    ("Le café « Ça va » coûte 3 € — déjà", "windows-1252", {"Content-Type": "text/html; charset=windows-1252"},
     "cp1252"),
    ("Grüße aus Köln", "iso-8859-1", {"Content-Type": "text/html"}, "cp1252"),
    ("서울 특별시 뉴스", "euc-kr", {"Content-Type": "text/html"}, "cp949"),
])
def test_charsets_over_http(client_factory, text, charset, headers, encoding):
    document = f'<html><head><meta charset="{charset}"></head><body>{text}</body></html>'
    with serve({"/p": Route(body=document.encode(charset), headers=headers)}) as server:
        result = client_factory().fetch(server.url("/p"))
    assert (result.text, result.encoding) == (document, encoding)


def test_pure_helpers():
    assert media_type("Application/XHTML+XML ; charset=x") == "application/xhtml+xml"
    assert media_type("") is None
    assert accepts("page", "text/html") and not accepts("page", "text/plain")
    assert accepts("feed", "application/x-rss+xml") and not accepts("feed", "image/jpeg")
    assert sniff_media_type(b"\xef\xbb\xbf  <?xml version='1.0'?><rss/>") == "application/xml"
    assert sniff_media_type(b"\x89PNG") == "application/octet-stream"


# ---------------------------------------------------------------- conditional GET


def test_conditional_get_returns_not_modified(client_factory):
    def conditional(request):
        if request.headers.get("if-none-match") == '"v1"':
            return Route(status=304, headers={"ETag": '"v1"'})
        return Route(body=b"<rss/>", headers={"Content-Type": "application/rss+xml", "ETag": '"v1"'})

    with serve({"/feed": Route(handler=conditional)}) as server:
        client = client_factory()
        first = client.fetch(server.url("/feed"), kind="feed")
        second = client.fetch(server.url("/feed"), kind="feed", etag=first.etag,
                              last_modified="Mon, 29 Jul 2024 00:00:00 GMT")
        sent = server.requests_for("/feed")
    assert (first.outcome, first.etag) == ("ok", '"v1"')
    assert (second.outcome, second.reason, second.status, second.body, second.etag) == (
        "not_modified", None, 304, b"", '"v1"')
    assert "if-none-match" not in sent[0].headers
    assert sent[1].headers["if-none-match"] == '"v1"'
    assert sent[1].headers["if-modified-since"] == "Mon, 29 Jul 2024 00:00:00 GMT"


# ---------------------------------------------------------------- SSRF


def test_loopback_is_blocked_unless_allowed(client_factory):
    with serve({"/a": html(PAGE)}) as server:
        blocked = client_factory(allow_private_networks=()).fetch(server.url("/a"))
        by_name = client_factory(allow_private_networks=()).fetch(f"http://localhost:{server.port}/a")
        assert server.requests == []
        allowed = client_factory(allow_private_networks=("127.0.0.1/32",)).fetch(server.url("/a"))
    assert (blocked.outcome, blocked.reason, blocked.status) == ("skip", "blocked_address", None)
    assert (by_name.outcome, by_name.reason) == ("skip", "blocked_address")
    assert allowed.outcome == "ok"


def test_redirect_to_metadata_address_is_blocked(client_factory):
    with serve({"/r": redirect("http://169.254.169.254/latest/meta-data/")}) as server:
        result = client_factory().fetch(server.url("/r"))
    assert (result.outcome, result.reason) == ("skip", "blocked_address")
    assert result.redirect_chain == [server.url("/r")]
    assert result.final_url == "http://169.254.169.254/latest/meta-data/"


@pytest.mark.parametrize("url", ["http://metadata.google.internal/computeMetadata/v1/",
                                 "http://[::ffff:127.0.0.1]/", "http://10.0.0.1/", "http://[::1]:8080/"])
def test_blocked_hosts(client_factory, url):
    result = client_factory(allow_private_networks=()).fetch(url)
    assert (result.outcome, result.reason, result.attempts) == ("skip", "blocked_address", 1)


# ---------------------------------------------------------------- replay


def test_replay_prefix_follows_both_redirect_forms(client_factory):
    with serve({}) as server:
        prefix = server.url("/replay/")
        server.set("/replay/http://news.example/a", redirect(prefix + "http://news.example/b"))
        server.set("/replay/http://news.example/b", redirect("http://news.example/c"))
        server.set("/replay/http://news.example/c", redirect("d?x=1"))
        server.set("/replay/http://news.example/d?x=1", redirect("/e"))
        server.set("/replay/http://news.example/e", html(PAGE))
        result = client_factory(replay_prefix=prefix, allow_private_networks=(),
                                respect_robots=True).fetch("http://news.example/a")
        requested = paths(server)
    assert (result.outcome, result.text) == ("ok", PAGE)
    assert result.url == "http://news.example/a"
    assert result.final_url == "http://news.example/e"
    assert result.redirect_chain == ["http://news.example/a", "http://news.example/b", "http://news.example/c",
                                     "http://news.example/d?x=1"]
    assert requested == ["/replay/http://news.example/robots.txt", "/replay/http://news.example/a",
                         "/replay/http://news.example/b", "/replay/http://news.example/c",
                         "/replay/http://news.example/d?x=1", "/replay/http://news.example/e"]


def test_replay_original_helper():
    prefix = "http://127.0.0.1:9/replay/"
    request = prefix + "https://a.example/x/y"
    assert replay_original(prefix + "https://b.example/z", request, "https://a.example/x/y", prefix) == \
        "https://b.example/z"
    assert replay_original("https://c.example/", request, "https://a.example/x/y", prefix) == "https://c.example/"
    assert replay_original("z", request, "https://a.example/x/y", prefix) == "https://a.example/x/z"
    assert replay_original("/top", request, "https://a.example/x/y", prefix) == "https://a.example/top"
    assert replay_original("/replay/https://a.example/q", request, "https://a.example/x/y", prefix) == \
        "https://a.example/q"


def test_replay_politeness_is_keyed_by_the_original_host(client_factory):
    with serve({}) as server:
        prefix = server.url("/replay/")
        for url in ["http://one.example/1", "http://one.example/2", "http://two.example/1"]:
            server.set(f"/replay/{url}", html(PAGE))
        client = client_factory(replay_prefix=prefix, allow_private_networks=(), host_delay_s=0.4)
        results = [client.fetch(url) for url in ["http://one.example/1", "http://two.example/1",
                                                 "http://one.example/2"]]
        at = {request.path: request.at for request in server.requests}
    assert [result.outcome for result in results] == ["ok", "ok", "ok"]
    one_1, two_1, one_2 = (at[f"/replay/{u}"] for u in ["http://one.example/1", "http://two.example/1",
                                                        "http://one.example/2"])
    assert two_1 - one_1 < 0.3
    assert one_2 - one_1 >= 0.33


# ---------------------------------------------------------------- politeness


def test_per_host_delay_between_request_starts(client_factory):
    with serve({"/p": html(PAGE)}) as server:
        client = client_factory(host_delay_s=0.25)
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda _: client.fetch(server.url("/p")), range(4)))
        starts = sorted(request.at for request in server.requests)
    assert [result.outcome for result in results] == ["ok"] * 4
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    assert len(gaps) == 3
    assert all(gap >= 0.2 for gap in gaps), gaps  # server-side clock: connection setup jitters


@pytest.mark.parametrize("concurrency", [1, 2])
def test_per_host_concurrency(client_factory, concurrency):
    lock = threading.Lock()
    state = {"active": 0, "peak": 0}

    def slow(_request):
        with lock:
            state["active"] += 1
            state["peak"] = max(state["peak"], state["active"])
        time.sleep(0.2)
        with lock:
            state["active"] -= 1
        return html(PAGE)

    with serve({"/slow": Route(handler=slow)}) as server:
        client = client_factory(host_concurrency=concurrency)
        with ThreadPoolExecutor(6) as pool:
            results = list(pool.map(lambda _: client.fetch(server.url("/slow")), range(6)))
    assert [result.outcome for result in results] == ["ok"] * 6
    assert state["peak"] == concurrency


# ---------------------------------------------------------------- robots.txt


ROBOTS = b"User-agent: *\nDisallow: /private\n\nUser-agent: otherbot\nDisallow: /\n"


def test_robots_disallow_applies_to_pages_not_feeds(client_factory):
    routes = {"/robots.txt": Route(body=ROBOTS, headers={"Content-Type": "text/plain"}),
              "/private/a": html(PAGE), "/public": html(PAGE),
              "/private/feed.xml": Route(body=b"<rss/>", headers={"Content-Type": "application/rss+xml"})}
    with serve(routes) as server:
        client = client_factory(respect_robots=True)
        page = client.fetch(server.url("/private/a"))
        public = client.fetch(server.url("/public"))
        feed = client.fetch(server.url("/private/feed.xml"), kind="feed")
        requested = paths(server)
    assert (page.outcome, page.reason) == ("skip", "robots_disallowed")
    assert public.outcome == "ok"
    assert feed.outcome == "ok"
    assert requested == ["/robots.txt", "/public", "/private/feed.xml"]


def test_robots_applies_to_every_redirect_hop(client_factory):
    routes = {"/robots.txt": Route(body=ROBOTS, headers={"Content-Type": "text/plain"}),
              "/go": redirect("/private/x"), "/private/x": html(PAGE)}
    with serve(routes) as server:
        result = client_factory(respect_robots=True).fetch(server.url("/go"))
        requested = paths(server)
    assert (result.outcome, result.reason, result.redirect_chain) == ("skip", "robots_disallowed", [server.url("/go")])
    assert requested == ["/robots.txt", "/go"]


def test_robots_404_allows_and_is_cached(client_factory):
    with serve({"/a": html(PAGE), "/b": html(PAGE)}) as server:
        client = client_factory(respect_robots=True)
        results = [client.fetch(server.url("/a")), client.fetch(server.url("/b"))]
        requested = paths(server)
    assert [result.outcome for result in results] == ["ok", "ok"]
    assert requested == ["/robots.txt", "/a", "/b"]


@pytest.mark.parametrize("status", [503, 429])
def test_robots_unavailable_defers_the_host(client_factory, sleeps, status):
    with serve({"/robots.txt": Route(status=status), "/a": html(PAGE)}) as server:
        client = client_factory(respect_robots=True, sleep=sleeps)
        page = client.fetch(server.url("/a"))
        feed = client.fetch(server.url("/a"), kind="feed")
        requested = paths(server)
    assert (page.outcome, page.reason, page.attempts) == ("skip", "host_deferred", 1)
    assert feed.outcome == "ok"
    assert requested == ["/robots.txt", "/a"]
    assert sleeps == []


def test_robots_expire_after_six_hours(client_factory):
    now = [1000.0]
    with serve({"/robots.txt": Route(body=b"User-agent: *\nDisallow: /a\n", headers={"Content-Type": "text/plain"}),
                "/a": html(PAGE)}) as server:
        client = client_factory(respect_robots=True, clock=lambda: now[0])
        first = client.fetch(server.url("/a"))
        server.set("/robots.txt", Route(status=404))
        now[0] += 5 * 3600
        cached = client.fetch(server.url("/a"))
        now[0] += 3600 + 1
        refreshed = client.fetch(server.url("/a"))
        requested = paths(server)
    assert [r.reason for r in (first, cached, refreshed)] == ["robots_disallowed", "robots_disallowed", None]
    assert requested == ["/robots.txt", "/robots.txt", "/a"]


def test_crawl_delay_raises_the_host_delay(client_factory):
    robots = b"User-agent: newsflow\nCrawl-delay: 0.4\nDisallow: /nothing\n"
    with serve({"/robots.txt": Route(body=robots, headers={"Content-Type": "text/plain"}),
                "/a": html(PAGE), "/b": html(PAGE)}) as server:
        client = client_factory(respect_robots=True, host_delay_s=0.0)
        results = [client.fetch(server.url("/a")), client.fetch(server.url("/b"))]
        at = {request.path: request.at for request in server.requests}
    assert [result.outcome for result in results] == ["ok", "ok"]
    assert at["/a"] - at["/robots.txt"] >= 0.33  # the robots.txt request counts too
    assert at["/b"] - at["/a"] >= 0.33


def test_feed_fetches_learn_the_crawl_delay_and_share_it_with_page_clients(client_factory):
    """A feed stage and a page stage in one process (two clients, one policy): robots.txt is
    fetched once, and its Crawl-delay spaces the feed and page requests of both."""
    robots = b"User-agent: *\nCrawl-delay: 0.4\nDisallow: /feeds/\nSitemap: /relative.xml\nSitemap: http://x.example/news.xml\n"
    with serve({"/robots.txt": Route(body=robots, headers={"Content-Type": "text/plain"}),
                "/feeds/rss": Route(body=b"<rss/>", headers={"Content-Type": "application/rss+xml"}),
                "/a": html(PAGE)}) as server:
        feeds = client_factory(respect_robots=True, host_delay_s=0.0)
        pages = client_factory(respect_robots=True, host_delay_s=0.0)
        feed = feeds.fetch(server.url("/feeds/rss"), kind="feed")
        page = pages.fetch(server.url("/a"))
        sitemaps = pages.site_sitemaps(server.url("/anything"))
        at = [(request.path, request.at) for request in server.requests]
    assert (feeds.gate, feeds.robots) == (pages.gate, pages.robots)
    assert (feed.outcome, page.outcome) == ("ok", "ok")  # a listed feed is not vetoed by Disallow
    assert [path for path, _ in at] == ["/robots.txt", "/feeds/rss", "/a"]
    assert [round(b - a, 1) >= 0.3 for (_, a), (_, b) in itertools.pairwise(at)] == [True, True]
    assert sitemaps == ("http://x.example/news.xml",)


def test_other_policies_and_ignored_robots_have_their_own_politeness(client_factory):
    with serve({"/robots.txt": Route(body=b"Sitemap: http://x.example/s.xml\n", headers={"Content-Type": "text/plain"}),
                "/a": html(PAGE)}) as server:
        polite = client_factory(respect_robots=True, host_delay_s=0.0)
        slower = client_factory(respect_robots=True, host_delay_s=0.5)
        rude = client_factory(respect_robots=False, host_delay_s=0.0)
        assert rude.site_sitemaps(server.url("/")) == ()
        assert rude.fetch(server.url("/a")).outcome == "ok"
        assert paths(server) == ["/a"]
        assert polite.site_sitemaps(server.url("/")) == slower.site_sitemaps(server.url("/")) == ("http://x.example/s.xml",)
        assert paths(server) == ["/a", "/robots.txt", "/robots.txt"]
    assert polite.gate is not slower.gate and polite.robots is not slower.robots
    assert polite.robots.rules_for(server.url("/"), lambda _: RobotsRules("deferred")).state == "allow_all"


def test_robots_of_a_blocked_host_is_not_fetched(client_factory):
    with serve({"/a": html(PAGE)}) as server:
        result = client_factory(respect_robots=True, allow_private_networks=()).fetch(server.url("/a"))
        assert server.requests == []
    assert (result.outcome, result.reason) == ("skip", "blocked_address")


# ---------------------------------------------------------------- policy validation


@pytest.mark.parametrize("overrides", [{"total_timeout_s": 0}, {"max_bytes": 0}, {"max_attempts": 0},
                                       {"host_concurrency": 0}, {"host_delay_s": -1},
                                       {"allow_private_networks": ("nope",)},
                                       {"allow_private_networks": "127.0.0.1/32"},
                                       {"replay_prefix": "ftp://x/"}, {"replay_prefix": "/replay/"},
                                       {"user_agent": " "}])
def test_policy_is_validated(overrides):
    with pytest.raises(ValueError):
        FetchPolicy(**overrides)


def test_client_never_raises_for_garbage_urls(client_factory):
    client = client_factory()
    for url in ["", "not a url", "http://", "mailto:x@example.org", "http://exa mple.org/"]:
        result = client.fetch(url)
        assert result.outcome in ("skip", "error"), url
        assert result.reason


# ---------------------------------------------------------------- TLS


@pytest.fixture(scope="module")
def self_signed_context(tmp_path_factory):
    """A server SSL context with a fresh self-signed certificate for 127.0.0.1."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now)
                   .not_valid_after(now.replace(year=now.year + 1)).sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                       serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return context


def test_untrusted_certificate_is_a_tls_error_and_not_retried(client_factory, sleeps, self_signed_context):
    with serve({"/a": html(PAGE)}, ssl_context=self_signed_context) as server:
        assert server.url("/a").startswith("https://")
        result = client_factory(sleep=sleeps).fetch(server.url("/a"))
    assert (result.outcome, result.reason, result.attempts, result.error_class) == ("error", "tls_error", 1,
                                                                                   "ConnectError")
    assert "CERTIFICATE_VERIFY_FAILED" in result.message
    assert sleeps == []
