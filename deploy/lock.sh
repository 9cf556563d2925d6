#!/usr/bin/env bash
# Regenerate deploy/requirements.lock: every dependency of newsflow (pyproject.toml, extra "gcp"),
# pinned for Python 3.11 on x86_64 Linux, and constrained to the versions the Beam SDK base image
# already ships, so installing the lock in the image never downgrades (or upgrades) one of them.
#
#   bash deploy/lock.sh                  # with Docker: reads the base image's packages first
#   BASE_FREEZE=freeze.txt bash deploy/lock.sh   # use a saved `pip freeze` of the base image
#   NO_IMAGE=1 bash deploy/lock.sh       # PyPI only (offline from Docker Hub)
#
# Needs uv (pip install uv). Without Docker and BASE_FREEZE the lock is resolved from PyPI alone and
# the header says so; the Docker build's no-downgrade check still guards the image.
set -euo pipefail
cd "$(dirname "$0")/.."

BEAM_VERSION="$(sed -n 's/^ *"apache-beam==\([0-9.]*\)",*$/\1/p' pyproject.toml | head -n 1)"
: "${BEAM_VERSION:?apache-beam==X.Y.Z not found in pyproject.toml}"
BASE_IMAGE="apache/beam_python3.11_sdk:${BEAM_VERSION}"
scratch="$(mktemp -d)"
trap 'rm -rf "${scratch}"' EXIT

constraint_args=()
source_note="none (PyPI only: no Docker and no BASE_FREEZE)"
if [[ -n "${BASE_FREEZE:-}" ]]; then
  cp "${BASE_FREEZE}" "${scratch}/freeze.txt"
  source_note="${BASE_FREEZE}"
elif [[ -z "${NO_IMAGE:-}" ]] && command -v docker >/dev/null 2>&1 && docker pull --quiet "${BASE_IMAGE}" >/dev/null 2>&1; then
  docker run --rm --entrypoint pip "${BASE_IMAGE}" freeze --all >"${scratch}/freeze.txt"
  source_note="pip freeze of ${BASE_IMAGE}"
fi
if [[ -f "${scratch}/freeze.txt" ]]; then
  # Direct references (name @ file://...) cannot be constraints; apache-beam is pinned by pyproject.
  grep -E '^[A-Za-z0-9._-]+==' "${scratch}/freeze.txt" | grep -viE '^(apache-beam|pip|setuptools|wheel)==' \
    >"${scratch}/constraints.txt"
  constraint_args=(--constraint "${scratch}/constraints.txt")
fi

uv pip compile pyproject.toml --extra gcp \
  --python-version 3.11 --python-platform x86_64-unknown-linux-gnu \
  "${constraint_args[@]}" \
  --custom-compile-command "bash deploy/lock.sh" --annotation-style line --quiet \
  --output-file "${scratch}/requirements.lock"

{
  echo "# Base-image constraints: ${source_note}"
  cat "${scratch}/requirements.lock"
} >deploy/requirements.lock
grep -q "^apache-beam==${BEAM_VERSION} " deploy/requirements.lock \
  || { echo "lock.sh: apache-beam==${BEAM_VERSION} missing from the lock" >&2; exit 1; }
echo "deploy/requirements.lock: $(grep -c '==' deploy/requirements.lock) pins, beam ${BEAM_VERSION}, constraints: ${source_note}"
