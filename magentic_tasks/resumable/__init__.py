"""Magentic-One runs that stop after any round and resume there, in another process if need be.

autogen-agentchat 0.7.5 cannot resume a Magentic-One run out of the box (upstream issue 5054): a
`run_stream()` without a task fails in the orchestrator, and with one it starts over. Three small
subclasses fix that, and they touch private autogen APIs, so they live here, pinned to the exact
version by the equivalence tests in tests/resumable:

- `_orchestrator`: `handle_start` continues with `_orchestrate_step` when the orchestrator already
  has a task and is given no new messages (the stock one always gathers facts and a plan again);
- `_team`: the team that builds that orchestrator (`_create_group_chat_manager_factory`), ending
  every `run_stream()` after one agent turn (`RoundEnd`), its saved state with each image once
  (`_images`: autogen saves a screenshot in every buffer that holds its message);
- `_file_surfer`: the FileSurfer's chat history and open file in its saved state (the stock one
  saves nothing and diverges after a resume);
- `_web_surfer`: the WebSurfer's chat history, page URL and scroll offset (`WebSurferState`);
- `_rounds`: running the team round by round, reading each stream to its end (its `finally` waits
  for the runtime to go idle), so that `save_state()` sees the idle team at a clean boundary.
"""

from ._file_surfer import FileSurferState
from ._orchestrator import PLAN_READY
from ._rounds import RoundLoop
from ._team import ROUND_END, ResumableMagenticOneGroupChat, RoundEnd
from ._web_surfer import WebSurferState

__all__ = [
    "PLAN_READY", "ROUND_END", "FileSurferState", "ResumableMagenticOneGroupChat", "RoundEnd", "RoundLoop",
    "WebSurferState",
]

