-- BigQuery external tables over a newsflow output root on Cloud Storage (hive-partitioned Parquet).
--
-- Replace PROJECT.DATASET with your BigQuery dataset and gs://BUCKET/PREFIX with the --output root
-- (deploy/README.md shows a sed one-liner). The Parquet files carry the schema, so no column list is
-- given; the partition columns come from the folder names. Folders starting with "_" or "." (staging,
-- manifests, state) are outside <dataset>/v1/ and never matched by these URIs.
--
-- require_hive_partition_filter = false so ad-hoc queries work; set it to true on large roots to make
-- every query name a dt range (and pay for that range only).

CREATE OR REPLACE EXTERNAL TABLE `PROJECT.DATASET.articles_v1`
WITH PARTITION COLUMNS (
  dt DATE,
  topic STRING,
  region STRING
)
OPTIONS (
  format = 'PARQUET',
  uris = ['gs://BUCKET/PREFIX/articles/v1/*'],
  hive_partition_uri_prefix = 'gs://BUCKET/PREFIX/articles/v1',
  require_hive_partition_filter = false,
  description = 'newsflow articles v1: canonical article records, each story once (schemas/README.md)'
);

CREATE OR REPLACE EXTERNAL TABLE `PROJECT.DATASET.duplicates_v1`
WITH PARTITION COLUMNS (
  dt DATE
)
OPTIONS (
  format = 'PARQUET',
  uris = ['gs://BUCKET/PREFIX/duplicates/v1/*'],
  hive_partition_uri_prefix = 'gs://BUCKET/PREFIX/duplicates/v1',
  require_hive_partition_filter = false,
  description = 'newsflow duplicates v1: later copies of stories in articles_v1, with duplicate_of'
);

CREATE OR REPLACE EXTERNAL TABLE `PROJECT.DATASET.deadletters_v1`
WITH PARTITION COLUMNS (
  dt DATE
)
OPTIONS (
  format = 'PARQUET',
  uris = ['gs://BUCKET/PREFIX/deadletters/v1/*'],
  hive_partition_uri_prefix = 'gs://BUCKET/PREFIX/deadletters/v1',
  require_hive_partition_filter = false,
  description = 'newsflow deadletters v1: skipped and failed items with stage and reason'
);

-- Stories with their number of copies (canonical records are immutable; see schemas/README.md).
CREATE OR REPLACE VIEW `PROJECT.DATASET.articles_with_dup_count_v1` AS
SELECT a.*, COALESCE(c.dup_count, 0) AS dup_count, COALESCE(c.other_sites, 0) AS other_sites
FROM `PROJECT.DATASET.articles_v1` AS a
LEFT JOIN (
  SELECT duplicate_of, COUNT(*) AS dup_count, COUNT(DISTINCT site) AS other_sites
  FROM `PROJECT.DATASET.duplicates_v1`
  GROUP BY duplicate_of
) AS c ON c.duplicate_of = a.id;
