"""The figures of the ingest report: DuckDB over a newsflow output root, as plain rows.

``open_output(root)`` gives an in-memory DuckDB connection with one view per dataset (``articles``,
``duplicates``, ``deadletters``, each with a ``day`` column = the ``dt`` partition folder, the UTC
ingestion date), ``feed_states`` (the newest state row per feed) and ``runs`` (the committed runs of
``_manifests``). An absent dataset is an empty view with its v1 schema, so every query works on any
output. A ``gs://`` root is first copied to a local folder through Beam's ``FileSystems``. Every
aggregate is a pure function of the connection returning plain rows, so tests check them directly and
the page only draws them.
"""

from __future__ import annotations

import json
import math
import posixpath
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from newsflow.schemas.records import ARTICLES, DEADLETTERS, DUPLICATES, TIMESTAMP, Dataset
from newsflow.transforms.write.write_dataset import MANIFESTS_DIR, SUCCESS_MARKER

FEED_STATE_DIR = "_state/feeds/v1"
UNTAGGED_TOPIC_LABEL = "(no topic)"
NO_REGION = "(no region)"

FEED_STATE_COLUMNS: dict[str, pa.DataType] = {
    "feed_url": pa.string(), "last_status": pa.string(), "last_success_at": TIMESTAMP,
    "consecutive_errors": pa.int64(), "entries_seen": pa.int64(), "ttl_s": pa.int64(),
    "update_period_s": pa.int64(), "cache_max_age_s": pa.int64(), "retry_after_s": pa.int64(),
    "polled_at": TIMESTAMP, "interval_s": pa.float64(), "next_poll_at": TIMESTAMP,
}
"""The feed-state columns the report reads; any the writer lacks are read as nulls."""

FRESHNESS_BINS_H: tuple[tuple[str, float, float], ...] = (
    ("< 1 h", -math.inf, 1), ("1–3 h", 1, 3), ("3–6 h", 3, 6), ("6–12 h", 6, 12), ("12–24 h", 12, 24),
    ("1–2 d", 24, 48), ("2–7 d", 48, 168), ("7–30 d", 168, 720), ("30–365 d", 720, 8760),
    ("> 1 y", 8760, math.inf),
)
"""Bins of ingested_at − published_at, roughly logarithmic (a lag below zero counts as < 1 h)."""

BODY_BINS: tuple[tuple[str, float, float], ...] = (
    ("< 250", 0, 250), ("250–500", 250, 500), ("500–1k", 500, 1000), ("1k–2k", 1000, 2000),
    ("2k–4k", 2000, 4000), ("4k–8k", 4000, 8000), ("8k–16k", 8000, 16000), ("≥ 16k", 16000, math.inf),
)
"""Bins of body length in characters, doubling."""


def _is_remote(root: str) -> bool:
    return "://" in root


def _remote_files(root: str, relative_dir: str, suffixes: tuple[str, ...]) -> list[str]:
    # A folder is only a name prefix on object stores (exists() is False there): match, don't test.
    pattern = posixpath.join(root.rstrip("/"), relative_dir, "**")
    return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list if m.path.endswith(suffixes))


def local_copy(root: str, destination: str) -> str:
    """Copy what the report reads from a remote root (e.g. ``gs://``) under ``destination``."""
    wanted = [(d, (".parquet",)) for d in (ARTICLES.path, DUPLICATES.path, DEADLETTERS.path, FEED_STATE_DIR)]
    for relative_dir, suffixes in [*wanted, (MANIFESTS_DIR, ("/manifest.json", "/" + SUCCESS_MARKER))]:
        for path in _remote_files(root, relative_dir, suffixes):
            relative = path[len(root.rstrip("/")) + 1:]
            target = Path(destination, *relative.split("/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            with FileSystems.open(path) as source:
                target.write_bytes(source.read())
    return destination


def parquet_files(root: str, relative_dir: str) -> tuple[str, ...]:
    directory = Path(root, *relative_dir.split("/"))
    return tuple(sorted(str(p) for p in directory.rglob("*.parquet"))) if directory.is_dir() else ()


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _register_dataset(con: duckdb.DuckDBPyConnection, name: str, dataset: Dataset, files: Sequence[str]) -> None:
    # The day comes from the dt=... folder of each file, not DuckDB's hive reader: runs with different
    # --partition_by leave folders with different keys side by side, which that reader refuses.
    if files:
        listed = ", ".join(_sql_string(f) for f in files)
        con.execute(f"CREATE VIEW {name}_raw AS SELECT * FROM read_parquet([{listed}], hive_partitioning=false, "
                    "filename=true, union_by_name=true)")
    else:
        empty = dataset.arrow_schema().empty_table().append_column("filename", pa.array([], pa.string()))
        con.register(f"{name}_raw", empty)
    time_column = '"at"' if dataset is DEADLETTERS else "ingested_at"  # AT is an SQL keyword
    con.execute(f"CREATE VIEW {name} AS SELECT * EXCLUDE (filename), coalesce(nullif(regexp_extract("
                f"filename, '/dt=([^/]+)/', 1), ''), strftime({time_column}, '%Y-%m-%d')) AS day FROM {name}_raw")


def _feed_state_table(files: Sequence[str]) -> pa.Table:
    tables = [pq.read_table(f) for f in files]
    table = (pa.concat_tables(tables, promote_options="permissive") if tables
             else pa.schema([pa.field("feed_url", pa.string())]).empty_table())
    for column, type_ in FEED_STATE_COLUMNS.items():
        if column not in table.column_names:
            table = table.append_column(column, pa.nulls(len(table), type_))
        elif table.schema.field(column).type != type_:
            table = table.set_column(table.column_names.index(column), column,
                                     table.column(column).cast(type_, safe=False))
    return table.select(list(FEED_STATE_COLUMNS))


def _committed_runs(root: str) -> pa.Table:
    """Run id and commit time of every run whose manifest is marked ``_SUCCESS``."""
    runs: list[dict[str, Any]] = []
    for manifest in sorted(Path(root, MANIFESTS_DIR).glob("*/manifest.json")):
        if (manifest.parent / SUCCESS_MARKER).exists():
            content = json.loads(manifest.read_text(encoding="utf-8"))
            runs.append({"run_id": content["run_id"],
                         "committed_at": datetime.fromisoformat(content["committed_at"])})
    return pa.Table.from_pylist(runs, schema=pa.schema([("run_id", pa.string()), ("committed_at", TIMESTAMP)]))


def open_output(root: str, workdir: str | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection over the output at ``root`` (remote roots are copied into ``workdir``)."""
    if _is_remote(root):
        root = local_copy(root, workdir or tempfile.mkdtemp(prefix="newsflow-report-"))
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET autoinstall_known_extensions = false")
    for name, dataset in (("articles", ARTICLES), ("duplicates", DUPLICATES), ("deadletters", DEADLETTERS)):
        _register_dataset(con, name, dataset, parquet_files(root, dataset.path))
    con.register("runs", _committed_runs(root))
    con.register("feed_states_all", _feed_state_table(parquet_files(root, FEED_STATE_DIR)))
    con.execute("CREATE VIEW feed_states AS SELECT * FROM feed_states_all "
                "QUALIFY row_number() OVER (PARTITION BY feed_url ORDER BY polled_at DESC NULLS LAST) = 1")
    return con


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    cursor = con.execute(sql, list(params))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> Any:
    row = con.execute(sql).fetchone()
    return row[0] if row else None


def summary(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """The run summary at the top of the page."""
    articles = _one(con, "SELECT count(*) FROM articles")
    duplicates = _one(con, "SELECT count(*) FROM duplicates")
    days = con.execute("SELECT min(day), max(day) FROM (SELECT day FROM articles UNION ALL "
                       "SELECT day FROM duplicates UNION ALL SELECT day FROM deadletters)").fetchone()
    return {
        "articles": articles,
        "duplicates": duplicates,
        "skips": _one(con, "SELECT count(*) FROM deadletters WHERE kind = 'skip'"),
        "dead_letters": _one(con, "SELECT count(*) FROM deadletters WHERE kind = 'error'"),
        "feeds": _one(con, "SELECT count(DISTINCT feed_url) FROM (SELECT feed_url FROM feed_states UNION ALL "
                           "SELECT feed_url FROM articles UNION ALL SELECT feed_url FROM duplicates)"),
        "failing_feeds": _one(con, "SELECT count(*) FROM feed_states WHERE consecutive_errors > 0"),
        "sites": _one(con, "SELECT count(DISTINCT site) FROM articles"),
        "runs": _one(con, "SELECT count(DISTINCT run_id) FROM (SELECT run_id FROM runs UNION ALL SELECT run_id "
                          "FROM articles UNION ALL SELECT run_id FROM duplicates UNION ALL SELECT run_id "
                          "FROM deadletters)"),
        "last_run_at": _one(con, "SELECT max(committed_at) FROM runs"),
        "first_day": days[0] if days else None,
        "last_day": days[1] if days else None,
        "duplicate_rate": duplicate_rate(con),
    }


_TOPIC_LABEL = (f"coalesce(list_filter(topics, lambda t: t.code = primary_topic)[1].label, primary_topic, "
                f"'{UNTAGGED_TOPIC_LABEL}')")


def records_per_day(con: duckdb.DuckDBPyConnection, by: str = "topic") -> list[dict[str, Any]]:
    """Articles per ingestion day (``dt``) and primary topic label or primary M49 sub-region."""
    keys = {"topic": _TOPIC_LABEL, "region": f"coalesce(primary_region, '{NO_REGION}')"}
    if by not in keys:
        raise ValueError(f"by must be one of {sorted(keys)}, not {by!r}")
    return _rows(con, f"SELECT day, {keys[by]} AS {by}, count(*) AS records FROM articles "
                      f"GROUP BY ALL ORDER BY day, records DESC, {by}")


def records_per_publication_day(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Articles per UTC publication date (records without a date are left out)."""
    return _rows(con, "SELECT strftime(published_at, '%Y-%m-%d') AS published_day, count(*) AS records "
                      "FROM articles WHERE published_at IS NOT NULL GROUP BY ALL ORDER BY published_day")


def m49_breakdown(con: duckdb.DuckDBPyConnection, subregion_to_region: dict[str, str]) -> list[dict[str, Any]]:
    """Per M49 sub-region: articles whose primary region it is, and articles tagged with it at all."""
    con.execute("CREATE OR REPLACE TEMP TABLE m49 (subregion VARCHAR, region VARCHAR)")
    if subregion_to_region:
        con.executemany("INSERT INTO m49 VALUES (?, ?)", sorted(subregion_to_region.items()))
    return _rows(con, f"""
        WITH primary_counts AS (
            SELECT coalesce(primary_region, '{NO_REGION}') AS subregion, count(*) AS n FROM articles GROUP BY 1),
        tagged_counts AS (
            SELECT subregion, count(DISTINCT id) AS n FROM (SELECT id, unnest(subregions) AS subregion
            FROM articles) GROUP BY 1),
        names AS (SELECT subregion FROM primary_counts UNION SELECT subregion FROM tagged_counts)
        SELECT coalesce(m49.region, CASE WHEN names.subregion = '{NO_REGION}' THEN '{NO_REGION}'
                                         ELSE '(unknown)' END) AS region,
               names.subregion AS subregion,
               coalesce(p.n, 0) AS primary_records, coalesce(t.n, 0) AS tagged_records
        FROM names LEFT JOIN m49 USING (subregion)
        LEFT JOIN primary_counts p USING (subregion) LEFT JOIN tagged_counts t USING (subregion)
        ORDER BY region = '{NO_REGION}', sum(coalesce(p.n, 0)) OVER (PARTITION BY region) DESC, region,
                 primary_records DESC, tagged_records DESC, subregion""")


def top_sources(con: duckdb.DuckDBPyConnection, limit: int = 15) -> list[dict[str, Any]]:
    """Sites by items seen: articles, duplicates, skips and dead letters (deadletters by host)."""
    return _rows(con, """
        SELECT site, count(*) FILTER (WHERE outcome = 'article') AS articles,
               count(*) FILTER (WHERE outcome = 'duplicate') AS duplicates,
               count(*) FILTER (WHERE outcome = 'skip') AS skips,
               count(*) FILTER (WHERE outcome = 'error') AS dead_letters
        FROM (SELECT site, 'article' AS outcome FROM articles
              UNION ALL SELECT site, 'duplicate' FROM duplicates
              UNION ALL SELECT host, kind FROM deadletters)
        GROUP BY site ORDER BY articles + duplicates DESC, articles DESC, count(*) DESC, site LIMIT ?""",
                 [limit])


def duplicate_rate(con: duckdb.DuckDBPyConnection) -> float | None:
    """duplicates / (articles + duplicates), or None before anything was ingested."""
    articles = _one(con, "SELECT count(*) FROM articles")
    duplicates = _one(con, "SELECT count(*) FROM duplicates")
    return duplicates / (articles + duplicates) if articles + duplicates else None


def duplicates_by_method(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    return _rows(con, "SELECT method, count(*) AS duplicates FROM duplicates GROUP BY 1 ORDER BY 2 DESC, 1")


def duplicate_clusters(con: duckdb.DuckDBPyConnection, limit: int = 10) -> list[dict[str, Any]]:
    """The stories copied most: canonical record (title, site) and the sites of its copies."""
    return _rows(con, """
        WITH canonical AS (SELECT id, any_value(title) AS title, any_value(site) AS site
                           FROM articles GROUP BY id)
        SELECT d.duplicate_of AS canonical_id, c.title, c.site AS canonical_site, count(*) AS copies,
               list(DISTINCT d.site ORDER BY d.site) AS sites,
               list(DISTINCT d.method ORDER BY d.method) AS methods
        FROM duplicates d LEFT JOIN canonical c ON c.id = d.duplicate_of
        GROUP BY d.duplicate_of, c.title, c.site ORDER BY copies DESC, canonical_id LIMIT ?""", [limit])


def rejections_by_reason(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Skips and dead letters per kind, stage and reason."""
    return _rows(con, "SELECT kind, stage, reason, count(*) AS items FROM deadletters "
                      "GROUP BY ALL ORDER BY items DESC, kind, stage, reason")


def rejections_by_host(con: duckdb.DuckDBPyConnection, limit: int = 15) -> list[dict[str, Any]]:
    """Skips and dead letters per host, for the hosts with the most."""
    return _rows(con, """
        SELECT host, count(*) FILTER (WHERE kind = 'skip') AS skips,
               count(*) FILTER (WHERE kind = 'error') AS dead_letters
        FROM deadletters GROUP BY host ORDER BY count(*) DESC, host LIMIT ?""", [limit])


def feed_health(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """The newest state of each feed, worst first, with the feed's name from its records."""
    return _rows(con, """
        WITH names AS (SELECT feed_url, any_value(feed_name) AS feed_name FROM
                       (SELECT feed_url, feed_name FROM articles UNION ALL SELECT feed_url, feed_name
                        FROM duplicates) WHERE feed_name IS NOT NULL GROUP BY feed_url)
        SELECT s.feed_url, n.feed_name, s.last_status, s.last_success_at, s.consecutive_errors,
               s.entries_seen, s.polled_at, s.interval_s, s.next_poll_at, s.ttl_s, s.update_period_s,
               s.cache_max_age_s, s.retry_after_s
        FROM feed_states s LEFT JOIN names n USING (feed_url)
        ORDER BY coalesce(s.consecutive_errors, 0) DESC, s.last_success_at NULLS FIRST, s.feed_url""")


def _binned(con: duckdb.DuckDBPyConnection, value_sql: str, where: str, bins: Sequence[tuple[str, float, float]],
            group_sql: str = "''", groups: Sequence[str] = ("",)) -> list[dict[str, Any]]:
    """Counts of articles per (bin, group), every pair listed, zeros included."""
    con.execute("CREATE OR REPLACE TEMP TABLE bins (bin VARCHAR, bin_order INTEGER, lower DOUBLE, upper DOUBLE)")
    con.executemany("INSERT INTO bins VALUES (?, ?, ?, ?)",
                    [(label, i, lower, upper) for i, (label, lower, upper) in enumerate(bins)])
    con.execute("CREATE OR REPLACE TEMP TABLE bin_groups (grp VARCHAR)")
    con.executemany("INSERT INTO bin_groups VALUES (?)", [(g,) for g in groups])
    return _rows(con, f"""
        WITH v AS (SELECT {value_sql} AS value, {group_sql} AS grp FROM articles WHERE {where})
        SELECT bins.bin, bins.bin_order, g.grp AS "group", count(v.value) AS records
        FROM bins CROSS JOIN bin_groups g
        LEFT JOIN v ON v.grp = g.grp AND v.value >= bins.lower AND v.value < bins.upper
        GROUP BY ALL ORDER BY bins.bin_order, "group" """)


def freshness(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Histogram of ingested_at − published_at in hours, with the median and how many lack a date."""
    lag = "epoch(ingested_at - published_at) / 3600.0"
    bins = [{k: v for k, v in row.items() if k != "group"}
            for row in _binned(con, lag, "published_at IS NOT NULL", FRESHNESS_BINS_H)]
    stats = con.execute(f"SELECT median({lag}), quantile_cont({lag}, 0.9), count(*) FILTER "
                        "(WHERE published_at IS NULL) FROM articles").fetchone()
    return {"bins": bins, "median_h": stats[0] if stats else None, "p90_h": stats[1] if stats else None,
            "undated": stats[2] if stats else 0}


def body_lengths(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Histogram of body length in characters, split into full and partial (teaser/paywalled) records."""
    return [{"bin": r["bin"], "bin_order": r["bin_order"], "extraction": r["group"], "records": r["records"]}
            for r in _binned(con, "length(body)", "true", BODY_BINS,
                             "CASE WHEN partial THEN 'partial' ELSE 'full' END", ("full", "partial"))]


def extraction_summary(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    row = con.execute("SELECT count(*), count(*) FILTER (WHERE partial), median(length(body)) "
                      "FROM articles").fetchone()
    records, partial, median = row if row else (0, 0, None)
    return {"records": records, "partial": partial, "partial_share": partial / records if records else None,
            "median_body_chars": median}


def extraction_by_site(con: duckdb.DuckDBPyConnection, limit: int = 15) -> list[dict[str, Any]]:
    """Full and partial records per site, the sites with the most partial records first."""
    return _rows(con, """
        SELECT site, count(*) FILTER (WHERE NOT partial) AS full, count(*) FILTER (WHERE partial) AS partial
        FROM articles GROUP BY site ORDER BY partial DESC, count(*) DESC, site LIMIT ?""", [limit])


def subregion_regions() -> dict[str, str]:
    """M49 sub-region → region, from the package's M49 table."""
    from newsflow.transforms.tag.gazetteer import m49_table

    return {subregion: region for _, subregion, region in m49_table().values()}


@dataclass(frozen=True)
class ReportData:
    """Every figure the page shows, computed once."""

    summary: dict[str, Any]
    per_day_topic: list[dict[str, Any]]
    per_day_region: list[dict[str, Any]]
    per_publication_day: list[dict[str, Any]]
    m49: list[dict[str, Any]]
    sources: list[dict[str, Any]]
    duplicate_methods: list[dict[str, Any]]
    clusters: list[dict[str, Any]]
    rejection_reasons: list[dict[str, Any]]
    rejection_hosts: list[dict[str, Any]]
    feeds: list[dict[str, Any]]
    freshness: dict[str, Any]
    body_lengths: list[dict[str, Any]]
    extraction: dict[str, Any]
    extraction_sites: list[dict[str, Any]]


def collect(con: duckdb.DuckDBPyConnection) -> ReportData:
    return ReportData(
        summary=summary(con), per_day_topic=records_per_day(con, "topic"),
        per_day_region=records_per_day(con, "region"), per_publication_day=records_per_publication_day(con),
        m49=m49_breakdown(con, subregion_regions()), sources=top_sources(con),
        duplicate_methods=duplicates_by_method(con), clusters=duplicate_clusters(con),
        rejection_reasons=rejections_by_reason(con), rejection_hosts=rejections_by_host(con),
        feeds=feed_health(con), freshness=freshness(con), body_lengths=body_lengths(con),
        extraction=extraction_summary(con), extraction_sites=extraction_by_site(con))
