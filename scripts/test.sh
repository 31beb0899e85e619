#!/usr/bin/env bash
# Sets up everything on a fresh machine (Debian's chromium too, as root), then runs ruff, mypy
# (strict, on the app), the import contracts (import-linter), the real-worker tier (tests/worker) on
# every other supported Python this machine has, and the whole pytest suite.
# Extra arguments go to pytest (and then only that run happens, on the primary Python).
set -euo pipefail
cd "$(dirname "$0")/.."

# The Python versions the pinned requirements install on and the suites run on (Flex Consumption
# offers 3.10-3.12; autogen 0.7.5 needs 3.10+; the worker tier is proven on both of these).
SUPPORTED="3.11 3.12"

version_of() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true; }
is_supported() { case " $SUPPORTED " in *" $1 "*) return 0 ;; esac; return 1; }

# An interpreter for version $1: pythonX.Y on PATH, else one that pyenv has installed.
find_python() {
  local candidate
  for candidate in "python$1" "$(pyenv root 2>/dev/null || echo ~/.pyenv)"/versions/"$1".*/bin/"python$1"; do
    if [ "$(version_of "$candidate")" = "$1" ]; then command -v "$candidate"; return 0; fi
  done
  return 1
}

# setup_venv DIR PYTHON: DIR becomes a venv of PYTHON with the pinned requirements, the worker
# library and its protocol classes; a venv of an unsupported Python is rebuilt, a warm one reused.
setup_venv() {
  local venv=$1 python=$2 stamp want
  if [ -x "$venv/bin/python" ] && ! is_supported "$(version_of "$venv/bin/python")"; then
    echo "$venv was built by Python $(version_of "$venv/bin/python"), not one of $SUPPORTED: rebuilding it" >&2
    rm -rf "$venv"
  fi
  [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
  stamp=$venv/.requirements.sha
  want=$(cat requirements.txt requirements-dev.txt requirements-worker.txt requirements-worker-protos.txt \
    | sha256sum | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    "$venv/bin/python" -m pip install --quiet -r requirements-dev.txt
    "$venv/bin/python" -m pip install --quiet --no-deps --ignore-requires-python -r requirements-worker.txt
    rm -rf "$venv/function-rpc"
    "$venv/bin/python" -m pip install --quiet --no-deps --ignore-requires-python \
      --target "$venv/function-rpc" -r requirements-worker-protos.txt
    echo "$want" > "$stamp"
  fi
}

PYTHON="${PYTHON:-python3}"
primary=$(version_of "$PYTHON")
if ! is_supported "$primary"; then
  for version in $SUPPORTED; do
    if found=$(find_python "$version"); then PYTHON=$found; primary=$version; break; fi
  done
fi
if ! is_supported "$primary"; then
  echo "error: this project needs Python ${SUPPORTED// / or }; set PYTHON=/path/to/python3.11" >&2
  exit 2
fi
setup_venv .venv "$PYTHON"

# --- Browser (tests/browser, tests/console, the WebSurfer tier): Debian's chromium at /usr/bin/chromium, installed
# with apt-get when it is missing and this runs as root; otherwise the browser tests skip, saying
# why. Playwright comes from the requirements and drives this chromium: `playwright install`
# (a browser download) is never run.
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "== installing Debian's chromium (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null
  else
    echo "== note: /usr/bin/chromium is missing and this is not root: the browser tests will skip"
  fi
fi
# --- end of browser

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


# --- Azurite's blob service for the task-files tests, from npm into .azurite/ (quiet, idempotent).
# Without node and npm those tests skip and say why.
AZURITE_VERSION=3.37.0
if command -v npm >/dev/null 2>&1; then
  if [ "$(cat .azurite/.version 2>/dev/null)" != "$AZURITE_VERSION" ]; then
    echo "== installing Azurite $AZURITE_VERSION into .azurite/"
    npm install --prefix .azurite "azurite@$AZURITE_VERSION" --no-audit --no-fund --loglevel=error >/dev/null
    echo "$AZURITE_VERSION" > .azurite/.version
  fi
else
  echo "== note: npm is missing: the Azurite tests (tests/files, tests/e2e/test_files.py) will skip"
fi
# --- end of Azurite

echo "== ruff"
.venv/bin/ruff check .
echo "== mypy"
.venv/bin/mypy
echo "== import contracts"
.venv/bin/lint-imports --no-logo --no-cache
if [ $# -eq 0 ]; then
  for version in $SUPPORTED; do
    [ "$version" = "$primary" ] && continue
    if ! other=$(find_python "$version"); then
      echo "== note: no Python $version on this machine; the worker tier ran on $primary only"
      continue
    fi
    setup_venv ".venv-$version" "$other"
    echo "== pytest tests/worker (Python $version)"
    ".venv-$version/bin/python" -m pytest tests/worker -q -p no:cacheprovider
  done
fi
echo "== pytest (Python $primary)"
.venv/bin/python -m pytest "$@"
