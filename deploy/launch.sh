#!/usr/bin/env bash
# Launch, update or drain newsflow jobs from the Flex Template that deploy/build.sh wrote.
#
#   bash deploy/launch.sh batch            one once-mode run (a batch job; schedule it for periodic runs)
#   bash deploy/launch.sh stream           start the streaming job (Streaming Engine, autoscaling)
#   bash deploy/launch.sh update           replace the running streaming job in place (new TAG, same name)
#   bash deploy/launch.sh drain            drain the streaming job: stop polling, flush windows, stop
#
# Driven by PROJECT, REGION, BUCKET, REPOSITORY, TAG (as for build.sh) and optionally:
#   OUTPUT (gs://BUCKET/newsflow), CONFIG (/template/config/feeds.yaml), JOB_NAME (newsflow-stream),
#   SERVICE_ACCOUNT (newsflow-runner@PROJECT.iam.gserviceaccount.com), MAX_WORKERS (batch 10, stream 5),
#   WORKER_MACHINE_TYPE (n2-standard-2), EXTRA_PARAMETERS (comma-separated name=value pairs).
set -euo pipefail
: "${PROJECT:?set PROJECT}" "${REGION:?set REGION}" "${BUCKET:?set BUCKET}"
: "${REPOSITORY:?set REPOSITORY}" "${TAG:?set TAG}"
command="${1:?usage: launch.sh batch|stream|update|drain}"

IMAGE="${REGION}-docker.pkg.dev/${PROJECT}/${REPOSITORY}/newsflow:${TAG}"
TEMPLATE="gs://${BUCKET}/templates/newsflow-${TAG}.json"
OUTPUT="${OUTPUT:-gs://${BUCKET}/newsflow}"
CONFIG="${CONFIG:-/template/config/feeds.yaml}"
JOB_NAME="${JOB_NAME:-newsflow-stream}"
SERVICE_ACCOUNT="${SERVICE_ACCOUNT:-newsflow-runner@${PROJECT}.iam.gserviceaccount.com}"
WORKER_MACHINE_TYPE="${WORKER_MACHINE_TYPE:-n2-standard-2}"
PARAMETERS="config=${CONFIG},output=${OUTPUT},sdk_container_image=${IMAGE}${EXTRA_PARAMETERS:+,${EXTRA_PARAMETERS}}"

run_template() {  # run_template JOB_NAME MODE [gcloud flags...]
  local name="$1" mode="$2"
  shift 2
  gcloud dataflow flex-template run "${name}" \
    --project "${PROJECT}" --region "${REGION}" \
    --template-file-gcs-location "${TEMPLATE}" \
    --service-account-email "${SERVICE_ACCOUNT}" \
    --staging-location "gs://${BUCKET}/staging" --temp-location "gs://${BUCKET}/tmp" \
    --worker-machine-type "${WORKER_MACHINE_TYPE}" \
    --parameters "mode=${mode},${PARAMETERS}" \
    "$@"
}

streaming_job_id() {
  gcloud dataflow jobs list --project "${PROJECT}" --region "${REGION}" --status active \
    --filter "name=${JOB_NAME}" --format "value(id)" | head -n 1
}

case "${command}" in
  batch)
    run_template "newsflow-once-$(date -u +%Y%m%d-%H%M%S)" once --max-workers "${MAX_WORKERS:-10}"
    ;;
  stream)
    run_template "${JOB_NAME}" stream --enable-streaming-engine --max-workers "${MAX_WORKERS:-5}"
    ;;
  update)
    # Same job name and transform names: Dataflow checks compatibility and keeps the state
    # (dedup keys, feed schedules). A renamed step needs --transform-name-mappings old=new.
    run_template "${JOB_NAME}" stream --enable-streaming-engine --max-workers "${MAX_WORKERS:-5}" --update
    ;;
  drain)
    job_id="$(streaming_job_id)"
    [[ -n "${job_id}" ]] || { echo "launch.sh: no active job named ${JOB_NAME}" >&2; exit 1; }
    gcloud dataflow jobs drain "${job_id}" --project "${PROJECT}" --region "${REGION}"
    ;;
  *)
    echo "usage: launch.sh batch|stream|update|drain" >&2
    exit 2
    ;;
esac
