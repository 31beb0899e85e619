"""What `import function_app` costs in the project's own modules, on a cold interpreter.

Runs `python -X importtime -c "import function_app"` in several fresh subprocesses and sums the
*self* time of the project's modules (function_app, starters, orchestrators, activities,
magentic_tasks): the code that runs in their module bodies, pydantic model classes being built
included, but not the imports of azure.*, pydantic or anything else they pull in. Prints the median
and range, the slowest project modules, and whether any autogen / openai module was loaded.

Two things would otherwise be counted as the project's: compiling its sources (the project is
byte-compiled first, as a deployed app's are after its first start), and the bodies of third-party
modules imported through `importlib.import_module` (pydantic loads `pydantic.fields`,
`pydantic.functional_validators` and others that way on first attribute access): `-X importtime`
does not list those, so their time lands in whichever project module first touched them, and
which one that is changes with import order. So a discovery run lists every third-party module
`import function_app` loads, and each measured run imports them all, in that order, first: what
is left is the project's own code.

    python benchmarks/import_cost.py            # 7 runs
    python benchmarks/import_cost.py --runs 15 --top 12
"""

from __future__ import annotations

import argparse
import compileall
import json
import statistics
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT_PACKAGES = ("function_app", "starters", "orchestrators", "activities", "durable", "magentic_tasks")
HEAVY_PACKAGES = ("autogen_core", "autogen_agentchat", "autogen_ext", "openai", "markitdown", "magika")
PROBE = f"""
import json, sys
for name in json.loads(sys.argv[1]):
    try:
        __import__(name)
    except Exception:
        pass
import function_app
print(','.join(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY_PACKAGES!r}))))
print(json.dumps(list(sys.modules)))
"""


def is_project(module: str) -> bool:
    return module.split(".")[0] in PROJECT_PACKAGES


def import_times(stderr: str) -> dict[str, float]:
    """Self time in seconds of every module `-X importtime` lists."""
    times: dict[str, float] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        fields = line.removeprefix("import time:").split("|")
        if not fields[0].strip().isdigit():
            continue  # the header line
        module = fields[2].strip()
        times[module] = times.get(module, 0.0) + int(fields[0]) / 1e6
    return times


def cold_import(preload: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-X", "importtime", "-c", PROBE, json.dumps(preload)],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )


def third_party_modules() -> list[str]:
    """Every module other than the project's that `import function_app` loads, in load order."""
    loaded = json.loads(cold_import([]).stdout.splitlines()[-1])
    return [m for m in loaded if not is_project(m) and not m.startswith("_") and m not in sys.builtin_module_names
            and m not in ("cython_runtime", "typing.io", "typing.re")]


def one_run(preload: list[str]) -> tuple[dict[str, float], str]:
    """Self time in seconds of every project module in one cold import, and the heavy packages loaded."""
    done = cold_import(preload)
    own = {module: seconds for module, seconds in import_times(done.stderr).items() if is_project(module)}
    return own, done.stdout.splitlines()[0].strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7, help="fresh interpreters to measure (default 7)")
    parser.add_argument("--top", type=int, default=8, help="slowest project modules to list (default 8)")
    args = parser.parse_args()
    for package in PROJECT_PACKAGES:
        path = ROOT / package
        compiled = compileall.compile_dir(path, quiet=1) if path.is_dir() else compileall.compile_file(
            path.with_suffix(".py"), quiet=1)
        if not compiled:
            raise SystemExit(f"could not byte-compile {package}")
    preload = third_party_modules()
    totals: list[float] = []
    per_module: dict[str, list[float]] = defaultdict(list)
    heavy: set[str] = set()
    for _ in range(args.runs):
        own, loaded = one_run(preload)
        totals.append(sum(own.values()))
        for module, seconds in own.items():
            per_module[module].append(seconds)
        heavy.update(filter(None, loaded.split(",")))
    print(f"{len(preload)} third-party modules imported before each run")
    print(f"project's own import time over {args.runs} cold runs (self time of {', '.join(PROJECT_PACKAGES)}):")
    low, high = min(totals) * 1000, max(totals) * 1000
    print(f"  median {statistics.median(totals) * 1000:.1f} ms, range {low:.1f}-{high:.1f} ms")
    print("slowest project modules (median self time, ms):")
    ranked = sorted(per_module.items(), key=lambda item: statistics.median(item[1]), reverse=True)
    for module, seconds in ranked[: args.top]:
        print(f"  {statistics.median(seconds) * 1000:7.1f}  {module}")
    print(f"autogen/openai/markitdown modules loaded by `import function_app`: {', '.join(sorted(heavy)) or 'none'}")


if __name__ == "__main__":
    main()
