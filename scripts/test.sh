#!/usr/bin/env bash
# Sets up everything on a fresh machine (a .venv with the pinned requirements), then runs
# ruff, mypy (strict, on the app) and the whole pytest suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.requirements.sha
want=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -r requirements-dev.txt
  echo "$want" > "$stamp"
fi

# --- Deployment tooling (tests/deploy): checkov + pycep-parser in their own .venv-deploy, so their
# ~95 pinned dependencies never meet the app's pins. The tests call .venv-deploy/bin/... directly.
if [ ! -x .venv-deploy/bin/python ]; then
  "$PYTHON" -m venv .venv-deploy
fi
deploy_stamp=.venv-deploy/.requirements.sha
deploy_want=$(sha256sum requirements-deploy.txt | cut -d' ' -f1)
if [ "$(cat "$deploy_stamp" 2>/dev/null)" != "$deploy_want" ]; then
  .venv-deploy/bin/python -m pip install --quiet --upgrade pip
  .venv-deploy/bin/python -m pip install --quiet -r requirements-deploy.txt
  echo "$deploy_want" > "$deploy_stamp"
fi
# --- end of deployment tooling

echo "== ruff"
.venv/bin/ruff check .
echo "== mypy"
.venv/bin/mypy
echo "== pytest"
.venv/bin/python -m pytest "$@"
