"""What `import function_app` costs in the project's own modules, on a cold interpreter.

Runs `python -X importtime -c "import function_app"` in several fresh subprocesses and sums the
*self* time of the project's modules (function_app, starters, orchestrators, activities,
magentic_tasks): the code that runs in their module bodies, pydantic model classes being built
included, but not the imports of azure.*, pydantic or anything else they pull in. Prints the median
and range, the slowest project modules, and whether any autogen / openai module was loaded.

    python benchmarks/import_cost.py            # 7 runs
    python benchmarks/import_cost.py --runs 15 --top 12
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT_PACKAGES = ("function_app", "starters", "orchestrators", "activities", "magentic_tasks")
HEAVY_PACKAGES = ("autogen_core", "autogen_agentchat", "autogen_ext", "openai", "markitdown", "magika")
PROBE = (
    "import sys, function_app; "
    f"print(','.join(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY_PACKAGES!r}))))"
)


def is_project(module: str) -> bool:
    return module.split(".")[0] in PROJECT_PACKAGES


def one_run() -> tuple[dict[str, float], str]:
    """Self time in seconds of every project module in one cold import, and the heavy packages loaded."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", PROBE], cwd=ROOT, capture_output=True, text=True, check=True
    )
    own: dict[str, float] = {}
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        fields = line.removeprefix("import time:").split("|")
        if not fields[0].strip().isdigit():
            continue  # the header line
        module = fields[2].strip()
        if is_project(module):
            own[module] = own.get(module, 0.0) + int(fields[0]) / 1e6
    return own, done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7, help="fresh interpreters to measure (default 7)")
    parser.add_argument("--top", type=int, default=8, help="slowest project modules to list (default 8)")
    args = parser.parse_args()
    totals: list[float] = []
    per_module: dict[str, list[float]] = defaultdict(list)
    heavy: set[str] = set()
    for _ in range(args.runs):
        own, loaded = one_run()
        totals.append(sum(own.values()))
        for module, seconds in own.items():
            per_module[module].append(seconds)
        heavy.update(filter(None, loaded.split(",")))
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
