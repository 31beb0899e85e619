"""One attempt at a task: where it starts, the team run, its limits, and what it leaves in the mirror.

Imported by the activities (on a worker thread, on their first call) and the CLI only: it imports
autogen. Calls go downward, each module one idea:

- `_attempt`: an attempt (or a slice of one) from start to outcome, and the final failure record;
  `_recorder`: where its run puts messages and round checkpoints;
- `_start`: where an attempt starts (fresh, the next slice, resumed from the latest checkpoint);
- `_review`: the plan a paused run shows its reviewer, the decision taken on it, and what it does;
- `_team_run`: the team run round by round, bounded by deadline, turns, stalls, tokens and the stop
  signal; `_types`: what it is handed and hands back;
- `_transcript_writer` and `_progress`: messages, progress and usage into the mirror, in batches;
- `_metering`: every model call's tokens; `_errors`: which failures are worth retrying;
- `_team`, `_clients`, `_code_execution`: the Magentic-One team, its model client, its executor;
- `_shaping`: autogen messages as transcript entries; `_stop_signal`: a reason from outside to stop.

The autogen subclasses that make a run resumable live in `magentic_tasks.resumable`.
"""

from ..schemas import IMAGE_REF_TYPE, IMAGE_TYPE
from ._attempt import execute_slice, execute_task
from ._clients import build_model_client, shared_http_client
from ._code_execution import build_code_executor
from ._errors import TRANSIENT_ERRORS, budget_message, describe
from ._lease import RunLease
from ._metering import AttemptMeter, MeteredClient, UsageMeter
from ._outcome import record_failure
from ._progress import ProgressTracker
from ._recorder import AttemptRecorder
from ._review import PLAN_REJECTED, REVIEW_EXPIRED, awaits_review, decided, planned, with_plan
from ._shaping import to_views, without_image_bytes
from ._start import Start, start_attempt
from ._stop_signal import StopCheck, StopSignal
from ._team import ORCHESTRATOR_NAME, SharedConverter, WorkspaceBrowser, WorkspaceFileSurfer, build_team
from ._team_run import PlanNotSaved, run_team
from ._transcript_writer import TranscriptWriter
from ._types import CheckpointSink, MessageSink, Resume, RoundBoundary, RunReport

__all__ = [
    "IMAGE_REF_TYPE",
    "IMAGE_TYPE",
    "ORCHESTRATOR_NAME",
    "PLAN_REJECTED",
    "REVIEW_EXPIRED",
    "TRANSIENT_ERRORS",
    "AttemptMeter",
    "AttemptRecorder",
    "CheckpointSink",
    "MessageSink",
    "MeteredClient",
    "PlanNotSaved",
    "ProgressTracker",
    "Resume",
    "RoundBoundary",
    "RunLease",
    "RunReport",
    "SharedConverter",
    "Start",
    "StopCheck",
    "StopSignal",
    "TranscriptWriter",
    "UsageMeter",
    "WorkspaceBrowser",
    "WorkspaceFileSurfer",
    "awaits_review",
    "budget_message",
    "build_code_executor",
    "build_model_client",
    "build_team",
    "decided",
    "describe",
    "execute_slice",
    "execute_task",
    "planned",
    "record_failure",
    "run_team",
    "shared_http_client",
    "start_attempt",
    "to_views",
    "with_plan",
    "without_image_bytes",
]
