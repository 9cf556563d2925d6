import threading
import time

import pytest

from newsflow.transforms.fetch.politeness import (
    MAX_CRAWL_DELAY_S,
    HostGate,
    forget_shared_gates,
    shared_gate,
)
from newsflow.transforms.fetch.robots import (
    RobotsCache,
    RobotsRules,
    Rule,
    forget_shared_caches,
    parse_groups,
    product_token,
    robots_url,
    shared_cache,
)
from newsflow.transforms.urls import host_key, origin_key


class FakeTime:
    def __init__(self):
        self.now = 100.0
        self.sleeps = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def test_starts_to_one_host_are_spaced_and_other_hosts_are_not_delayed():
    fake = FakeTime()
    gate = HostGate(1, 2.0, sleep=fake.sleep, clock=fake.clock)
    starts = []
    for host in ["a", "a", "b", "a"]:
        with gate.slot(host):
            starts.append((host, fake.now))
    assert starts == [("a", 100.0), ("a", 102.0), ("b", 102.0), ("a", 104.0)]
    assert fake.sleeps == [2.0, 2.0]


def test_delay_counts_from_the_previous_start_not_its_end():
    fake = FakeTime()
    gate = HostGate(1, 2.0, sleep=fake.sleep, clock=fake.clock)
    with gate.slot("a"):
        fake.now += 5.0  # a slow response
    with gate.slot("a"):
        pass
    assert fake.sleeps == []


def test_raised_delay_counts_from_the_start_that_revealed_it():
    fake = FakeTime()
    gate = HostGate(1, 0.0, sleep=fake.sleep, clock=fake.clock)
    with gate.slot("a"):  # e.g. robots.txt, which says Crawl-delay: 5
        fake.now += 1.0
    gate.raise_delay("a", 5.0)
    gate.raise_delay("a", 5.0)  # repeated on every later fetch: changes nothing
    starts = []
    for _ in range(2):
        with gate.slot("a"):
            starts.append(fake.now)
    assert starts == [105.0, 110.0]
    assert fake.sleeps == [4.0, 5.0]


def test_raise_delay_only_raises_and_is_capped():
    gate = HostGate(1, 1.0)
    gate.raise_delay("a", 0.5)
    assert gate.delay_for("a") == 1.0
    gate.raise_delay("a", 3.0)
    assert gate.delay_for("a") == 3.0
    gate.raise_delay("b", 10_000)
    assert gate.delay_for("b") == MAX_CRAWL_DELAY_S
    assert gate.delay_for("c") == 1.0


@pytest.mark.parametrize("concurrency", [1, 2, 3])
def test_concurrency_per_host_is_bounded(concurrency):
    gate = HostGate(concurrency, 0.0)
    lock = threading.Lock()
    active = {"a": 0, "b": 0}
    peak = {"a": 0, "b": 0}

    def work(host):
        with gate.slot(host):
            with lock:
                active[host] += 1
                peak[host] = max(peak[host], active[host])
            time.sleep(0.05)
            with lock:
                active[host] -= 1

    threads = [threading.Thread(target=work, args=(host,)) for host in "ab" * 6]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert peak == {"a": concurrency, "b": concurrency}


def test_shared_gate_is_one_per_process_settings_and_clock():
    fake, other = FakeTime(), FakeTime()
    gate = shared_gate(1, 2.0, sleep=fake.sleep, clock=fake.clock)
    assert shared_gate(1, 2.0, sleep=fake.sleep, clock=fake.clock) is gate
    assert shared_gate(1, 3.0, sleep=fake.sleep, clock=fake.clock) is not gate
    assert shared_gate(2, 2.0, sleep=fake.sleep, clock=fake.clock) is not gate
    assert shared_gate(1, 2.0, sleep=other.sleep, clock=other.clock) is not gate
    starts = []
    for user in (gate, shared_gate(1, 2.0, sleep=fake.sleep, clock=fake.clock)):  # e.g. feeds, then pages
        with user.slot("a"):
            starts.append(fake.now)
    assert starts == [100.0, 102.0]
    forget_shared_gates()
    assert shared_gate(1, 2.0, sleep=fake.sleep, clock=fake.clock) is not gate


def test_host_key():
    assert host_key("https://News.Example:8443/a?b") == "news.example"
    assert host_key("http://127.0.0.1:8080/") == "127.0.0.1"


def test_invalid_settings():
    with pytest.raises(ValueError):
        HostGate(0, 1.0)
    with pytest.raises(ValueError):
        HostGate(1, -1.0)


# ---------------------------------------------------------------- robots.txt rules (pure)


UA = "newsflow/0.1 (+https://github.com/newsflow/newsflow)"
ROBOTS = """
# comment
User-agent: *
Disallow: /
Allow: /news/
Disallow: /news/*?print=
Disallow: /*.pdf$
Crawl-delay: 2.5

User-agent: otherbot
User-agent: NewsFlow
Disallow: /private
Allow: /private/open
Crawl-delay: 0.5

User-agent: newsflow
Disallow: /drafts/
Sitemap: https://news.example/sitemap.xml
"""


@pytest.mark.parametrize(("path", "allowed"), [
    ("/", True), ("/news/a", True), ("/private", False), ("/private/x", False), ("/private/open/x", True),
    ("/drafts/1", False), ("/robots.txt", True), ("/anything.pdf", True),
])
def test_our_groups_are_merged_and_longest_match_wins(path, allowed):
    rules = RobotsRules.from_text(ROBOTS, UA)
    assert rules.allows("https://news.example" + path) is allowed
    assert rules.crawl_delay_s == 0.5


@pytest.mark.parametrize(("path", "allowed"), [
    ("/", False), ("/news/a", True), ("/news/a?print=1", False), ("/news/a?page=2", True),
    ("/news/file.pdf", False), ("/news/file.pdf?x", True), ("/other", False), ("/robots.txt", True),
    ("/news/caf%C3%A9", True),
])
def test_star_group_with_wildcards(path, allowed):
    rules = RobotsRules.from_text(ROBOTS, "somebot/1.0")
    assert rules.allows("https://news.example" + path) is allowed
    assert rules.crawl_delay_s == 2.5


def test_allow_wins_a_tie_and_empty_disallow_allows():
    assert RobotsRules.from_text("User-agent: *\nDisallow: /a\nAllow: /a\n", UA).allows("http://x/a") is True
    assert RobotsRules.from_text("User-agent: *\nDisallow:\n", UA).allows("http://x/a") is True
    assert RobotsRules.from_text("", UA).state == "allow_all"
    assert RobotsRules.from_text("User-agent: other\nDisallow: /\n", UA).state == "allow_all"


def test_groups_are_split_by_user_agent_after_rules():
    groups = parse_groups(ROBOTS)
    assert [group.agents for group in groups] == [("*",), ("otherbot", "newsflow"), ("newsflow",)]
    assert [len(group.rules) for group in groups] == [4, 2, 1]


@pytest.mark.parametrize(("status", "state"), [(404, "allow_all"), (401, "allow_all"), (403, "allow_all"),
                                               (429, "deferred"), (500, "deferred"), (503, "deferred"),
                                               (None, "deferred")])
def test_unavailable_robots(status, state):
    assert RobotsRules.from_status(status).state == state
    assert RobotsRules.from_status(status).allows("http://x/") is (state == "allow_all")


def test_robots_helpers():
    assert robots_url("https://News.example:8443/a/b?c#d") == "https://News.example:8443/robots.txt"
    assert origin_key("https://News.example:8443/a") == "https://news.example:8443"
    assert product_token(UA) == "newsflow"


def test_robots_cache_ttls_and_single_load():
    fake = FakeTime()
    loads = []

    def load(url):
        loads.append(url)
        return RobotsRules("deferred") if "down" in url else RobotsRules("allow_all")

    cache = RobotsCache(load, ttl_s=100.0, deferred_ttl_s=10.0, clock=fake.clock)
    assert cache.rules_for("https://up.example/a").state == "allow_all"
    assert cache.rules_for("https://up.example/b").state == "allow_all"
    assert cache.rules_for("https://down.example/a").state == "deferred"
    fake.now += 11
    cache.rules_for("https://up.example/c")
    cache.rules_for("https://down.example/a")
    fake.now += 90
    cache.rules_for("https://up.example/c")
    assert loads == ["https://up.example/robots.txt", "https://down.example/robots.txt",
                     "https://down.example/robots.txt", "https://up.example/robots.txt"]


def test_sitemap_lines_are_kept_whatever_the_groups():
    text = ("Sitemap: https://a.example/news.xml\nUser-agent: otherbot\nDisallow: /\n"
            "sitemap:https://a.example/index.xml # a comment\nSitemap: /relative.xml\n"
            "Sitemap: ftp://a.example/x.xml\nSITEMAP: https://a.example/news.xml\n")
    rules = RobotsRules.from_text(text, UA)
    assert (rules.state, rules.sitemaps) == ("allow_all", ("https://a.example/news.xml",
                                                            "https://a.example/index.xml"))
    assert RobotsRules.from_text("User-agent: *\nDisallow: /x\nSitemap: http://a.example/s.xml\n", UA) == RobotsRules(
        "rules", (Rule(False, "/x"),), None, ("http://a.example/s.xml",))


def test_shared_cache_takes_the_loader_per_call():
    fake = FakeTime()
    cache = shared_cache("policy", clock=fake.clock)
    assert shared_cache("policy", clock=fake.clock) is cache
    assert shared_cache("other policy", clock=fake.clock) is not cache
    with pytest.raises(ValueError, match="load function"):
        cache.rules_for("https://a.example/")
    assert cache.rules_for("https://a.example/", lambda url: RobotsRules("allow_all", sitemaps=(url,))).sitemaps == (
        "https://a.example/robots.txt",)
    assert cache.rules_for("https://a.example/b", lambda url: RobotsRules("deferred")).state == "allow_all"  # cached
    forget_shared_caches()
    assert shared_cache("policy", clock=fake.clock) is not cache


def test_robots_cache_loads_once_under_concurrency():
    loads = []

    def load(url):
        loads.append(url)
        time.sleep(0.1)
        return RobotsRules("allow_all")

    cache = RobotsCache(load)
    threads = [threading.Thread(target=cache.rules_for, args=("https://a.example/x",)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert loads == ["https://a.example/robots.txt"]
