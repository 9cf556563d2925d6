#!/usr/bin/env bash
# Build and push the newsflow image, then write the Flex Template spec to Cloud Storage.
#
#   PROJECT=my-project REGION=us-central1 BUCKET=my-bucket REPOSITORY=newsflow TAG=v0.1.0 \
#   CONFIG_FILE=feeds.yaml bash deploy/build.sh
#
# BUILDER=cloudbuild (default) builds with `gcloud builds submit`; BUILDER=docker builds locally and
# pushes (needs `gcloud auth configure-docker ${REGION}-docker.pkg.dev`); BUILDER=context only writes
# the build context to CONTEXT_DIR (to inspect it, or to build elsewhere). CONFIG_FILE (optional) is
# copied into the image as /template/config/feeds.yaml, the default --config of launch.sh.
set -euo pipefail
: "${PROJECT:?set PROJECT}" "${REGION:?set REGION}" "${BUCKET:?set BUCKET}"
: "${REPOSITORY:?set REPOSITORY}" "${TAG:?set TAG}"
BUILDER="${BUILDER:-cloudbuild}"
IMAGE="${REGION}-docker.pkg.dev/${PROJECT}/${REPOSITORY}/newsflow:${TAG}"
TEMPLATE="gs://${BUCKET}/templates/newsflow-${TAG}.json"
repo="$(cd "$(dirname "$0")/.." && pwd)"

[[ -f "${repo}/README.md" ]] || { echo "build.sh: ${repo}/README.md is missing (pyproject.toml names it)" >&2; exit 1; }

# A clean build context: only what the image needs, never caches, venvs or outputs.
context="$(mktemp -d)"
trap 'rm -rf "${context}"' EXIT
cp "${repo}/pyproject.toml" "${repo}/README.md" "${context}/"
cp -r "${repo}/pipelines" "${repo}/transforms" "${repo}/schemas" "${context}/"
mkdir -p "${context}/deploy/config"
cp "${repo}/deploy/Dockerfile" "${repo}/deploy/requirements.lock" "${repo}/deploy/main.py" "${context}/deploy/"
if [[ -n "${CONFIG_FILE:-}" ]]; then
  cp "${CONFIG_FILE}" "${context}/deploy/config/feeds.yaml"
fi
find "${context}" \( -name __pycache__ -o -name '*.pyc' \) -prune -exec rm -rf {} +

case "${BUILDER}" in
  cloudbuild)
    cat >"${context}/cloudbuild.yaml" <<YAML
steps:
  - name: gcr.io/cloud-builders/docker
    env: [DOCKER_BUILDKIT=1]
    args: [build, --file, deploy/Dockerfile, --tag, "${IMAGE}", .]
images: ["${IMAGE}"]
YAML
    gcloud builds submit "${context}" --project "${PROJECT}" --region "${REGION}" \
      --config "${context}/cloudbuild.yaml"
    ;;
  docker)
    DOCKER_BUILDKIT=1 docker build --file "${context}/deploy/Dockerfile" --tag "${IMAGE}" "${context}"
    docker push "${IMAGE}"
    ;;
  context)
    : "${CONTEXT_DIR:?set CONTEXT_DIR}"
    mkdir -p "${CONTEXT_DIR}"
    cp -r "${context}/." "${CONTEXT_DIR}/"
    echo "context: ${CONTEXT_DIR}"
    exit 0
    ;;
  *) echo "build.sh: BUILDER must be cloudbuild, docker or context" >&2; exit 2 ;;
esac

gcloud dataflow flex-template build "${TEMPLATE}" \
  --project "${PROJECT}" \
  --image "${IMAGE}" \
  --sdk-language PYTHON \
  --metadata-file "${repo}/deploy/metadata.json"

echo "image:    ${IMAGE}"
echo "template: ${TEMPLATE}"
