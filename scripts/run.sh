#!/usr/bin/env bash
# Runs the Function App locally: Azure Functions Core Tools (`func`) with Azurite for storage.
# Sets up a .venv with the pinned requirements and a local.settings.json from the example.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v func >/dev/null 2>&1; then
  cat >&2 <<'MSG'
error: Azure Functions Core Tools ('func') is not installed, so the app cannot be started here.
Install Core Tools v4 (https://learn.microsoft.com/azure/azure-functions/functions-run-local),
for example:  npm install -g azure-functions-core-tools@4 --unsafe-perm true
and Azurite:  npm install -g azurite
then run this script again. The test suite (scripts/test.sh) needs neither.
MSG
  exit 1
fi

PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet -r requirements.txt
[ -f local.settings.json ] || { cp local.settings.json.example local.settings.json; echo "created local.settings.json: add your model endpoint and key"; }
mkdir -p .data

if command -v azurite >/dev/null 2>&1; then
  if ! (exec 3<>/dev/tcp/127.0.0.1/10000) 2>/dev/null; then
    azurite --silent --location .data/azurite --debug .data/azurite/debug.log &
    trap 'kill $! 2>/dev/null || true' EXIT
    sleep 2
  fi
else
  echo "warning: Azurite not found; AzureWebJobsStorage must point at a reachable storage account" >&2
fi

# shellcheck disable=SC1091
source .venv/bin/activate
func start "$@"
