"""Read a newsflow output root with pyarrow.dataset: counts by topic and region, and the latest titles.

    python examples/read_pyarrow.py ./newsflow-demo        (or gs://bucket/prefix)

``partitioning="hive"`` turns the dt/topic/region folders into columns; pyarrow skips files and
folders starting with ``_`` or ``.`` by default, which is what the contract asks of readers.
"""

from __future__ import annotations

import sys

import pyarrow.compute as pc
import pyarrow.dataset as ds

LATEST = 5


def main(root: str) -> None:
    articles = ds.dataset(root.rstrip("/") + "/articles/v1", format="parquet", partitioning="hive")
    table = articles.to_table(columns=["id", "title", "published_at", "topic", "region"])
    print(f"articles: {table.num_rows}")
    for key in ("topic", "region"):
        print(f"by {key}:")
        counts = table.group_by(key).aggregate([([], "count_all")]).to_pylist()
        for row in sorted(counts, key=lambda r: (-r["count_all"], r[key])):
            print(f"  {row[key]}: {row['count_all']}")
    print("latest:")
    order = pc.sort_indices(table, sort_keys=[("published_at", "descending"), ("id", "ascending")],
                            null_placement="at_end")
    for row in table.take(order[:LATEST]).to_pylist():
        published = row["published_at"].strftime("%Y-%m-%d %H:%M") if row["published_at"] else "-"
        print(f"  {published} | {row['title'] or ''}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: read_pyarrow.py OUTPUT_ROOT")
    main(sys.argv[1])
