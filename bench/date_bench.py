"""Date bench: a proxy of day-level accuracy on real pages that carry no date labels.

Usage: python bench/date_bench.py [--kit DIR ...]

No kit here labels dates, so the label is a consensus: pages whose JSON-LD ``datePublished``, a
published-time meta tag and a full URL date name the same calendar day (at least two of the three
present, all agreeing) get that day. Each such page is then resolved with one source hidden at a
time (JSON-LD removed from the tree, the date meta tags removed, or no URL), so that the resolver
must recover the day from what is left; htmldate's extensive search (``find_date(extensive_search=
True, original_date=True)``, the peer) runs on the same reduced page. Printed per variant and per
half (ids sorted, even / odd positions): accuracy to the day (right / pages), coverage (dated /
pages), precision (right / dated), and the share of pages on which the resolver paid for htmldate.
The proxy favours well-marked pages: it measures recovery, not the held-out accuracy.
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
from copy import deepcopy
from datetime import UTC, date, datetime
from pathlib import Path

from htmldate import find_date
from trafilatura.utils import load_html

from newsflow.transforms.extract.dates import (
    GENERIC_META_KEYS,
    MODIFIED_META_KEYS,
    PUBLISHED_META_KEYS,
    parse_date_value,
    resolve_page_date,
    url_date,
)
from newsflow.transforms.extract.metadata import page_metadata

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "bench"
DEFAULT_KITS = [SHARED / "extraction", SHARED / "extraction-wide" / "l3s-gn1",
                SHARED / "extraction-wide" / "cleanportaleval"]
DATE_KEYS = {*PUBLISHED_META_KEYS, *GENERIC_META_KEYS, *MODIFIED_META_KEYS}


def load(kit: Path) -> list[tuple[str, str, str]]:
    truth = json.loads((kit / "ground-truth.json").read_text(encoding="utf-8"))
    pages = []
    for page_id in sorted(truth):
        raw = gzip.decompress((kit / "html" / f"{page_id}.html.gz").read_bytes())
        pages.append((f"{kit.name}/{page_id}", raw.decode("utf-8", "replace"), truth[page_id].get("url") or ""))
    return pages


def consensus(tree, url: str) -> date | None:
    """The day JSON-LD, the published meta tags and the URL agree on (two at least), else None."""
    meta = page_metadata(tree)
    days = []
    raw = meta.jsonld.dates.get("datePublished") if meta.jsonld else None
    if (value := parse_date_value(raw)) is not None:
        days.append(value.day)
    for key in PUBLISHED_META_KEYS:
        if (value := parse_date_value(meta.tags.get(key))) is not None:
            days.append(value.day)
            break
    if (day := url_date(url)) is not None:
        days.append(day)
    return days[0] if len(days) >= 2 and len(set(days)) == 1 else None


def hide(tree, what: str):
    tree = deepcopy(tree)
    if what == "jsonld":
        for script in tree.xpath("//script[@type='application/ld+json']"):
            script.getparent().remove(script)
    elif what == "meta":
        for meta in tree.xpath("//meta"):
            key = (meta.get("property") or meta.get("name") or meta.get("itemprop") or "").lower()
            if key in DATE_KEYS:
                meta.getparent().remove(meta)
    return tree


def resolve(tree, url: str | None, now: datetime):
    meta = page_metadata(tree)
    return resolve_page_date(tree, tags=meta.tags, jsonld_dates=meta.jsonld.dates if meta.jsonld else {},
                             url=url, language=meta.language, feed_published=None, rule_text=None, now=now)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kit", type=Path, action="append")
    args = parser.parse_args(argv)
    now = datetime.now(UTC)
    pages = [p for kit in (args.kit or DEFAULT_KITS) if (kit / "ground-truth.json").exists() for p in load(kit)]
    labelled = []
    for index, (page_id, html, url) in enumerate(pages):
        tree = load_html(html)
        if tree is not None and (day := consensus(tree, url)) is not None:
            labelled.append((index, page_id, tree, url, day))
    print(f"pages: {len(pages)}; with a consensus day (JSON-LD / meta / URL, 2+ agreeing): {len(labelled)}")
    variants = {"all sources": None, "no JSON-LD": "jsonld", "no date meta": "meta", "no URL": "url"}
    print(f"{'variant':14} {'half':5} {'n':>4} | {'ours acc':>8} {'cov':>5} {'prec':>5} {'htmld%':>6} |"
          f" {'peer acc':>8} {'cov':>5} {'prec':>5}")
    for name, what in variants.items():
        rows = []
        for index, _page_id, tree, url, day in labelled:
            reduced = hide(tree, what) if what in ("jsonld", "meta") else tree
            page_url = None if what == "url" else url
            ours = resolve(deepcopy(reduced), page_url, now)
            found = find_date(deepcopy(reduced), extensive_search=True, original_date=True, url=page_url,
                              max_date=now.strftime("%Y-%m-%d"))
            peer = date.fromisoformat(found) if found else None
            rows.append((index % 2, day, ours.published_date, ours.used_htmldate, peer))
        for half, label in ((None, "both"), (0, "even"), (1, "odd")):
            part = [r for r in rows if half is None or r[0] == half]
            n = len(part) or 1
            ours_dated = sum(r[2] is not None for r in part)
            ours_right = sum(r[2] == r[1] for r in part)
            peer_dated = sum(r[4] is not None for r in part)
            peer_right = sum(r[4] == r[1] for r in part)
            print(f"{name:14} {label:5} {len(part):4} | {ours_right / n:8.3f} {ours_dated / n:5.3f} "
                  f"{ours_right / max(ours_dated, 1):5.3f} {sum(r[3] for r in part) / n:6.2f} |"
                  f" {peer_right / n:8.3f} {peer_dated / n:5.3f} {peer_right / max(peer_dated, 1):5.3f}")

    # cost and agreement on every page (labelled or not)
    total = 0.0
    paid = agree = both = ours_only = peer_only = 0
    for _page_id, html, url in pages:
        tree = load_html(html)
        if tree is None:
            continue
        start = time.perf_counter()
        ours = resolve(tree, url or None, now)
        total += time.perf_counter() - start
        paid += ours.used_htmldate
        found = find_date(load_html(html), extensive_search=True, original_date=True, url=url or None,
                          max_date=now.strftime("%Y-%m-%d"))
        peer = date.fromisoformat(found) if found else None
        if ours.published_date and peer:
            both += 1
            agree += ours.published_date == peer
        ours_only += bool(ours.published_date and not peer)
        peer_only += bool(peer and not ours.published_date)
    print(f"all {len(pages)} pages: date cost {1000 * total / len(pages):.2f} ms/page (metadata parse included), "
          f"htmldate paid on {paid / len(pages):.2f} of pages; both dated {both}, same day {agree}; "
          f"only ours {ours_only}, only htmldate {peer_only}")


if __name__ == "__main__":
    main()
