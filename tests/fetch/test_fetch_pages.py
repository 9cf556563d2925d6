"""FetchPages on the FnApiRunner against a real HTTP server on 127.0.0.1."""

import threading
import time
from datetime import UTC, datetime

import apache_beam as beam
import pytest
from apache_beam.metrics import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import FixedWindows, TimestampedValue

from newsflow.transforms.fetch.client import FetchPolicy, FetchResult
from newsflow.transforms.fetch.fetch_pages import FetchPages, page_or_rejection
from newsflow.transforms.items import Entry, Page, Rejection
from newsflow.transforms.urls import host_key
from tests.fixture_server import Route, html, redirect, serve

PAGE = "<html><head><title>Story</title></head><body><p>Grüße aus Köln</p></body></html>"
FEED = "https://feeds.example/rss"
ROBOTS = b"User-agent: *\nDisallow: /private/\n"



def policy(**overrides):
    settings = {"allow_private_networks": ("127.0.0.1/32",), "host_delay_s": 0.0, "max_attempts": 1}
    settings.update(overrides)
    return FetchPolicy(**settings)


def routes():
    return {
        "/robots.txt": Route(body=ROBOTS, headers={"Content-Type": "text/plain"}),
        "/story": html(PAGE),
        "/moved": redirect("/story", 301),
        "/gone": Route(status=410, body=b"gone"),
        "/doc.pdf": Route(body=b"%PDF-1.7", headers={"Content-Type": "application/pdf"}),
        "/private/secret": html(PAGE),
        "/latin": Route(body=PAGE.encode("windows-1252"), headers={"Content-Type": "text/html; charset=windows-1252"}),
    }


def page_row(page):
    return ("page", page.entry.url, page.final_url, page.html, page.status, page.content_type,
            tuple(page.redirect_chain), page.entry.feed_url, page.entry.title, page.fetched_at.tzinfo is UTC)


def rejection_row(rejection):
    return (rejection.kind, rejection.stage, rejection.reason, rejection.url, rejection.feed_url,
            rejection.error_class, rejection.message, rejection.attempt)


def counters(result):
    return {c.key.metric.name: c.committed
            for c in result.metrics().query(MetricsFilter().with_namespace("newsflow"))["counters"]}


def test_fetch_pages_outputs_and_counters():
    with serve(routes()) as server:
        url = server.url
        entries = [Entry(FEED, url("/story"), title="a"), Entry(FEED, url("/moved"), title="b"),
                   Entry(FEED, url("/gone")), Entry(FEED, url("/doc.pdf")), Entry(FEED, url("/private/secret")),
                   Entry(FEED, "ftp://files.example/x"), Entry(FEED, "http://169.254.169.254/latest/"),
                   Entry(FEED, url("/latin"), title="c")]
        pipeline = BeamTestPipeline(runner="FnApiRunner")
        fetched = pipeline | beam.Create(entries) | FetchPages(policy(), max_in_flight=3)
        assert_that(fetched.pages | "Pages" >> beam.Map(page_row), equal_to([
            ("page", url("/story"), url("/story"), PAGE, 200, "text/html", (), FEED, "a", True),
            ("page", url("/moved"), url("/story"), PAGE, 200, "text/html", (url("/moved"),), FEED, "b", True),
            ("page", url("/latin"), url("/latin"), PAGE, 200, "text/html", (), FEED, "c", True),
        ]), label="pages")
        assert_that(fetched.rejected | "Rejected" >> beam.Map(rejection_row), equal_to([
            ("error", "fetch", "http_410", url("/gone"), FEED, "HTTPStatusError", "HTTP 410 Gone", 1),
            ("skip", "fetch", "unsupported_content_type", url("/doc.pdf"), FEED, None,
             "application/pdf is not fetched as page", 1),
            ("skip", "fetch", "robots_disallowed", url("/private/secret"), FEED, None,
             "robots.txt of 127.0.0.1: robots_disallowed", 1),
            ("skip", "fetch", "unsupported_scheme", "ftp://files.example/x", FEED, None,
             "scheme 'ftp' is not fetched", 1),
            ("skip", "fetch", "blocked_address", "http://169.254.169.254/latest/", FEED, None,
             "address 169.254.169.254 of host '169.254.169.254' is not public", 1),
        ]), label="rejected")
        result = pipeline.run()
        result.wait_until_finish()
        requested = sorted(request.path for request in server.requests)
    assert counters(result) == {
        "fetch.pages_ok": 3, "fetch.failed.http_410": 1, "fetch.skipped.unsupported_content_type": 1,
        "fetch.skipped.robots_disallowed": 1, "fetch.skipped.unsupported_scheme": 1,
        "fetch.skipped.blocked_address": 1,
    }
    assert requested == ["/doc.pdf", "/gone", "/latin", "/moved", "/robots.txt", "/story", "/story"]


def test_timestamps_and_windows_are_kept():
    base = datetime(2024, 7, 29, tzinfo=UTC).timestamp()
    with serve(routes()) as server:
        stamped = [(server.url("/story"), base + 10), (server.url("/gone"), base + 70),
                   (server.url("/latin"), base + 130)]
        with BeamTestPipeline(runner="FnApiRunner") as pipeline:
            entries = (pipeline | beam.Create(stamped)
                       | "Stamp" >> beam.Map(lambda pair: TimestampedValue(Entry(FEED, pair[0]), pair[1]))
                       | beam.WindowInto(FixedWindows(60)))
            fetched = entries | FetchPages(policy(), max_in_flight=2)

            def where(item, timestamp=beam.DoFn.TimestampParam, window=beam.DoFn.WindowParam):
                return (item.entry.url if isinstance(item, Page) else item.url, float(timestamp),
                        window.start.micros // 1_000_000)

            assert_that(fetched.pages | "WherePages" >> beam.Map(where), equal_to([
                (server.url("/story"), base + 10, int(base)), (server.url("/latin"), base + 130, int(base) + 120),
            ]), label="pages")
            assert_that(fetched.rejected | "WhereRejected" >> beam.Map(where), equal_to([
                (server.url("/gone"), base + 70, int(base) + 60),
            ]), label="rejected")


def test_fetches_run_concurrently_within_the_bound():
    lock = threading.Lock()
    state = {"active": 0, "peak": 0}

    def slow(_request):
        with lock:
            state["active"] += 1
            state["peak"] = max(state["peak"], state["active"])
        time.sleep(0.3)
        with lock:
            state["active"] -= 1
        return html(PAGE)

    with serve({"/slow": Route(handler=slow)}) as server:
        entries = [Entry(FEED, server.url(f"/slow?n={n}")) for n in range(8)]
        with BeamTestPipeline(runner="FnApiRunner") as pipeline:
            fetched = (pipeline | beam.Create(entries)
                       | FetchPages(policy(respect_robots=False, host_concurrency=8), max_in_flight=4))
            assert_that(fetched.pages | beam.Map(lambda page: page.final_url),
                        equal_to([entry.url for entry in entries]))
    assert state["peak"] == 4


def test_page_or_rejection():
    entry = Entry(FEED, "https://news.example/a")
    fetched_at = datetime(2024, 7, 29, tzinfo=UTC)
    ok = FetchResult(entry.url, "https://news.example/b", "ok", None, 200, ["https://news.example/a"],
                     text="<p>x</p>", content_type="application/xhtml+xml", fetched_at=fetched_at)
    assert page_or_rejection(entry, ok) == Page(entry, "https://news.example/b", "<p>x</p>", fetched_at, 200,
                                                "application/xhtml+xml", ["https://news.example/a"])
    error = FetchResult(entry.url, entry.url, "error", "timeout", None, attempts=3, error_class="ReadTimeout",
                        message="timed out", fetched_at=fetched_at)
    assert page_or_rejection(entry, error) == Rejection("error", "fetch", "timeout", entry.url, FEED,
                                                        "ReadTimeout", "timed out", 3, fetched_at)
    unchanged = FetchResult(entry.url, entry.url, "not_modified", None, 304, fetched_at=fetched_at)
    assert page_or_rejection(entry, unchanged) == Rejection("skip", "fetch", "not_modified", entry.url, FEED,
                                                            None, None, 1, fetched_at)


@pytest.mark.parametrize("max_in_flight", [0, -1, 1.5])
def test_constructor_validates(max_in_flight):
    with pytest.raises(ValueError):
        FetchPages(policy(), max_in_flight=max_in_flight)
    with pytest.raises(TypeError):
        FetchPages({"max_bytes": 1})


def test_streaming_windows_aggregate_downstream():
    with serve(routes()) as server:
        stream = (TestStream()
                  .add_elements([TimestampedValue(Entry(FEED, server.url("/story")), 10),
                                 TimestampedValue(Entry(FEED, server.url("/moved")), 20)])
                  .advance_watermark_to(100)
                  .add_elements([TimestampedValue(Entry(FEED, server.url("/latin")), 130),
                                 TimestampedValue(Entry(FEED, server.url("/gone")), 140)])
                  .advance_watermark_to_infinity())
        options = PipelineOptions()
        options.view_as(StandardOptions).streaming = True
        with beam.Pipeline(runner="BundleBasedDirectRunner", options=options) as pipeline:
            fetched = (pipeline | stream | beam.WindowInto(FixedWindows(60))
                       | FetchPages(policy(respect_robots=False), max_in_flight=2))
            per_window = (fetched.pages | beam.Map(lambda page: ("pages", 1)) | beam.CombinePerKey(sum)
                          | beam.Map(lambda kv, window=beam.DoFn.WindowParam: (kv[1], int(window.start))))
            assert_that(per_window, equal_to([(2, 0), (1, 120)]), label="pages")
            rejected = fetched.rejected | beam.Map(lambda r, window=beam.DoFn.WindowParam: (r.reason, int(window.start)))
            assert_that(rejected, equal_to([("http_410", 120)]), label="rejected")



def test_pages_are_keyed_by_host_into_a_stateful_fetch():
    """The per-host limit holds across workers because Beam processes one key of a stateful DoFn in
    one place at a time: the fetch ParDo must declare state and take its entries keyed by host."""
    from apache_beam.portability import common_urns
    from apache_beam.portability.api import beam_runner_api_pb2

    pipeline = beam.Pipeline(runner="FnApiRunner")
    entries = [Entry(FEED, "https://News.example:8443/a"), Entry(FEED, "http://news.example/b?x=1")]
    keyed = pipeline | beam.Create(entries) | "Keys" >> beam.Map(lambda e: e)
    _ = keyed | "FetchPages" >> FetchPages(policy())
    proto = pipeline.to_runner_api()
    (fetch,) = [t for t in proto.components.transforms.values() if t.unique_name == "FetchPages/Fetch/ParDo(_FetchPagesFn)"]
    assert fetch.spec.urn == common_urns.primitives.PAR_DO.urn
    payload = beam_runner_api_pb2.ParDoPayload.FromString(fetch.spec.payload)
    assert list(payload.state_specs) == ["host"]
    by_host = [t for t in proto.components.transforms.values() if t.unique_name == "FetchPages/ByHost"]
    assert len(by_host) == 1
    assert {host_key(e.url) for e in entries} == {"news.example"}
