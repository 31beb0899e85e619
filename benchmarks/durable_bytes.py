"""Benchmark what Durable state holds per task against the transcript's own size.

Runs one task per `--rounds` value through the registered functions on the fake Durable host (the
real orchestrator and activities, the real Durable client, the scripted model server over HTTP,
real SQLite), then weighs what the host keeps for it, as the Azure Storage provider stores it: the
instance row (input, output, custom status) and a row per history event (each property's name and
value). Against it: the transcript's own size (source, type and content of its SQLite rows, UTF-8;
`--reply-chars` is each agent answer's length, default 1,200). Prints, per task: transcript bytes,
Durable bytes and their ratio, and the largest single payload (the provider compresses a payload
over 45 KB and moves it to a blob). Then it deletes the mirror after one more task and shows what
`GET /tasks/{id}/result` still returns (from Durable alone).

`--code PATH` weighs another checkout's code with the same harness (`git worktree add /tmp/before <rev>`).

    python benchmarks/durable_bytes.py --rounds 3,20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
COMPRESSION_POINT = 45 * 1024


def transcript_bytes(db: Path, task_id: str) -> tuple[int, int]:
    """UTF-8 bytes of the task's final transcript rows in SQLite, and how many rows (in the task's
    own file, `tasks/*/<id>-*.db`, or in the shared file for code before per-task files)."""
    with sqlite3.connect(db) as conn:
        (attempt,) = conn.execute("SELECT final_attempt FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
    own = next((db.parent / "tasks").glob(f"*/{task_id}-*.db"), db)
    with sqlite3.connect(own) as conn:
        rows = conn.execute("SELECT source, type, content FROM messages WHERE task_id = ? AND attempt = ?",
                            (task_id, attempt)).fetchall()
    return sum(len(f"{s}{t}{c}".encode()) for s, t, c in rows), len(rows)


def stored_size(row: dict[str, Any]) -> int:
    """A table row's size as the provider stores it: each property's name and value, a string as
    it is (a JSON payload is one string property, not escaped again)."""
    return sum(len(name) + len(value.encode() if isinstance(value, str) else json.dumps(value).encode())
               for name, value in row.items())


def durable_bytes(instance: Any) -> tuple[int, int]:
    """What the host keeps for the instance (the instance row and one row per history event), and
    the largest single payload (a property value)."""
    row = {"Input": instance.raw_input or "", "Output": json.dumps(instance.output),
           "CustomStatus": json.dumps(instance.custom_status)}
    rows = [row, *instance.history]
    largest = max(len(str(value).encode()) for r in rows for value in r.values())
    return sum(map(stored_size, rows)), largest


def agent_reply(chars: int) -> str:
    """An agent's answer of about `chars` characters: prose, a code block, quotes (JSON escapes them)."""
    unit = 'Ran the computation:\n```python\nprint(6 * 7)\n```\nIt printed "42", as expected. '
    return (unit * (chars // len(unit) + 1))[:chars]


async def one_task(rounds: int, scratch: Path, reply_chars: int, *, mirror_fails: bool = False) -> dict[str, Any]:
    from function_app import app
    from magentic_tasks.settings import get_settings
    from tests.support.durable_host import FakeDurableHost
    from tests.support.model_server import Script, ScriptedModelServer

    folder = scratch / f"{rounds}-{mirror_fails}"
    script = Script(rounds_before_satisfied=rounds - 1, agent_reply=agent_reply(reply_chars))
    with ScriptedModelServer(script) as server:
        os.environ.update({
            "OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "sk-bench-0123456789abcdef",
            "TASKS_DB_PATH": str(folder / "tasks.db"), "TASK_WORKSPACE_ROOT": str(folder / "ws"),
            "MAX_TURNS": "200", "TASK_TIMEOUT_SECONDS": "3600",
        })
        get_settings.cache_clear()
        async with FakeDurableHost(app, host_json=ROOT / "host.json", timer_scale=0) as host:
            response = await host.call_http(("POST", "/tasks"), body={"prompt": "What is 6 * 7?", "use_aoai": False})
            task_id = json.loads(response.get_body())["task_id"]
            await host.wait_for(task_id, timeout=120)
            if mirror_fails:  # the mirror loses everything the run wrote: only Durable has the result
                (folder / "tasks.db").unlink()
                shutil.rmtree(folder / "tasks", ignore_errors=True)
            instance = host.get_instance(task_id)
            assert instance is not None and instance.runtime_status == "Completed", instance
            weight, largest = durable_bytes(instance)
            result = await host.call_http(("GET", f"/tasks/{task_id}/result"))
            served = json.loads(result.get_body())
    return {"task_id": task_id, "durable": weight, "largest": largest, "served": served,
            "db": folder / "tasks.db"}


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="durable-bytes-") as scratch:
        print(f"code {args.code or ROOT}; agents answer {args.reply_chars} characters")
        print(f"{'rounds':>6} {'messages':>8} {'transcript B':>12} {'Durable B':>10} {'ratio':>6} {'largest B':>10} "
              f"{'< 45 KB':>8}")
        for rounds in (int(r) for r in args.rounds.split(",")):
            weighed = await one_task(rounds, Path(scratch), args.reply_chars)
            own, count = transcript_bytes(weighed["db"], weighed["task_id"])
            print(f"{rounds:6d} {count:8d} {own:12d} {weighed['durable']:10d} {weighed['durable'] / own:6.2f} "
                  f"{weighed['largest']:10d} {str(weighed['durable'] < COMPRESSION_POINT).lower():>8}")
        lost = await one_task(3, Path(scratch), args.reply_chars, mirror_fails=True)
        messages = lost["served"].get("result", {}).get("messages", [])
        print(f"mirror deleted after a 3-round task: GET /tasks/{{id}}/result answered {len(messages)} messages "
              f"(status {lost['served'].get('status')})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", default="3,20", help="orchestrator rounds of each task (default 3,20)")
    parser.add_argument("--reply-chars", type=int, default=1200, help="length of each agent answer (default 1200)")
    parser.add_argument("--code", type=Path, help="weigh this checkout's code instead")
    args = parser.parse_args()
    sys.path[:0] = [str((args.code or ROOT).resolve()), str(ROOT)]
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
