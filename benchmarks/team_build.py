"""CPU and memory per team build: autogen's own FileSurfer (one document converter per task)
against the team's `WorkspaceFileSurfer` (one converter per process).

Each mode runs in a fresh subprocess: it builds one team to pay the imports and first-use costs,
then builds `--teams` more and keeps them alive, as that many concurrent tasks would. It prints
the CPU time per build (`time.process_time`) and the growth of the resident set per team kept.

    python benchmarks/team_build.py
    python benchmarks/team_build.py --teams 50
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def rss_mb() -> float:
    """Current resident set size, from /proc (Linux)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * 4096 / 2**20


async def measure(mode: str, teams: int) -> dict[str, Any]:
    from autogen_core.models import ModelInfo
    from autogen_ext.agents.file_surfer import FileSurfer
    from autogen_ext.models.replay import ReplayChatCompletionClient

    from magentic_tasks.run import UsageMeter
    from magentic_tasks.run import _team as team_module
    from magentic_tasks.settings import Settings

    if mode == "per-task":  # what build_team did before: autogen's FileSurfer builds its own MarkItDown
        def stock(name: str, client: Any, base_path: str) -> FileSurfer:
            return FileSurfer(name, model_client=client, base_path=base_path)

        team_module.WorkspaceFileSurfer = stock  # type: ignore[assignment,misc]
    info = ModelInfo(vision=False, function_calling=True, json_output=True, family="gpt-4o", structured_output=False)
    client = ReplayChatCompletionClient([], model_info=info)
    settings = Settings()
    with tempfile.TemporaryDirectory(prefix="team-build-") as scratch:
        async with AsyncExitStack() as resources:
            await team_module.build_team(settings, client, UsageMeter(), Path(scratch) / "warm", resources)
            kept = []
            rss_before, cpu_before, wall_before = rss_mb(), time.process_time(), time.perf_counter()
            for i in range(teams):
                kept.append(await team_module.build_team(settings, client, UsageMeter(), Path(scratch) / str(i),
                                                         resources))
            cpu, wall = time.process_time() - cpu_before, time.perf_counter() - wall_before
            rss_after = rss_mb()
    return {"mode": mode, "teams": teams, "cpu_ms": cpu / teams * 1000, "wall_ms": wall / teams * 1000,
            "rss_mb_per_team": (rss_after - rss_before) / teams, "rss_mb": rss_after}


def run_mode(mode: str, teams: int) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--teams", str(teams)],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teams", type=int, default=30, help="teams built and kept per mode (default 30)")
    parser.add_argument("--child", choices=["per-task", "shared"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(measure(args.child, args.teams))))
        return
    columns = ("CPU ms/build", "wall ms/build", "RSS MB/team", "RSS MB")
    print(f"{'converter':>10} {'teams':>6} " + " ".join(f"{name:>13}" for name in columns))
    rows = [run_mode(mode, args.teams) for mode in ("per-task", "shared")]
    for row in rows:
        print(
            f"{row['mode']:>10} {row['teams']:6d} {row['cpu_ms']:13.1f} {row['wall_ms']:13.1f} "
            f"{row['rss_mb_per_team']:13.2f} {row['rss_mb']:13.0f}"
        )
    before, after = rows
    print(f"saved per build: {before['cpu_ms'] - after['cpu_ms']:.1f} ms CPU, "
          f"{before['rss_mb_per_team'] - after['rss_mb_per_team']:.2f} MB")


if __name__ == "__main__":
    main()
