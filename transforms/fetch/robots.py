"""robots.txt per origin (RFC 9309), cached with a TTL; one cache per worker process and fetch policy
(``shared_cache``), so robots.txt is fetched once per origin per process, not once per client.

A small RFC 9309 matcher rather than urllib.robotparser, which takes the first matching line instead
of the longest, ignores ``*`` and ``$`` wildcards and keeps only whole-second Crawl-delays.
"""

from __future__ import annotations

import functools
import re
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote, urlsplit, urlunsplit

from newsflow.transforms.fetch.politeness import callable_key
from newsflow.transforms.urls import origin_key

ROBOTS_TTL_S = 6 * 3600.0
DEFERRED_TTL_S = 600.0
"""An unreachable robots.txt (5xx, 429, network error) defers the host for this long, not 6 h."""

RobotsState = Literal["rules", "allow_all", "deferred", "blocked"]


def robots_url(url: str) -> str:
    """The robots.txt URL of the origin (scheme, host, port) of ``url``."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/robots.txt", "", ""))


def product_token(user_agent: str) -> str:
    """The robots.txt product token of a User-Agent: ``newsflow/0.1 (+...)`` → ``newsflow``."""
    return user_agent.split("/", 1)[0].split()[0].lower() if user_agent.strip() else "*"


@dataclass(frozen=True)
class Rule:
    """One Allow or Disallow line; ``pattern`` may use ``*`` (any run) and a trailing ``$`` (end)."""

    allow: bool
    pattern: str

    def matches(self, path: str) -> bool:
        return _pattern_regex(self.pattern).match(path) is not None


@functools.lru_cache(maxsize=4096)
def _pattern_regex(pattern: str) -> re.Pattern[str]:
    anchored = pattern.endswith("$")
    body = unquote(pattern[:-1] if anchored else pattern)
    return re.compile("".join(".*" if char == "*" else re.escape(char) for char in body)
                      + ("$" if anchored else ""), re.DOTALL)


@dataclass(frozen=True)
class Group:
    """The rules and Crawl-delay that robots.txt gives one set of user agents."""

    agents: tuple[str, ...]
    rules: tuple[Rule, ...]
    crawl_delay_s: float | None


def parse_groups(text: str) -> list[Group]:
    """Split robots.txt into groups (RFC 9309 §2.1): consecutive user-agent lines open a group,
    the rules after them belong to it. Unknown lines are ignored."""
    groups: list[Group] = []
    agents: list[str] = []
    rules: list[Rule] = []
    delay: float | None = None
    in_rules = False

    def close() -> None:
        if agents:
            groups.append(Group(tuple(agents), tuple(rules), delay))

    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if ":" not in line:
            continue
        name, value = (part.strip() for part in line.split(":", 1))
        name = name.lower()
        if name == "user-agent":
            if in_rules:
                close()
                agents, rules, delay, in_rules = [], [], None, False
            agents.append(value.lower())
        elif name in ("allow", "disallow"):
            in_rules = True
            if value:  # an empty Disallow disallows nothing
                rules.append(Rule(name == "allow", value))
        elif name == "crawl-delay":
            in_rules = True
            try:
                delay = float(value)
            except ValueError:
                continue
    close()
    return groups


def parse_sitemaps(text: str) -> tuple[str, ...]:
    """The absolute http(s) URLs of the ``Sitemap:`` lines (RFC 9309 §2.2.4: outside any group),
    in file order, without repeats."""
    found: dict[str, None] = {}
    for raw in text.splitlines():
        name, _, value = raw.split("#", 1)[0].partition(":")
        url = value.strip()
        if name.strip().lower() == "sitemap" and urlsplit(url).scheme in ("http", "https") and urlsplit(url).hostname:
            found.setdefault(url, None)
    return tuple(found)


def select_group(groups: list[Group], user_agent: str) -> Group | None:
    """The merged groups naming our product token, else the merged ``*`` groups (RFC 9309 §2.2.1)."""
    token = product_token(user_agent)
    for wanted in (token, "*"):
        chosen = [group for group in groups if wanted in group.agents]
        if chosen:
            delays = [group.crawl_delay_s for group in chosen if group.crawl_delay_s is not None]
            return Group((wanted,), tuple(rule for group in chosen for rule in group.rules),
                         delays[0] if delays else None)
    return None


def is_allowed(rules: tuple[Rule, ...], url: str) -> bool:
    """RFC 9309 §2.2.2: the longest matching pattern decides, Allow wins a tie; no match allows."""
    parts = urlsplit(url)
    path = unquote(parts.path or "/") + (f"?{unquote(parts.query)}" if parts.query else "")
    if path == "/robots.txt":
        return True
    best: Rule | None = None
    for rule in rules:
        if rule.matches(path) and (best is None or len(rule.pattern) > len(best.pattern)
                                   or (len(rule.pattern) == len(best.pattern) and rule.allow)):
            best = rule
    return best is None or best.allow


@dataclass(frozen=True)
class RobotsRules:
    """What one origin's robots.txt says for us; ``deferred`` and ``blocked`` mean: do not fetch now.
    ``sitemaps`` are the file's ``Sitemap:`` URLs, whatever the groups say."""

    state: RobotsState
    rules: tuple[Rule, ...] = ()
    crawl_delay_s: float | None = None
    sitemaps: tuple[str, ...] = ()

    @classmethod
    def from_text(cls, text: str, user_agent: str) -> RobotsRules:
        group = select_group(parse_groups(text), user_agent)
        if group is None:
            return cls("allow_all", sitemaps=parse_sitemaps(text))
        return cls("rules", group.rules, group.crawl_delay_s, parse_sitemaps(text))

    @classmethod
    def from_status(cls, status: int | None) -> RobotsRules:
        """RFC 9309 §2.3.1: 4xx → no rules; 5xx, 429 or no answer → unreachable, defer the host."""
        if status is not None and 400 <= status < 500 and status != 429:
            return cls("allow_all")
        return cls("deferred")

    def allows(self, url: str) -> bool:
        if self.state == "allow_all":
            return True
        if self.state != "rules":
            return False
        return is_allowed(self.rules, url)


Load = Callable[[str], RobotsRules]


class RobotsCache:
    """Thread-safe per-origin cache of ``RobotsRules``; one load per origin at a time.

    ``load(robots_url)`` fetches and interprets the file (given here, or per call to ``rules_for``
    when the cache outlives the client that loads); rules live ``ttl_s`` (6 h), a deferral
    ``deferred_ttl_s`` so a host that was briefly down is retried soon.
    """

    def __init__(self, load: Load | None = None, *, ttl_s: float = ROBOTS_TTL_S,
                 deferred_ttl_s: float = DEFERRED_TTL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._load = load
        self._ttl_s = ttl_s
        self._deferred_ttl_s = deferred_ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, RobotsRules]] = {}
        self._origin_locks: dict[str, threading.Lock] = {}

    def _fresh(self, key: str) -> RobotsRules | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires_at, rules = entry
        return rules if self._clock() < expires_at else None

    def rules_for(self, url: str, load: Load | None = None) -> RobotsRules:
        """The rules for ``url``'s origin, loaded (with ``load``, else the cache's own) when missing or stale."""
        load = load or self._load
        if load is None:
            raise ValueError("RobotsCache.rules_for needs a load function")
        key = origin_key(url)
        with self._lock:
            rules = self._fresh(key)
            if rules is not None:
                return rules
            origin_lock = self._origin_locks.setdefault(key, threading.Lock())
        with origin_lock:
            with self._lock:
                rules = self._fresh(key)
            if rules is not None:
                return rules
            rules = load(robots_url(url))
            ttl = self._deferred_ttl_s if rules.state == "deferred" else self._ttl_s
            with self._lock:
                self._entries[key] = (self._clock() + ttl, rules)
            return rules


_SHARED_CACHES: dict[tuple[Hashable, Hashable], RobotsCache] = {}
_SHARED_CACHES_LOCK = threading.Lock()


def shared_cache(key: Hashable, *, clock: Callable[[], float] = time.monotonic) -> RobotsCache:
    """The process's ``RobotsCache`` for ``key`` (e.g. the fetch policy: user agent, network and
    replay settings decide what robots.txt says), created on first use; thread-safe. The cache has
    no loader of its own: callers pass theirs to ``rules_for``."""
    with _SHARED_CACHES_LOCK:
        cache = _SHARED_CACHES.get((key, callable_key(clock)))
        if cache is None:
            cache = _SHARED_CACHES[(key, callable_key(clock))] = RobotsCache(clock=clock)
        return cache


def forget_shared_caches() -> None:
    """Drop the process's shared robots caches: a test's isolation (servers on reused ports)."""
    with _SHARED_CACHES_LOCK:
        _SHARED_CACHES.clear()
