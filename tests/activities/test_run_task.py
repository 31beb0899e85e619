"""The activity module: autogen arrives on the first activity, on a thread, never with the app."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Records which thread first imports autogen, then loads the activity's code as the activity does.
PROBE = """
import asyncio, sys, threading
import function_app
assert not any(m.startswith("autogen") for m in sys.modules), "function_app imported autogen"
importing_thread = []

class Spy:
    def find_spec(self, name, path=None, target=None):
        if name == "autogen_agentchat" and not importing_thread:
            importing_thread.append(threading.current_thread() is threading.main_thread())
        return None

sys.meta_path.insert(0, Spy())
from activities.run_task import load_run

async def main():
    module = await load_run()
    assert hasattr(module, "execute_task")

asyncio.run(main())
print("on main thread:", importing_thread)
"""


def test_the_first_activity_imports_autogen_off_the_event_loop_thread() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "on main thread: [False]"
