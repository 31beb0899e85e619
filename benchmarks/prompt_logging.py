"""CPU a 20-round scripted run spends logging, with autogen's prompt loggers quiet and with `LOG_PROMPTS=true`.

The worker's setup: the redacting log-record factory installed, the root logger at INFO with a
handler that formats every record (to nowhere). The run is `run_team`, the real Magentic-One team
against the scripted model server (no latency), alternating the two settings `--runs` times.
Prints the median process CPU per run, the records and bytes logged, and the difference.

    python benchmarks/prompt_logging.py
    python benchmarks/prompt_logging.py --rounds 20 --runs 7
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from magentic_tasks.redaction import Redactor, install_log_redaction  # noqa: E402
from magentic_tasks.run import run_team  # noqa: E402
from magentic_tasks.schemas import MessageView, TaskInput  # noqa: E402
from magentic_tasks.settings import Settings  # noqa: E402
from tests.support.model_server import Script, ScriptedModelServer  # noqa: E402

PROMPT = "Summarise the migration notes of the zebra herd"


class Counting(logging.StreamHandler):  # type: ignore[type-arg]
    """Formats every record, as the worker's handler does, and counts what it wrote."""

    def __init__(self) -> None:
        super().__init__(io.StringIO())
        self.records = 0
        self.with_prompt = 0

    def emit(self, record: logging.LogRecord) -> None:
        text = self.format(record)
        self.records += 1
        self.with_prompt += PROMPT in text


async def one_run(
    server: ScriptedModelServer, workspace: Path, rounds: int, log_prompts: bool
) -> tuple[float, int, int]:
    settings = Settings(
        OPENAI_BASE_URL=server.base_url, OPENAI_API_KEY="sk-bench-0123456789abcdefgh", MAX_TURNS=rounds + 5,
        LOG_PROMPTS=log_prompts,
    )
    task = TaskInput(task_id="bench", prompt=PROMPT, use_aoai=False, model_name="gpt-4o", created_at=datetime.now(UTC))

    async def sink(views: list[MessageView]) -> None:
        return None

    handler = Counting()
    logging.getLogger().addHandler(handler)
    started = time.process_time()
    try:
        report = await run_team(task, settings, sink, workspace=workspace, redact=Redactor(settings.secrets()))
    finally:
        logging.getLogger().removeHandler(handler)
    cpu = time.process_time() - started
    if report.status != "completed":
        raise SystemExit(f"the run did not complete: {report.error}")
    return cpu, handler.records, handler.with_prompt


async def compare(rounds: int, runs: int) -> dict[bool, list[tuple[float, int, int]]]:
    results: dict[bool, list[tuple[float, int, int]]] = {False: [], True: []}
    with tempfile.TemporaryDirectory(prefix="prompt-logging-") as scratch:
        for i in range(runs + 1):
            for log_prompts in (False, True):
                # A fresh server per run: the script counts ledgers over the server's lifetime.
                with ScriptedModelServer(Script(rounds_before_satisfied=rounds - 1)) as server:
                    measured = await one_run(server, Path(scratch) / f"{i}-{log_prompts}", rounds, log_prompts)
                if i > 0:  # the first pair pays imports and first-use costs
                    results[log_prompts].append(measured)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20, help="orchestrator rounds per run (default 20)")
    parser.add_argument("--runs", type=int, default=5, help="runs of each setting (default 5)")
    args = parser.parse_args()
    install_log_redaction(lambda: ["sk-bench-0123456789abcdefgh"])
    logging.getLogger().setLevel(logging.INFO)
    results = asyncio.run(compare(args.rounds, args.runs))
    medians = {}
    print(f"{args.rounds}-round scripted run, {args.runs} runs each, root logger at INFO, redaction installed")
    print(f"{'LOG_PROMPTS':>11} {'CPU s/run':>10} {'range':>13} {'records':>8} {'with prompt':>12}")
    for log_prompts, rows in results.items():
        cpus = [cpu for cpu, _, _ in rows]
        medians[log_prompts] = statistics.median(cpus)
        print(f"{str(log_prompts).lower():>11} {medians[log_prompts]:10.3f} {min(cpus):6.3f}-{max(cpus):6.3f} "
              f"{rows[-1][1]:8d} {rows[-1][2]:12d}")
    saved = medians[True] - medians[False]
    print(f"CPU saved per run by the quiet loggers: {saved:.3f} s ({saved / medians[True]:.0%})")


if __name__ == "__main__":
    main()
