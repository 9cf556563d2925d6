#!/usr/bin/env bash
# Load one day of a newsflow output root into native, date-partitioned BigQuery tables.
#
#   PROJECT=my-project DATASET=news BUCKET=my-bucket PREFIX=newsflow DAY=2024-07-29 \
#     bash schemas/bigquery/load_job.sh
#
# Load a day only once it is complete (schemas/README.md, "When a partition is complete"). Each load
# replaces that day's partition of the table ($YYYYMMDD decorator + WRITE_TRUNCATE), so re-running a
# day is idempotent. The hive partition columns (dt, topic, region) are taken from the folder names;
# the schema comes from the Parquet files (schemas/generated/*.bigquery.json has the same schema with
# field descriptions, for `bq update --schema` if wanted).
set -euo pipefail

: "${PROJECT:?set PROJECT}" "${DATASET:?set DATASET}" "${BUCKET:?set BUCKET}" "${DAY:?set DAY (YYYY-MM-DD)}"
PREFIX="${PREFIX:-}"
ROOT="gs://${BUCKET}${PREFIX:+/${PREFIX}}"
PARTITION="${DAY//-/}"

bq --project_id="${PROJECT}" mk --dataset --force "${PROJECT}:${DATASET}" >/dev/null

load() {  # load TABLE DATASET_PATH PARTITION_KEYS
  local table="$1" path="$2" keys="$3"
  bq --project_id="${PROJECT}" load \
    --source_format=PARQUET \
    --parquet_enable_list_inference=true \
    --hive_partitioning_mode=CUSTOM \
    --hive_partitioning_source_uri_prefix="${ROOT}/${path}/${keys}" \
    --time_partitioning_type=DAY \
    --time_partitioning_field=dt \
    --replace \
    "${PROJECT}:${DATASET}.${table}\$${PARTITION}" \
    "${ROOT}/${path}/dt=${DAY}/*"
}

load articles_v1 articles/v1 "{dt:DATE}/{topic:STRING}/{region:STRING}"
load duplicates_v1 duplicates/v1 "{dt:DATE}"
load deadletters_v1 deadletters/v1 "{dt:DATE}"
