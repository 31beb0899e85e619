#!/usr/bin/env bash
# Runs the Function App locally: Azure Functions Core Tools (`func`) with Azurite for storage.
# Sets up a .venv (Python 3.11 or 3.12) with the pinned requirements and a local.settings.json
# from the example, and stops with what to do whenever something is missing. Arguments go to
# `func start`.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v func >/dev/null 2>&1; then
  cat >&2 <<'MSG'
error: Azure Functions Core Tools ('func') is not installed, so the app cannot be started here.
Install Core Tools v4 (https://learn.microsoft.com/azure/azure-functions/functions-run-local),
for example:  npm install -g azure-functions-core-tools@4 --unsafe-perm true
and Azurite:  npm install -g azurite
(or open the repository in its dev container / Codespaces, which has both),
then run this script again. The test suite (scripts/test.sh) needs neither.
MSG
  exit 1
fi

# The Functions Python worker supports the versions this project tests: 3.11 and 3.12.
PYTHON="${PYTHON:-python3}"
python_version() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || echo none; }
supported() { [ "$1" = 3.11 ] || [ "$1" = 3.12 ]; }

if [ -x .venv/bin/python ] && ! supported "$(python_version .venv/bin/python)"; then
  built_with=$(python_version .venv/bin/python)
  if supported "$(python_version "$PYTHON")"; then
    echo ".venv was built by Python $built_with, which the Functions worker does not run; rebuilding it with $PYTHON"
    rm -rf .venv
  else
    cat >&2 <<MSG
error: .venv was built by Python $built_with and $PYTHON is Python $(python_version "$PYTHON");
the app needs Python 3.11 or 3.12. Install one, then run:  rm -rf .venv && PYTHON=python3.11 ./scripts/run.sh
MSG
    exit 1
  fi
fi
if [ ! -x .venv/bin/python ]; then
  if ! supported "$(python_version "$PYTHON")"; then
    echo "error: $PYTHON is Python $(python_version "$PYTHON"); the app needs 3.11 or 3.12. Run with PYTHON=python3.11 (or python3.12)." >&2
    exit 1
  fi
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.runtime-requirements.sha
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/python -m pip install --quiet -r requirements.txt
  echo "$want" > "$stamp"
fi

if [ ! -f local.settings.json ]; then
  cp local.settings.json.example local.settings.json
  created=1
else
  created=0
fi
model_configured() {
  .venv/bin/python - <<'PY'
import json, sys
values = json.load(open("local.settings.json", encoding="utf-8")).get("Values", {})
names = ("AZURE_OPENAI_ENDPOINT", "AZURE_OPEN_AI_ENDPOINT", "OPENAI_API_KEY", "OPEN_AI_API_KEY", "OPENAI_BASE_URL")
sys.exit(0 if any(str(values.get(name) or "").strip() for name in names) else 1)
PY
}
if ! model_configured; then
  [ "$created" = 1 ] && echo "created local.settings.json from local.settings.json.example" >&2
  cat >&2 <<'MSG'
error: no model is configured in local.settings.json, so every task would fail. Fill in "Values":
  - Azure OpenAI: AZURE_OPENAI_ENDPOINT (and AZURE_OPENAI_API_KEY, or leave it empty to use `az login`);
    tasks then use your deployment name as model_name; or
  - OpenAI: OPENAI_API_KEY; or any OpenAI-compatible server (Ollama, vLLM, LM Studio): OPENAI_BASE_URL
    (plus MODEL_INFO for model names autogen does not know).
Then run ./scripts/run.sh again.
MSG
  exit 1
fi
mkdir -p .data

if command -v azurite >/dev/null 2>&1; then
  if ! (exec 3<>/dev/tcp/127.0.0.1/10000) 2>/dev/null; then
    mkdir -p .data/azurite
    # --skipApiVersionCheck: the pinned azure-storage-blob may speak a newer API version than Azurite knows.
    azurite --silent --disableTelemetry --skipApiVersionCheck --location .data/azurite --debug .data/azurite/debug.log &
    trap 'kill $! 2>/dev/null || true' EXIT
    sleep 2
  fi
else
  echo "warning: Azurite not found; AzureWebJobsStorage must point at a reachable storage account" >&2
fi

# Core Tools starts the Python worker with `python3` from PATH unless told otherwise: put .venv
# first on PATH (what `source .venv/bin/activate` does) and name its interpreter explicitly too.
export VIRTUAL_ENV="$PWD/.venv"
export PATH="$VIRTUAL_ENV/bin:$PATH"
export languageWorkers__python__defaultExecutablePath="$VIRTUAL_ENV/bin/python"
func start "$@"
