"""Read a newsflow output root with DuckDB: article counts by topic and region, and the latest titles.

    python examples/read_duckdb.py ./newsflow-demo

Reads ``<root>/articles/v1`` (never the root: ``_``-prefixed folders are staging and state). For a
``gs://`` root DuckDB needs its httpfs extension and an HMAC key (``CREATE SECRET (TYPE gcs, ...)``);
this script instead hands DuckDB a pyarrow dataset on Cloud Storage, which needs no extension.
"""

from __future__ import annotations

import sys

import duckdb

LATEST = 5


def articles_relation(con: duckdb.DuckDBPyConnection, root: str) -> duckdb.DuckDBPyRelation:
    path = root.rstrip("/") + "/articles/v1"
    if "://" in root:
        import pyarrow.dataset as ds

        dataset = ds.dataset(path, format="parquet", partitioning="hive")
        return con.from_arrow(dataset)
    return con.sql(f"SELECT * FROM read_parquet('{path}/**/*.parquet', hive_partitioning = true, "
                   "union_by_name = true)")


def main(root: str) -> None:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    articles = articles_relation(con, root)
    con.register("articles", articles)
    (total,) = con.execute("SELECT count(*) FROM articles").fetchall()[0]
    print(f"articles: {total}")
    for key in ("topic", "region"):
        print(f"by {key}:")
        rows = con.execute(f"SELECT {key}, count(*) AS n FROM articles GROUP BY {key} ORDER BY n DESC, {key}").fetchall()
        for value, n in rows:
            print(f"  {value}: {n}")
    print("latest:")
    latest = con.execute(
        "SELECT coalesce(strftime(published_at, '%Y-%m-%d %H:%M'), '-') AS published, coalesce(title, '') "
        f"FROM articles ORDER BY published_at DESC NULLS LAST, id LIMIT {LATEST}").fetchall()
    for published, title in latest:
        print(f"  {published} | {title}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: read_duckdb.py OUTPUT_ROOT")
    main(sys.argv[1])
