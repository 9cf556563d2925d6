"""Acceptance: the once pipeline over the miniweb kit (bench/feeds/miniweb), two polling rounds.

A manifest-driven replay server (``miniweb_server``) serves the kit on 127.0.0.1; the config is the
kit's OPML plus its discovery seeds; the pipeline runs twice on one output root with the manifest's
fetcher ``defaults`` mapped to our flags. Then every expectation of the manifest is checked by
iterating its entries, seeds, ``opml_expect`` and ``dedup_groups`` (nothing here names a URL), each
recorded as (entry, check, passed, detail). The test prints ``miniweb: N/M expectations met (X%)``
and the failures, and asserts 100 %.

The only fake clock: ``stream.due_feeds`` is asked at ``polled_at + Retry-After`` whether a feed that
answered with a Retry-After beyond our backoff cap may be polled again (the second round stands for
that later poll).
"""

from __future__ import annotations

import gzip
import itertools
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import duckdb
import httpx
import pytest
import yaml

from newsflow.pipelines.config import load_config
from newsflow.pipelines.ingest import fetch_policy
from newsflow.pipelines.once import RunSummary, plan, run
from newsflow.pipelines.stream import due_feeds
from newsflow.transforms.feeds.discovery import WELL_KNOWN_FEED_PATHS
from newsflow.transforms.feeds.parse import parse_feed
from newsflow.transforms.feeds.state import load_feed_states
from newsflow.transforms.fetch.client import FetchPolicy, HttpClient
from newsflow.transforms.fetch.robots import RobotsRules
from newsflow.transforms.items import FeedSpec
from newsflow.transforms.urls import normalize_url
from tests.acceptance.miniweb_server import LoggedRequest, MiniwebServer

KIT = (Path(__file__).resolve().parents[2] / ".." / "shared" / "bench" / "feeds" / "miniweb").resolve()
ROUNDS = 2
FEED_KINDS = ("rss", "atom", "rdf", "json")


# ---------------------------------------------------------------- running the pipeline


@dataclass
class Round:
    summary: RunSummary
    log: list[LoggedRequest]
    states: dict[str, Any]
    """Feed states as loaded after this round."""


@dataclass
class World:
    manifest: dict[str, Any]
    specs: list[FeedSpec]
    policy: FetchPolicy
    rounds: list[Round]
    articles: list[dict[str, Any]]
    duplicates: list[dict[str, Any]]
    deadletters: list[dict[str, Any]]
    server: MiniwebServer
    prefix: str = ""

    def rows_of(self, run_index: int, table: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [r for r in table if r["run_id"] == f"round{run_index + 1}"]


def config_feeds(kit: Path, manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The OPML's feeds (merged as our loader merges them) followed by the discovery seeds."""
    feeds = [{"url": s.url, "name": s.name, "tags": list(s.tags)} for s in load_config(str(kit / manifest["opml"]))]
    listed = {normalize_url(f["url"]) for f in feeds}
    feeds += [{"url": seed["url"]} for seed in manifest.get("seeds", []) if normalize_url(seed["url"]) not in listed]
    return feeds


def flags_for(defaults: dict[str, Any]) -> list[str]:
    """The manifest's fetcher defaults as our flags (``retry_attempts`` retries after the first try)."""
    timeout = str(defaults["timeout_s"])
    return ["--connect_timeout_s", timeout, "--read_timeout_s", timeout, "--total_timeout_s", timeout,
            "--max_body_bytes", str(defaults["max_body_bytes"]),
            "--max_attempts", str(1 + int(defaults["retry_attempts"]))]


def read_table(root: Path, dataset: str) -> list[dict[str, Any]]:
    files = list((root / dataset / "v1").rglob("*.parquet"))
    if not files:
        return []
    table = duckdb.sql(f"select * from read_parquet({[str(f) for f in files]}, hive_partitioning=true, "
                       "union_by_name=true)").fetch_arrow_table()  # type: ignore[union-attr]
    return table.to_pylist()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    if not (KIT / "manifest.json").is_file():
        pytest.skip(f"benchmark kit {KIT} is absent")
    manifest = json.loads((KIT / "manifest.json").read_text(encoding="utf-8"))
    work = tmp_path_factory.mktemp("miniweb")
    config = work / "feeds.yaml"
    config.write_text(yaml.safe_dump({"feeds": config_feeds(KIT, manifest)}, allow_unicode=True), encoding="utf-8")
    root = work / "out"
    with MiniwebServer(KIT) as server:
        server.reset()
        argv = ["--config", str(config), "--output", str(root), "--replay_prefix", server.replay_prefix,
                "--allow_private_network", "127.0.0.1/32", "--host_delay_s", "0",
                *flags_for(manifest["defaults"])]
        job = plan(argv)
        rounds = []
        for index in range(ROUNDS):
            first = len(server.requests())
            summary = run([*argv, "--run_id", f"round{index + 1}"])
            rounds.append(Round(summary, server.requests()[first:], load_feed_states(str(root))))
        yield World(manifest, job.feeds, fetch_policy(job.newsflow), rounds, read_table(root, "articles"),
                    read_table(root, "duplicates"), read_table(root, "deadletters"), server, server.replay_prefix)


# ---------------------------------------------------------------- helpers


def key(url: str | None) -> str:
    """A URL's identity for matching: normalised, scheme dropped (http/https copies are one page)."""
    return normalize_url(url or "").split("://", 1)[-1]


def squash(text: str | None) -> str:
    return " ".join((text or "").split())


def redirects(manifest: dict[str, Any]) -> dict[str, str]:
    """Redirect source key → Location, from every entry whose response is a 3xx."""
    out = {}
    for entry in manifest["entries"]:
        response = entry["response"]
        location = (response.get("headers") or {}).get("Location")
        if 300 <= int(response.get("status", 200)) < 400 and location:
            out[key(entry["url"])] = location
    return out


def reachable(url: str, hops: dict[str, str]) -> set[str]:
    """Keys of ``url`` and of every URL its redirects lead to."""
    seen = {key(url)}
    current = url
    for _ in range(len(hops) + 1):
        target = hops.get(key(current))
        if target is None or key(target) in seen:
            break
        seen.add(key(target))
        current = target
    seen |= {key(hops[k]) for k in list(seen) if k in hops}
    return seen


def row_keys(row: dict[str, Any], hops: dict[str, str]) -> set[str]:
    keys = reachable(row["url"], hops) | {key(row.get("canonical_url"))}
    keys |= {key(u) for u in row.get("redirect_chain") or []}
    return keys


def parse_when(value: str) -> datetime:
    when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def first_ok_step(entry: dict[str, Any]) -> dict[str, Any]:
    steps = entry.get("sequence") or [entry["response"]]
    return next((s for s in steps if int(s.get("status", 200)) == 200), steps[-1])


def served_body(entry: dict[str, Any]) -> bytes:
    step = first_ok_step(entry)
    file = step.get("file") or entry["file"]
    return (KIT / str(file)).read_bytes()


def crawl_delay(text: str, user_agent: str) -> float | None:
    return RobotsRules.from_text(text, user_agent).crawl_delay_s


# ---------------------------------------------------------------- the checks


@dataclass
class Checks:
    results: list[tuple[str, str, bool, str]] = field(default_factory=list)

    def add(self, entry: str, check: str, passed: bool, detail: str = "") -> None:
        self.results.append((entry, check, bool(passed), detail))


class Evaluator:
    def __init__(self, world: World) -> None:
        self.w = world
        self.m = world.manifest
        self.hops = redirects(self.m)
        self.checks = Checks()
        self.entries_by_key = {key(e["url"]): e for e in self.m["entries"]}
        self.timeout_s = float(self.m["defaults"]["timeout_s"])

    # -- lookups

    def records_for(self, url: str, table: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        wanted = key(url)
        return [r for r in table if wanted in row_keys(r, self.hops)]

    def letters_for(self, url: str, *, stage: str | None = None, run_index: int | None = None) -> list[dict[str, Any]]:
        wanted = key(url)
        rows = self.w.deadletters if run_index is None else self.w.rows_of(run_index, self.w.deadletters)
        return [r for r in rows if wanted in reachable(r["url"], self.hops) and (stage is None or r["stage"] == stage)]

    def requests(self, url: str, run_index: int | None = None) -> list[LoggedRequest]:
        logs = [r.log for r in self.w.rounds] if run_index is None else [self.w.rounds[run_index].log]
        return [q for log in logs for q in log if q.url is not None and key(q.url) == key(url)]

    def state(self, run_index: int, url: str) -> Any:
        states = self.w.rounds[run_index].states
        if url in states:
            return states[url]
        for source, target in self.hops.items():  # a feed polled through a redirect is kept under its source
            if key(target) == key(url):
                for state_url, state in states.items():
                    if key(state_url) == source:
                        return state
        return None

    # -- per kind

    def article(self, entry: dict[str, Any]) -> None:
        url, expect = entry["url"], entry["expect"]
        action = expect["action"]
        records = self.records_for(url, self.w.articles)
        if action == "skip":
            letters = [r for r in self.letters_for(url, stage="fetch") if r["kind"] == "skip"]
            reasons = sorted({r["reason"] for r in letters})
            self.check(url, f"skip:{expect['reason']}", reasons == [expect["reason"]], f"skip reasons {reasons}")
            self.check(url, "not_recorded", not records, f"{len(records)} records")
            return
        if action == "record_or_merge":
            merged = self.records_for(url, self.w.duplicates)
            keeper = self.records_for(expect["duplicate_of"], self.w.articles)
            keeper_ids = {r["id"] for r in keeper}
            merged_ok = [r for r in merged if r["duplicate_of"] in keeper_ids]
            self.check(url, "recorded_or_merged", len(records) == 1 or (not records and merged_ok),
                       f"{len(records)} records; {len(merged)} duplicates, {len(merged_ok)} merged into "
                       f"{expect['duplicate_of']}")
            rows = records or merged_ok or merged
        else:
            self.check(url, "recorded_once", len(records) == 1, f"{len(records)} records")
            rows = records
        if not rows:
            return
        row = rows[0]
        self.check(url, "title", squash(row["title"]) == squash(expect["title"]),
                   f"{row['title']!r} != {expect['title']!r}")
        published = row["published_at"]
        self.check(url, "published_not_future", published is None or published <= datetime.now(UTC),
                   f"published {published}")
        if expect.get("published"):
            wanted = parse_when(expect["published"]).date()
            got: date | None = published.astimezone(UTC).date() if published else None
            self.check(url, "published", got is not None and abs((got - wanted).days) <= 1,
                       f"published {got}, expected {wanted} ±1 day")
        if expect.get("lang"):
            language = (row["language"] or "").split("-")[0].lower()
            self.check(url, "lang", language == expect["lang"].lower(), f"language {row['language']!r}")
        body = squash(row["body"])
        missing = [s for s in expect.get("must_contain", []) if squash(s) not in body]
        self.check(url, "must_contain", not missing, f"missing {missing}")
        present = [s for s in expect.get("must_not_contain", []) if squash(s) in body]
        self.check(url, "must_not_contain", not present, f"present {present}")
        if expect.get("body_class"):
            teaser = expect["body_class"] == "teaser"
            self.check(url, "partial" if teaser else "not_partial", bool(row["partial"]) == teaser,
                       f"partial={row['partial']} for body_class {expect['body_class']}")

    def feed(self, entry: dict[str, Any]) -> None:
        url, expect = entry["url"], entry["expect"]
        delay = float(entry["response"].get("delay_s") or 0)
        if delay > self.timeout_s:  # the manifest's timeout outlives no answer slower than it
            for index in range(ROUNDS):
                reasons = sorted({r["reason"] for r in self.letters_for(url, stage="feeds", run_index=index)})
                self.check(url, f"round{index + 1}:dead_letter:timeout", reasons == ["timeout"],
                           f"feed dead letters {reasons} (answer delayed {delay} s)")
            return
        polls = (entry.get("observed") or {}).get("polls") or []
        ok_rounds = [i for i in range(ROUNDS)
                     if any(q.status == 200 for q in self.requests(url, i))]
        kinds = [getattr(self.state(i, url), "kind", None) for i in ok_rounds]
        self.check(url, "parsed", ok_rounds and all(k in FEED_KINDS for k in kinds),
                   f"200 in rounds {[i + 1 for i in ok_rounds]}, state kinds {kinds}")
        errors = [r for r in self.letters_for(url, stage="feeds")
                  if r["kind"] == "error" and r["reason"] not in self.expected_transient_reasons(entry)]
        self.check(url, "no_feed_dead_letter", not errors, f"{[(r['reason'], r['run_id']) for r in errors]}")
        first_ok: dict[str, Any] = next((p for p in polls if p.get("status") == 200), {})
        items = expect.get("items", [])
        required = len(items) if expect["action"] == "parse" else min(len(items), int(first_ok.get("entries", 0)))
        accounted = [item for item in items if self.item_outcome(item)]
        self.check(url, "items_accounted", len(accounted) >= required,
                   f"{len(accounted)}/{len(items)} items became a record, duplicate or dead letter "
                   f"(need {required}): missing {[i['url'] for i in items if i not in accounted]}")
        if expect["action"] == "parse_bozo":
            parsed = parse_feed(served_body(entry), url, {"Content-Type": first_ok_step(entry).get("content_type", "")})
            self.check(url, "bozo_flagged", parsed.bozo and len(parsed.entries) >= required,
                       f"bozo={parsed.bozo} ({parsed.bozo_message}), {len(parsed.entries)} entries")
        self.round_two(entry, polls)

    def expected_transient_reasons(self, entry: dict[str, Any]) -> set[str]:
        """Failure reasons the entry's own sequence asks for (e.g. a 429 step → http_429)."""
        return {f"http_{s['status']}" for s in entry.get("sequence") or [] if int(s.get("status", 200)) >= 400}

    def round_two(self, entry: dict[str, Any], polls: list[dict[str, Any]]) -> None:
        """Each of our requests stands for one poll of the reference; round 2 continues where round 1 left."""
        url = entry["url"]
        if not polls:
            return
        before = len(self.requests(url, 0))
        expected = polls[min(before, len(polls) - 1)].get("status")
        second = self.requests(url, 1)
        got = second[0].status if second else None
        self.check(url, f"round2:status_{expected}", got == expected,
                   f"round 2 got {got} after {before} request(s) in round 1")
        if expected == 304 and second:
            sent = second[0].request_headers
            self.check(url, "round2:conditional_get", "if-none-match" in sent or "if-modified-since" in sent,
                       f"validators sent: {[h for h in sent if h.startswith('if-')]}")

    def item_outcome(self, item: dict[str, Any]) -> bool:
        for candidate in (item.get("url"), item.get("link")):
            if candidate and (self.records_for(candidate, self.w.articles) or self.records_for(candidate, self.w.duplicates)
                              or self.letters_for(candidate)):
                return True
        return False

    def sequence(self, entry: dict[str, Any]) -> None:
        """Transient steps: a Retry-After within our backoff cap is waited out inside the poll; one
        beyond it ends the poll, and the feed is not due again before it has passed (fake clock)."""
        url = entry["url"]
        cap = self.w.policy.backoff_max_s
        steps = entry.get("sequence") or []
        first = self.requests(url, 0)
        for position, step in enumerate(steps[:-1]):
            retry_after = (step.get("headers") or {}).get("Retry-After")
            if int(step.get("status", 200)) < 400 or retry_after is None or position != 0:
                continue
            wait = float(retry_after)
            if wait <= cap:
                # Other sources may ask for the same URL meanwhile (discovery); the retry is the
                # request at least Retry-After later, and the poll must not end in a dead letter.
                status = int(step["status"])
                failed = first[0].status == status if first else False
                retried = [q for q in first[1:] if q.at - first[0].at >= wait - 0.05]
                letters = [r for r in self.letters_for(url, stage="feeds", run_index=0)
                           if r["reason"] == f"http_{status}"]
                self.check(url, "retry_after_waited", failed and retried and retried[0].status == 200 and not letters,
                           f"round 1: {[(q.status, round(q.at - first[0].at, 2)) for q in first]}, "
                           f"dead letters {len(letters)}")
            else:
                self.check(url, "retry_after_not_asked_again", len(first) == 1,
                           f"{len(first)} request(s) in round 1 after Retry-After {wait} s > cap {cap} s")
                state = self.state(0, url)
                self.check(url, "retry_after_kept", getattr(state, "retry_after_s", None) == int(wait),
                           f"state retry_after_s={getattr(state, 'retry_after_s', None)}")
                specs = [s for s in self.w.specs if key(s.url) == key(url)]
                polled = getattr(state, "polled_at", None) or datetime.now(UTC)
                states = self.w.rounds[0].states
                early = due_feeds(specs, states, polled + timedelta(seconds=wait - 1))
                later = due_feeds(specs, states, polled + timedelta(seconds=wait))
                self.check(url, "not_due_before_retry_after", specs and not early and later == specs,
                           f"due at +{wait - 1:.0f} s: {bool(early)}, at +{wait:.0f} s: {bool(later)}")

    def redirect(self, entry: dict[str, Any]) -> None:
        url, expect = entry["url"], entry["expect"]
        target = self.hops[key(url)]
        if expect["action"] == "follow":
            asked = self.requests(url)
            followed = all(any(t.at >= q.at for t in self.requests(target)) for q in asked)
            self.check(url, "followed", asked and followed,
                       f"{len(asked)} request(s), target {target} requested after each: {followed}")
            letters = self.letters_for(url)
            own = [r for r in letters if key(r["url"]) == key(url)]
            self.check(url, "not_dead_lettered", not own, f"{[(r['reason'], r['run_id']) for r in own]}")
            return
        self.dead_letter(entry)

    def dead_letter(self, entry: dict[str, Any]) -> None:
        url, expect = entry["url"], entry["expect"]
        letters = [r for r in self.letters_for(url) if r["kind"] == "error"]
        reasons = sorted({r["reason"] for r in letters})
        self.check(url, f"dead_letter:{expect['reason']}", expect["reason"] in reasons and len(reasons) == 1,
                   f"error dead letters {reasons}; skips "
                   f"{sorted({r['reason'] for r in self.letters_for(url) if r['kind'] == 'skip'})}")
        status = int(entry["response"].get("status", 200))
        if 400 <= status < 500 and status not in (408, 429):
            per_round = [len(self.requests(url, i)) for i in range(ROUNDS)]
            self.check(url, "not_retried_in_a_poll", all(n <= 1 for n in per_round), f"requests per round {per_round}")
        if expect.get("retry") is False:
            total = len(self.requests(url))
            rows = [r for r in letters if key(r["url"]) == key(url)]
            self.check(url, "dead_lettered_once_never_retried", total == 1 and len(rows) == 1,
                       f"{total} request(s) over {ROUNDS} rounds, {len(rows)} dead letter(s)")

    def binary(self, entry: dict[str, Any]) -> None:
        url, expect = entry["url"], entry["expect"]
        letters = [r for r in self.letters_for(url) if r["kind"] == "skip"]
        reasons = sorted({r["reason"] for r in letters})
        self.check(url, f"skip:{expect['reason']}", reasons == [expect["reason"]], f"skip reasons {reasons}")
        self.check(url, "not_recorded", not self.records_for(url, self.w.articles), "")

    def robots(self, entry: dict[str, Any]) -> None:
        url, expect = entry["url"], entry["expect"]
        text = served_body(entry).decode("utf-8", errors="replace")
        host = entry["host"]
        rules = RobotsRules.from_text(text, self.w.policy.user_agent)
        for index, round_ in enumerate(self.w.rounds):
            on_host = sorted((q for q in round_.log if q.host == host), key=lambda q: q.at)
            forbidden = [q.url for q in on_host if q.url and not rules.allows(q.url)]
            self.check(url, f"round{index + 1}:disallowed_never_requested", not forbidden, f"{forbidden}")
            delay = crawl_delay(text, self.w.policy.user_agent)
            if delay:
                pairs = list(itertools.pairwise(on_host))
                gaps = [round(b.at - a.at, 2) for a, b in pairs]
                close = [(a.url, b.url, g) for (a, b), g in zip(pairs, gaps, strict=True) if g < delay - 0.05]
                self.check(url, f"round{index + 1}:crawl_delay_{delay:g}s", not close,
                           f"{len(on_host)} requests to {host}, gaps {gaps}; too close: {close}")
        if expect.get("sitemaps"):
            unread = [s for s in expect["sitemaps"] if not self.requests(s)]
            self.check(url, "sitemaps_read", not unread, f"Sitemap lines never fetched: {unread}")

    def sitemap(self, entry: dict[str, Any]) -> None:
        url, expect = entry["url"], entry["expect"]
        policy = FetchPolicy(allow_private_networks=("127.0.0.1/32",), host_delay_s=0, max_attempts=1,
                             replay_prefix=self.w.prefix)
        with HttpClient(policy) as client:
            fetched = client.fetch(url, kind="any")
        parsed = parse_feed(fetched.body, fetched.final_url, fetched.headers)
        if "children" in expect:
            self.check(url, "children", parsed.child_sitemaps == expect["children"], f"{parsed.child_sitemaps}")
        if "items" in expect:
            got = [e.url for e in parsed.entries]
            self.check(url, "items", got == [i["url"] for i in expect["items"]], f"{got}")

    def homepage(self, entry: dict[str, Any]) -> None:
        url, expect = entry["url"], entry["expect"]
        parsed = parse_feed(served_body(entry), url, {"Content-Type": entry["response"].get("content_type", "")})
        missing = [f for f in expect["feeds"] if f not in parsed.alternate_links]
        self.check(url, "alternates_found", not missing, f"missing {missing} in {parsed.alternate_links}")

    def seed(self, seed: dict[str, Any]) -> None:
        url = seed["url"]
        state = self.state(0, url)
        found = getattr(state, "discovered_feed_url", None)
        if seed["expect_feeds"]:
            self.check(url, "seed_discovers_feed", found in seed["expect_feeds"],
                       f"discovered {found}, expected one of {seed['expect_feeds']}")
        else:
            letters = sorted({r["reason"] for r in self.letters_for(url, stage="feeds")})
            self.check(url, "seed_without_feed", found is None and letters == ["no_feed_found"],
                       f"discovered {found}, dead letters {letters}")

    def opml(self, item: dict[str, Any]) -> None:
        url, action = item["xmlUrl"], item["action"]
        if action == "follow_301":
            second = self.requests(url, 1)
            final = self.requests(item["final"], 1)
            self.check(url, "moved_feed_polled_at_new_url", not second and final,
                       f"round 2: {len(second)} request(s) to the old URL, {len(final)} to {item['final']}")
        elif action == "dead_letter":
            reasons = sorted({r["reason"] for r in self.letters_for(url, stage="feeds") if r["kind"] == "error"})
            self.check(url, f"opml_dead_letter:{item['reason']}", reasons == [item["reason"]], f"{reasons}")
        elif action == "autodiscover":
            found = getattr(self.state(0, url), "discovered_feed_url", None)
            asked = [f for f in item["finds"] if self.requests(f, 0)]
            self.check(url, "autodiscovered", found in item["finds"] and asked == item["finds"][:len(asked)],
                       f"discovered {found}; candidates requested {asked}")
        elif action == "dedupe_subscription":
            listed = [s for s in self.w.specs if key(s.url) == key(url)]
            per_round = [len(self.requests(url, i)) for i in range(ROUNDS)]
            self.check(url, "subscribed_once", len(listed) == 1 and per_round[0] == 1,
                       f"{len(listed)} config entries, requests per round {per_round}")
        elif action == "parse_bozo":
            entry = self.entries_by_key[key(url)]
            errors = [r for r in self.letters_for(url, stage="feeds") if r["kind"] == "error"]
            parsed = parse_feed(served_body(entry), url, {"Content-Type": first_ok_step(entry).get("content_type", "")})
            self.check(url, "bozo_feed_kept", parsed.bozo and not errors,
                       f"bozo={parsed.bozo}, feed dead letters {[r['reason'] for r in errors]}")

    def dedup_group(self, group: dict[str, Any]) -> None:
        name = f"dedup:{group['id']}"
        records = {r["id"]: r for u in group["urls"] for r in self.records_for(u, self.w.articles)}
        detail = f"records {[r['url'] for r in records.values()]}"
        if group.get("keep"):
            keep = key(group["keep"])
            self.check(name, "one_record_the_kept_url", len(records) == 1
                       and all(keep in row_keys(r, self.hops) for r in records.values()), detail)
        else:
            self.check(name, "one_record", len(records) == 1, detail)
        if group["type"] == "url_normalization":
            for row in records.values():
                kept = {k for k, _ in parse_qsl(urlsplit(row["canonical_url"]).query)}
                linked = {k for u in group["urls"] for k, _ in parse_qsl(urlsplit(u).query)}
                self.check(name, "click_parameters_dropped", kept < linked, f"canonical {row['canonical_url']}")

    def global_checks(self) -> None:
        expected = [e for e in self.m["entries"]
                    if e["kind"] == "article" and e["expect"]["action"] in ("record", "record_or_merge")]
        unexpected = [r["url"] for r in self.w.articles
                      if not any(key(e["url"]) in row_keys(r, self.hops) for e in expected)]
        self.check("*", "only_expected_records", not unexpected, f"{unexpected}")
        stray = []
        alternates = {link for e in self.m["entries"] if e["kind"] in ("article", "homepage") and e.get("file")
                      for link in parse_feed(served_body(e), e["url"],
                                             {"Content-Type": e["response"].get("content_type", "")}).alternate_links}
        for round_ in self.w.rounds:
            for q in round_.log:
                if q.url is None:
                    stray.append(("not a replay request", q.status))
                elif q.entry_url is None:
                    path = urlsplit(q.url).path
                    probe = path == "/robots.txt" or path in WELL_KNOWN_FEED_PATHS or q.url in alternates
                    if not probe or q.status != 404:
                        stray.append((q.url, q.status))
        self.check("*", "unlisted_only_probes_404", not stray, f"{stray}")

    def check(self, entry: str, check: str, passed: Any, detail: str = "") -> None:
        self.checks.add(entry, check, bool(passed), detail)

    def run(self) -> list[tuple[str, str, bool, str]]:
        handlers = {"article": self.article, "feed": self.feed, "redirect": self.redirect, "error": self.dead_letter,
                    "binary": self.binary, "robots": self.robots, "sitemap": self.sitemap, "homepage": self.homepage}
        for entry in self.m["entries"]:
            handlers[entry["kind"]](entry)
            if entry.get("sequence"):
                self.sequence(entry)
        for seed in self.m.get("seeds", []):
            self.seed(seed)
        for item in self.m.get("opml_expect", []):
            self.opml(item)
        for group in self.m.get("dedup_groups", []):
            self.dedup_group(group)
        self.global_checks()
        return self.checks.results


def test_miniweb_acceptance(world: World) -> None:
    results = Evaluator(world).run()
    met = sum(passed for *_, passed, _ in results)
    print(f"\nminiweb: {met}/{len(results)} expectations met ({100 * met / len(results):.1f}%)")
    for entry, check, passed, detail in results:
        if not passed:
            print(f"  UNMET {check} :: {entry} :: {detail[:400]}")
    for index, round_ in enumerate(world.rounds):
        print(f"  round {index + 1}: {len(round_.log)} requests; " + "; ".join(round_.summary.lines()[-2:]))
    assert [(e, c, d) for e, c, passed, d in results if not passed] == []


def test_manifest_defaults_are_our_flags(world: World) -> None:
    defaults = world.manifest["defaults"]
    policy = world.policy
    assert (policy.connect_timeout_s, policy.read_timeout_s, policy.total_timeout_s) == (defaults["timeout_s"],) * 3
    assert (policy.max_bytes, policy.max_redirects, policy.max_attempts) == (
        defaults["max_body_bytes"], defaults["max_redirects"], 1 + defaults["retry_attempts"])


def test_replay_server_follows_the_manifest() -> None:
    """Every entry answered as its manifest entry says: sequences step per request and restart on
    reset, redirects point back into the replay prefix, validators give 304, compression and
    chunking as asked, unlisted URLs 404, tracking queries fall back to the path's entry."""
    if not (KIT / "manifest.json").is_file():
        pytest.skip(f"benchmark kit {KIT} is absent")
    with MiniwebServer(KIT, sleep=lambda _: None) as server, httpx.Client(timeout=10) as client:
        for entry in server.manifest.entries:
            steps = entry.get("sequence") or [entry["response"]]
            wire = server.replay_prefix + entry["url"]
            for step in [*steps, steps[-1]]:
                response = client.get(wire, headers={"Accept-Encoding": "gzip"})
                assert response.status_code == step["status"], entry["url"]
                location = (step.get("headers") or {}).get("Location")
                if location:
                    assert response.headers["location"] == server.replay_prefix + location
                file = step["file"] if "file" in step else entry.get("file")
                if step["status"] == 200 and file:
                    assert response.content == (KIT / file).read_bytes(), entry["url"]
                if "gzip" in (entry["response"].get("compress") or []):
                    assert response.headers["content-encoding"] == "gzip"
                if entry["response"].get("chunked"):
                    assert "content-length" not in response.headers
            etag = (steps[-1].get("headers") or {}).get("ETag")
            if etag and steps[-1]["status"] == 200:
                assert client.get(wire, headers={"If-None-Match": etag}).status_code == 304
                assert client.get(wire, headers={"If-Modified-Since": steps[-1]["headers"]["Last-Modified"]}
                                  ).status_code == 304
        sequenced = [e for e in server.manifest.entries if e.get("sequence")]
        server.reset()
        for entry in sequenced:
            assert client.get(server.replay_prefix + entry["url"]).status_code == entry["sequence"][0]["status"]
        page = next(e for e in server.manifest.entries if e["kind"] == "article" and not e["query"]
                    and e["response"]["status"] == 200)
        tracked = client.get(server.replay_prefix + page["url"] + "?utm_source=x")
        assert (tracked.status_code, tracked.content) == (200, (KIT / page["file"]).read_bytes())
        assert client.get(server.replay_prefix + "https://unlisted.example/").status_code == 404
        assert client.get(f"http://127.0.0.1:{server.port}/not-replay").status_code == 400
    assert {q.host for q in server.requests()} >= {"unlisted.example", page["host"]}


def test_server_serves_gzip_sitemap_file_and_unlisted_404(world: World) -> None:
    """The replay server itself: a .gz body is served as stored bytes; an unlisted URL is 404."""
    gz = next((e for e in world.manifest["entries"] if e["path"].endswith(".gz")), None)
    policy = FetchPolicy(allow_private_networks=("127.0.0.1/32",), host_delay_s=0, max_attempts=1,
                         replay_prefix=world.prefix)
    with HttpClient(policy) as client:
        missing = client.fetch("https://unlisted.example/nothing-here", kind="any")
        assert (missing.outcome, missing.status) == ("error", 404)
        if gz is not None:
            fetched = client.fetch(gz["url"], kind="any")
            assert fetched.body == served_body(gz)
            assert gzip.decompress(fetched.body).lstrip().startswith(b"<")
    assert re.match(r"http://127\.0\.0\.1:\d+/replay/$", world.prefix)
