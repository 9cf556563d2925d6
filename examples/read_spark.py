"""Read a newsflow output root with PySpark: counts by topic and region, and the latest titles.

    spark-submit examples/read_spark.py gs://bucket/prefix     (or a local folder)

Spark discovers the dt/topic/region folders as partition columns and ignores ``_``/``.``-prefixed
files and folders. On Dataproc the gs:// connector is built in; elsewhere add the GCS connector jar.
"""

from __future__ import annotations

import sys

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

LATEST = 5


def main(root: str) -> None:
    spark = SparkSession.builder.appName("newsflow-read").config("spark.sql.session.timeZone", "UTC").getOrCreate()
    path = root.rstrip("/") + "/articles/v1"
    articles = spark.read.option("basePath", path).parquet(path).select(
        "id", "title", "published_at", F.col("topic").cast("string"), F.col("region").cast("string"))
    articles.cache()
    print(f"articles: {articles.count()}")
    for key in ("topic", "region"):
        print(f"by {key}:")
        for row in articles.groupBy(key).count().orderBy(F.desc("count"), F.asc(key)).collect():
            print(f"  {row[key]}: {row['count']}")
    print("latest:")
    latest = articles.orderBy(F.desc_nulls_last("published_at"), F.asc("id")).limit(LATEST).collect()
    for row in latest:
        published = row["published_at"].strftime("%Y-%m-%d %H:%M") if row["published_at"] else "-"
        print(f"  {published} | {row['title'] or ''}")
    spark.stop()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: read_spark.py OUTPUT_ROOT")
    main(sys.argv[1])
