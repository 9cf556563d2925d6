"""Read a newsflow output root with pandas: counts by topic and region, and the latest titles.

    python examples/read_pandas.py ./newsflow-demo         (or gs://bucket/prefix with gcsfs installed)

pandas reads the hive folders through pyarrow (partition columns arrive as categoricals) and skips
``_``/``.``-prefixed files and folders.
"""

from __future__ import annotations

import sys

import pandas as pd

LATEST = 5


def main(root: str) -> None:
    frame = pd.read_parquet(root.rstrip("/") + "/articles/v1", engine="pyarrow",
                            columns=["id", "title", "published_at", "topic", "region"])
    print(f"articles: {len(frame)}")
    for key in ("topic", "region"):
        print(f"by {key}:")
        counts = frame[key].astype(str).value_counts().rename_axis(key).reset_index(name="n")
        for value, n in counts.sort_values(["n", key], ascending=[False, True]).itertuples(index=False):
            print(f"  {value}: {n}")
    print("latest:")
    latest = frame.sort_values(["published_at", "id"], ascending=[False, True], na_position="last").head(LATEST)
    for published, title in zip(latest["published_at"], latest["title"], strict=True):
        when = published.strftime("%Y-%m-%d %H:%M") if pd.notna(published) else "-"
        print(f"  {when} | {title if isinstance(title, str) else ''}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: read_pandas.py OUTPUT_ROOT")
    main(sys.argv[1])
