"""The ingest report as one self-contained HTML page: Vega-Lite charts (built with Altair) and tables.

The Vega, Vega-Lite and vega-embed libraries are inlined once (vl-convert's bundle, the one Altair's
``inline=True`` uses), so the page opens offline and loads nothing. A small hook records any script
error or console error/warning into ``data-errors`` / ``data-warnings`` on ``<html>``, and
``data-charts-rendered`` counts the charts drawn, so a headless browser can check the page.
"""

from __future__ import annotations

import functools
import html
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any

import altair as alt

from newsflow.pipelines.report_data import NO_REGION, UNTAGGED_TOPIC_LABEL, ReportData

HALF_WIDTH = 420
FULL_WIDTH = 1040
OUTCOME_COLOURS = {"article": "#4c78a8", "duplicate": "#9ecae9", "skip": "#f58518", "dead letter": "#e45756"}
KIND_COLOURS = {"skip": "#f58518", "dead letter": "#e45756"}
EXTRACTION_COLOURS = {"full": "#4c78a8", "partial": "#f58518"}
PALETTE = ("#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#eeca3b", "#b279a2", "#ff9da6", "#9d755d",
           "#79706e", "#17becf", "#bcbd22", "#8c6d31", "#393b79", "#637939", "#7b4173", "#843c39")
PLACEHOLDER_COLOUR = "#c7c7c7"


def count_axis() -> alt.Axis:
    """An axis of whole counts: no label at fractional ticks (Vega may still place them on tiny domains)."""
    return alt.Axis(format="d", tickMinStep=1, labelExpr="datum.value % 1 ? '' : datum.label")


def count_scale(rows: Sequence[Any]) -> alt.Scale:
    """A count scale; fixed to 0..1 for an empty chart, whose extent Vega could not compute."""
    return alt.Scale(domain=[0, 1]) if not rows else alt.Scale()


@functools.cache
def vega_bundle() -> str:
    """Vega + Vega-Lite (Altair's version) + vega-embed as one script defining ``window.vegaEmbed``."""
    import vl_convert

    vl_version = "_".join(alt.SCHEMA_VERSION.split(".")[:2])
    snippet = "window.vegaEmbed = vegaEmbed; window.vega = vega; window.vegaLite = vegaLite;"
    return vl_convert.javascript_bundle(snippet, vl_version=vl_version)


def _jsonable(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v.isoformat() if isinstance(v, datetime | date) else v for k, v in row.items()} for row in rows]


def _data(rows: Iterable[dict[str, Any]]) -> alt.Data:
    return alt.Data(values=_jsonable(rows))


def _scale(colours: dict[str, str]) -> alt.Scale:
    return alt.Scale(domain=list(colours), range=list(colours.values()))


def category_colours(rows: Sequence[dict[str, Any]], key: str, placeholder: str) -> dict[str, str]:
    """A colour per category, biggest first, the placeholder ("no topic") last and grey."""
    totals: dict[str, int] = {}
    for row in rows:
        totals[row[key]] = totals.get(row[key], 0) + row["records"]
    named = sorted((k for k in totals if k != placeholder), key=lambda k: (-totals[k], k))
    colours = {k: PALETTE[i % len(PALETTE)] for i, k in enumerate(named)}
    if placeholder in totals:
        colours[placeholder] = PLACEHOLDER_COLOUR
    return colours


def per_day_chart(rows: Sequence[dict[str, Any]], by: str, title: str, placeholder: str) -> alt.Chart:
    """Stacked bars: articles per ingestion day, coloured by ``by`` (topic or region), biggest at the bottom."""
    colours = category_colours(rows, by, placeholder)
    return alt.Chart(_data(rows), title=title).mark_bar().encode(
        x=alt.X("day:O", title="ingestion day (dt, UTC)",
                axis=alt.Axis(labelAngle=0 if len({r["day"] for r in rows}) <= 6 else -45)),
        y=alt.Y("sum(records):Q", title="articles", axis=count_axis(), scale=count_scale(rows)),
        color=alt.Color(f"{by}:N", title=by, scale=_scale(colours), sort=list(colours),
                        legend=alt.Legend(orient="bottom", columns=2, labelLimit=200)),
        tooltip=["day:O", f"{by}:N", alt.Tooltip("records:Q", title="articles")],
    ).properties(width=HALF_WIDTH, height=220)


def sources_chart(rows: Sequence[dict[str, Any]]) -> alt.Chart:
    """Horizontal stacked bars per site: articles, duplicates, skips, dead letters."""
    names = {"articles": "article", "duplicates": "duplicate", "skips": "skip", "dead_letters": "dead letter"}
    long = [{"site": r["site"], "outcome": outcome, "outcome_order": j, "items": r[column]}
            for r in rows for j, (column, outcome) in enumerate(names.items()) if r[column]]
    return alt.Chart(_data(long), title="Items per site").mark_bar().encode(
        y=alt.Y("site:N", title=None, sort=[r["site"] for r in rows], axis=alt.Axis(labelLimit=260)),
        x=alt.X("sum(items):Q", title="items", axis=count_axis(), scale=count_scale(long)),
        color=alt.Color("outcome:N", title="outcome", scale=_scale(OUTCOME_COLOURS),
                        legend=alt.Legend(orient="bottom")),
        order=alt.Order("outcome_order:Q"),
        tooltip=["site:N", "outcome:N", "items:Q"],
    ).properties(width=FULL_WIDTH - 300, height=max(60, 22 * len(rows)))


def methods_chart(rows: Sequence[dict[str, Any]]) -> alt.Chart:
    return alt.Chart(_data(rows), title="Duplicates by matching method").mark_bar(color="#9ecae9").encode(
        y=alt.Y("method:N", title=None, sort="-x"),
        x=alt.X("duplicates:Q", title="duplicates", axis=count_axis(), scale=count_scale(rows)),
        tooltip=["method:N", "duplicates:Q"],
    ).properties(width=HALF_WIDTH - 170, height=max(60, 26 * len(rows)))


def reasons_chart(rows: Sequence[dict[str, Any]]) -> alt.Chart:
    long = [{"reason": f"{r['stage']} · {r['reason']}", "kind": "skip" if r["kind"] == "skip" else "dead letter",
             "items": r["items"]} for r in rows]
    return alt.Chart(_data(long), title="By stage and reason").mark_bar().encode(
        y=alt.Y("reason:N", title=None, sort="-x", axis=alt.Axis(labelLimit=260)),
        x=alt.X("sum(items):Q", title="items", axis=count_axis(), scale=count_scale(long)),
        color=alt.Color("kind:N", title=None, scale=_scale(KIND_COLOURS), legend=alt.Legend(orient="bottom")),
        tooltip=["reason:N", "kind:N", "items:Q"],
    ).properties(width=HALF_WIDTH - 220, height=max(60, 22 * len({r["reason"] for r in long})))


def hosts_chart(rows: Sequence[dict[str, Any]]) -> alt.Chart:
    long = [{"host": r["host"], "kind": kind, "items": r[column]}
            for r in rows for column, kind in (("skips", "skip"), ("dead_letters", "dead letter"))
            if r[column]]
    return alt.Chart(_data(long), title="By host").mark_bar().encode(
        y=alt.Y("host:N", title=None, sort=[r["host"] for r in rows], axis=alt.Axis(labelLimit=220)),
        x=alt.X("sum(items):Q", title="items", axis=count_axis(), scale=count_scale(long)),
        color=alt.Color("kind:N", title=None, scale=_scale(KIND_COLOURS), legend=alt.Legend(orient="bottom")),
        tooltip=["host:N", "kind:N", "items:Q"],
    ).properties(width=HALF_WIDTH - 200, height=max(60, 22 * len(rows)))


def freshness_chart(bins: Sequence[dict[str, Any]]) -> alt.Chart:
    return alt.Chart(_data(bins), title="Delay from publication to ingestion").mark_bar(color="#54a24b").encode(
        x=alt.X("bin:N", title="ingested_at − published_at", sort=[b["bin"] for b in bins],
                axis=alt.Axis(labelAngle=0)),
        y=alt.Y("records:Q", title="articles", axis=count_axis(), scale=count_scale(bins)),
        tooltip=[alt.Tooltip("bin:N", title="delay"), alt.Tooltip("records:Q", title="articles")],
    ).properties(width=HALF_WIDTH, height=200)


def publication_chart(rows: Sequence[dict[str, Any]]) -> alt.Chart:
    return alt.Chart(_data(rows), title="Articles by publication date").mark_bar(color="#72b7b2").encode(
        x=alt.X("published_day:O", title="published (UTC date)"),
        y=alt.Y("records:Q", title="articles", axis=count_axis(), scale=count_scale(rows)),
        tooltip=["published_day:O", alt.Tooltip("records:Q", title="articles")],
    ).properties(width=HALF_WIDTH, height=200)


def body_chart(rows: Sequence[dict[str, Any]]) -> alt.Chart:
    labels = list(dict.fromkeys(r["bin"] for r in rows))
    return alt.Chart(_data(rows), title="Body length (characters)").mark_bar().encode(
        x=alt.X("bin:N", title="characters of clean text", sort=labels, axis=alt.Axis(labelAngle=0)),
        y=alt.Y("sum(records):Q", title="articles", axis=count_axis(), scale=count_scale(rows)),
        color=alt.Color("extraction:N", title=None, scale=_scale(EXTRACTION_COLOURS),
                        legend=alt.Legend(orient="bottom")),
        tooltip=["bin:N", "extraction:N", alt.Tooltip("records:Q", title="articles")],
    ).properties(width=HALF_WIDTH, height=200)


def extraction_sites_chart(rows: Sequence[dict[str, Any]]) -> alt.Chart:
    long = [{"site": r["site"], "extraction": kind, "records": r[kind]}
            for r in rows for kind in ("full", "partial") if r[kind]]
    return alt.Chart(_data(long), title="Full and partial records per site").mark_bar().encode(
        y=alt.Y("site:N", title=None, sort=[r["site"] for r in rows], axis=alt.Axis(labelLimit=220)),
        x=alt.X("sum(records):Q", title="articles", axis=count_axis(), scale=count_scale(long)),
        color=alt.Color("extraction:N", title=None, scale=_scale(EXTRACTION_COLOURS),
                        legend=alt.Legend(orient="bottom")),
        tooltip=["site:N", "extraction:N", alt.Tooltip("records:Q", title="articles")],
    ).properties(width=HALF_WIDTH - 200, height=max(60, 22 * len(rows)))


def chart_specs(data: ReportData) -> dict[str, dict[str, Any]]:
    """Every chart of the page by element id, as Vega-Lite specs (no ``$schema`` URL)."""
    charts = {
        "chart-day-topic": per_day_chart(data.per_day_topic, "topic", "By primary topic (IPTC)", UNTAGGED_TOPIC_LABEL),
        "chart-day-region": per_day_chart(data.per_day_region, "region", "By primary region (M49 sub-region)",
                                          NO_REGION),
        "chart-sources": sources_chart(data.sources),
        "chart-dup-methods": methods_chart(data.duplicate_methods),
        "chart-reasons": reasons_chart(data.rejection_reasons),
        "chart-hosts": hosts_chart(data.rejection_hosts),
        "chart-freshness": freshness_chart(data.freshness["bins"]),
        "chart-published": publication_chart(data.per_publication_day),
        "chart-body": body_chart(data.body_lengths),
        "chart-extraction-sites": extraction_sites_chart(data.extraction_sites),
    }
    specs = {}
    for element_id, chart in charts.items():
        spec = chart.configure_view(stroke=None).configure_axis(grid=True, gridOpacity=0.4).to_dict()
        spec.pop("$schema", None)
        specs[element_id] = spec
    return specs


# ---- formatting -------------------------------------------------------------------------------------------

def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def number(value: int | float | None) -> str:
    return "—" if value is None else f"{value:,}"


def plural(count: int, noun: str) -> str:
    return f"{number(count)} {noun}{'' if count == 1 else 's'}"


def percent(share: float | None) -> str:
    return "—" if share is None else f"{100 * share:.1f} %"


def when(moment: datetime | None) -> str:
    return "never" if moment is None else f"{moment.astimezone(UTC):%Y-%m-%d %H:%M}\u00a0UTC"


def duration(seconds: float | None) -> str:
    """A short human duration: 45 s, 5 min, 1 h 30 min, 2 d 3 h."""
    if seconds is None:
        return "—"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        hours, minutes = divmod(s // 60, 60)
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(s // 3600, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def hours(value: float | None) -> str:
    return "—" if value is None else duration(value * 3600)


# ---- page sections ----------------------------------------------------------------------------------------

def _chart(element_id: str, caption: str) -> str:
    return (f'<figure><div class="chart" id="{element_id}"></div>'
            f'<figcaption>{caption}</figcaption></figure>')


def _note(text: str) -> str:
    return f'<p class="note">{text}</p>'


def _cards(s: dict[str, Any]) -> str:
    items = [
        ("articles", number(s["articles"]), "canonical records"),
        ("duplicates", number(s["duplicates"]), f"{percent(s['duplicate_rate'])} of all stories seen"),
        ("skips", number(s["skips"]), "left out with a named reason"),
        ("dead letters", number(s["dead_letters"]), "failures"),
        ("feeds", number(s["feeds"]), f"{number(s['failing_feeds'])} failing now"),
        ("sites", number(s["sites"]), "publishing hosts"),
        ("runs", number(s["runs"]), "runs / stream windows"),
    ]
    cells = "".join(f'<div class="card{" alert" if label == "dead letters" and s["dead_letters"] else ""}">'
                    f'<div class="value">{value}</div><div class="label">{label}</div>'
                    f'<div class="sub">{_e(sub)}</div></div>' for label, value, sub in items)
    return f'<div class="cards" id="summary">{cells}</div>'


def _m49_table(rows: Sequence[dict[str, Any]]) -> str:
    body = []
    for i, row in enumerate(rows):
        first = i == 0 or rows[i - 1]["region"] != row["region"]
        span = sum(1 for r in rows if r["region"] == row["region"])
        region_cell = f'<th rowspan="{span}" scope="rowgroup">{_e(row["region"])}</th>' if first else ""
        body.append(f'<tr class="{"group-start" if first else ""}">{region_cell}<td>{_e(row["subregion"])}</td>'
                    f'<td class="num">{number(row["primary_records"])}</td>'
                    f'<td class="num">{number(row["tagged_records"])}</td></tr>')
    return ('<table class="m49"><thead><tr><th>region</th><th>sub-region</th><th class="num">primary</th>'
            f'<th class="num">tagged</th></tr></thead><tbody>{"".join(body)}</tbody></table>')


def _clusters_table(rows: Sequence[dict[str, Any]]) -> str:
    body = "".join(
        f'<tr><td class="num">{number(r["copies"])}</td>'
        f'<td>{_e(r["title"]) if r["title"] is not None else "<i>canonical record not in articles/v1</i>"}'
        f'<div class="muted">{_e(r["canonical_id"])}</div></td><td>{_e(r["canonical_site"] or "—")}</td>'
        f'<td>{_e(", ".join(r["sites"]))}</td><td>{_e(", ".join(r["methods"]))}</td></tr>' for r in rows)
    return ('<table><thead><tr><th class="num">copies</th><th>canonical story</th><th>first seen on</th>'
            f'<th>copied on</th><th>matched by</th></tr></thead><tbody>{body}</tbody></table>')


def _polling(row: dict[str, Any]) -> str:
    hints = [f"{label} {duration(row[column])}" for label, column in
             (("ttl", "ttl_s"), ("update period", "update_period_s"), ("max-age", "cache_max_age_s"),
              ("retry-after", "retry_after_s")) if row.get(column)]
    interval = duration(row.get("interval_s"))
    nxt = f'<div class="muted">next {when(row["next_poll_at"])}</div>' if row.get("next_poll_at") else ""
    hint = f'<div class="muted">{_e(" · ".join(hints))}</div>' if hints else ""
    return f"{interval}{nxt}{hint}"


def _feeds_table(rows: Sequence[dict[str, Any]]) -> str:
    body = []
    for r in rows:
        errors = r["consecutive_errors"] or 0
        name = f'<div>{_e(r["feed_name"])}</div>' if r.get("feed_name") else ""
        body.append(
            f'<tr class="{"bad" if errors else ""}"><td>{name}<div class="muted">{_e(r["feed_url"])}</div></td>'
            f'<td>{_e(r["last_status"] or "—")}</td><td class="time">{when(r["last_success_at"])}</td>'
            f'<td class="num">{number(errors)}</td><td class="time">{_polling(r)}</td>'
            f'<td class="time">{when(r["polled_at"])}</td></tr>')
    return ('<table><thead><tr><th>feed</th><th>last status</th><th>last success</th>'
            '<th class="num">errors in a row</th><th>polling interval</th><th>last polled</th></tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


def _sections(data: ReportData) -> str:
    s = data.summary
    parts = []
    parts.append('<section id="per-day"><h2>Records per day</h2>')
    if not s["articles"]:
        parts.append(_note("No articles yet: articles/v1 is absent or empty."))
    parts.append('<div class="row">'
                 + _chart("chart-day-topic", "Articles per <b>ingestion</b> day (the <code>dt</code> partition, "
                          "UTC), stacked by primary IPTC topic. Publication dates are under Freshness.")
                 + _chart("chart-day-region", "The same articles stacked by primary region: the UN M49 "
                          "sub-region of the country the story is most about.")
                 + "</div></section>")

    parts.append('<section id="regions"><h2>Regions (UN M49)</h2>')
    if data.m49:
        parts.append(_m49_table(data.m49))
    else:
        parts.append(_note("No articles yet, so no regions."))
    parts.append(_note("<b>primary</b>: articles whose main region is this sub-region (each article once). "
                       "<b>tagged</b>: articles about any country in it (an article may count in several). "
                       f"{_e(NO_REGION)}: no country recognised."))
    parts.append("</section>")

    parts.append('<section id="sources"><h2>Top sources</h2>')
    if not data.sources:
        parts.append(_note("Nothing ingested or rejected yet."))
    parts.append(_chart("chart-sources", "The sites with the most stories (articles + duplicates), with the "
                        "items skipped or failed there. Articles are each story's first arrival; a duplicate "
                        "is a later copy of a story already stored.") + "</section>")

    parts.append(f'<section id="duplicates"><h2>Duplicates</h2><p class="lead">Duplicate rate '
                 f'<b>{percent(s["duplicate_rate"])}</b>: {number(s["duplicates"])} duplicates / '
                 f'({number(s["articles"])} articles + {number(s["duplicates"])} duplicates).</p>')
    if not s["duplicates"]:
        parts.append(_note("No duplicates yet: duplicates/v1 is absent or empty."))
    parts.append('<div class="row">' + _chart("chart-dup-methods", "How each duplicate was recognised: the same "
                                              "URL, canonical URL, GUID or body text, or most sentences "
                                              "contained in an earlier story.") + "</div>"
                 + "<h3>Largest duplicate clusters</h3>"
                 + (_clusters_table(data.clusters) if data.clusters else _note("No clusters yet."))
                 + "</section>")

    rejected = s["skips"] + s["dead_letters"]
    parts.append(f'<section id="rejections"><h2>Skips and dead letters</h2><p class="lead">'
                 f'{plural(s["skips"], "skip")} (expected, with a named reason) and '
                 f'{plural(s["dead_letters"], "dead letter")} (failures), from deadletters/v1.</p>')
    if not rejected:
        parts.append(_note("Nothing was skipped and nothing failed."))
    parts.append('<div class="row">' + _chart("chart-reasons", "Every item that did not become a record, "
                                              "by the stage that stopped it and the reason.")
                 + _chart("chart-hosts", "The same items by host of their URL (the hosts with the most).")
                 + "</div></section>")

    parts.append('<section id="feeds"><h2>Feed health</h2>')
    if data.feeds:
        parts.append(_feeds_table(data.feeds))
        parts.append(_note("The newest polling state of each feed (_state/feeds/v1), failing feeds first. "
                           "The polling interval adapts to the feed; ttl, update period, max-age and "
                           "retry-after are what the feed and server asked for."))
    else:
        parts.append(_note("No feed state yet: _state/feeds/v1 is absent or empty."))
    parts.append("</section>")

    fresh = data.freshness
    parts.append(f'<section id="freshness"><h2>Freshness</h2><p class="lead">Median delay '
                 f'<b>{hours(fresh["median_h"])}</b>, 90th percentile {hours(fresh["p90_h"])}; '
                 f'{plural(fresh["undated"], "article")} without a publication date.</p>')
    if not s["articles"]:
        parts.append(_note("No articles yet."))
    parts.append('<div class="row">' + _chart("chart-freshness", "Time from publication to ingestion, in "
                                              "bins that grow roughly tenfold; archives and backfills show "
                                              "up on the right.")
                 + _chart("chart-published", "Articles by their own publication date (UTC), as opposed "
                          "to the ingestion day above.") + "</div></section>")

    ext = data.extraction
    parts.append(f'<section id="extraction"><h2>Extraction</h2><p class="lead">Median body '
                 f'<b>{number(ext["median_body_chars"] and int(ext["median_body_chars"]))}</b> characters; '
                 f'<b>{percent(ext["partial_share"])}</b> partial ({number(ext["partial"])} teasers or '
                 f'paywalled excerpts of {number(ext["records"])}).</p>')
    parts.append('<div class="row">' + _chart("chart-body", "Length of the clean article text; partial "
                                              "records are teasers or paywalled excerpts.")
                 + _chart("chart-extraction-sites", "Where partial records come from: sites that only give "
                          "a teaser or an excerpt show orange.") + "</div></section>")
    return "".join(parts)


_STYLE = """
:root { --ink: #1f2933; --muted: #6b7785; --line: #e3e8ee; --bg: #f6f8fa; --accent: #4c78a8; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: var(--ink); background: var(--bg); }
header { background: #1f3a5f; color: #fff; padding: 24px 40px 20px; }
header h1 { margin: 0 0 4px; font-size: 26px; font-weight: 600; }
header .meta { color: #c9d6e6; font-size: 14px; }
header code { color: #fff; }
main { max-width: 1140px; margin: 0 auto; padding: 20px 24px 60px; }
.cards { display: grid; grid-template-columns: repeat(7, 1fr); gap: 12px; margin: 0 0 8px; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
.card .value { font-size: 26px; font-weight: 650; }
.card .label { font-weight: 600; text-transform: uppercase; font-size: 12px; letter-spacing: .04em; }
.card .sub { color: var(--muted); font-size: 12px; }
.card.alert .value { color: #c0392b; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 16px 20px;
          margin-top: 18px; }
h2 { margin: 0 0 10px; font-size: 19px; }
h3 { margin: 0 0 8px; font-size: 15px; }
.row { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
figure { margin: 0; }
figcaption { color: var(--muted); font-size: 13px; max-width: 460px; margin-top: 4px; }
h3 { margin-top: 14px; }
.lead { margin: 0 0 10px; }
.note { color: var(--muted); font-size: 13px; margin: 6px 0; }
table { border-collapse: collapse; width: 100%; font-size: 13.5px; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
thead th { background: var(--bg); font-weight: 600; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.muted { color: var(--muted); font-size: 12px; word-break: break-all; }
tr.bad td { background: #fdecea; }
td.time, td.time .muted { white-space: nowrap; word-break: normal; }
table.m49 { width: auto; min-width: 560px; }
table.m49 tr.group-start td, table.m49 tr.group-start th { border-top: 2px solid var(--line); }
code { font-size: 90%; }
"""

_HOOK = """
(function () {
  var errors = [], warnings = [];
  function put(name, list) { document.documentElement.setAttribute(name, JSON.stringify(list)); }
  window.newsflowError = function (e) { errors.push(String(e && e.message || e)); put('data-errors', errors); };
  window.addEventListener('error', function (e) { window.newsflowError(e.message || e); });
  window.addEventListener('unhandledrejection', function (e) { window.newsflowError(e.reason); });
  var error = console.error, warn = console.warn;
  console.error = function () { window.newsflowError([].join.call(arguments, ' ')); error.apply(console, arguments); };
  console.warn = function () { warnings.push([].join.call(arguments, ' ')); put('data-warnings', warnings);
                               warn.apply(console, arguments); };
})();
"""

_EMBED = """
(function () {
  var specs = JSON.parse(document.getElementById('chart-specs').textContent);
  var ids = Object.keys(specs);
  Promise.all(ids.map(function (id) {
    return vegaEmbed('#' + id, specs[id], {renderer: 'svg', actions: false});
  })).then(function () {
    document.documentElement.setAttribute('data-charts-rendered', String(ids.length));
  }).catch(window.newsflowError);
})();
"""


def _script_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":")).replace("<", "\\u003c")


def render_page(data: ReportData, *, output_root: str, generated_at: datetime) -> str:
    """The whole report page as one HTML string."""
    s = data.summary
    span = (f"{_e(s['first_day'])} → {_e(s['last_day'])}" if s["first_day"] else "no data yet")
    bundle = vega_bundle().replace("</script", "<\\/script")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>newsflow report · {_e(output_root)}</title>
<style>{_STYLE}</style>
<script>{_HOOK}</script>
<script>{bundle}</script>
</head>
<body>
<header><h1>What newsflow ingested</h1>
<div class="meta">Output <code>{_e(output_root)}</code> · ingestion days {span} ·
last run committed {when(s["last_run_at"]) if s["last_run_at"] else "—"} · generated {when(generated_at)}
</div></header>
<main>
{_cards(s)}
<p class="note">An <b>article</b> is a story's first arrival (articles/v1); a <b>duplicate</b> is a later copy
of a stored story (duplicates/v1); a <b>skip</b> is an item left out for a named reason and a
<b>dead letter</b> an item that failed (both in deadletters/v1).</p>
{_sections(data)}
</main>
<script type="application/json" id="chart-specs">{_script_json(chart_specs(data))}</script>
<script>{_EMBED}</script>
</body>
</html>
"""
