"""Reading a task back: `GET /tasks/{id}` (status) and `GET /tasks/{id}/result`."""

from __future__ import annotations

from ..schemas import (
    FINAL_STATUSES,
    CallbackState,
    TaskNotFinishedView,
    TaskResultBody,
    TaskResultInfo,
    TaskResultView,
    TaskSnapshot,
    TaskStatusView,
)
from ..store import best_effort
from ._reader import TaskReader, logger


async def status(reader: TaskReader, task_id: str, owner: str | None) -> TaskStatusView:
    """`GET /tasks/{task_id}`."""
    found = await reader.find(task_id, owner, transcript=False)
    running = found.status == "running"
    return TaskStatusView(
        task_id=found.task_id,
        status=found.status,
        prompt=found.prompt,
        created_at=found.created_at,
        updated_at=found.updated_at,
        # While it runs: the progress row its activity writes with each batch of messages (one
        # small SQLite read per poll); null otherwise, and when SQLite cannot be read.
        progress=await best_effort(reader.store.task_progress, task_id) if running else None,
        callback=await _callback(reader, found) if found.has_callback and found.status in FINAL_STATUSES else None,
        plan=found.plan,  # while it awaits input: the plan to review
        team=found.team or (found.outcome.team if found.outcome else None),
    )


async def result(reader: TaskReader, task_id: str, owner: str | None) -> TaskResultView | TaskNotFinishedView:
    """`GET /tasks/{task_id}/result`: the result once finished (failed included), a note before."""
    found = await reader.find(task_id, owner)
    outcome = found.outcome
    if found.status not in FINAL_STATUSES or outcome is None:
        return TaskNotFinishedView(task_id=found.task_id, status=found.status, detail="Task is not finished yet")
    return TaskResultView(
        task_id=found.task_id,
        status=found.status,
        result=TaskResultBody(
            messages=outcome.messages,
            task_result=TaskResultInfo(
                status=outcome.status,
                stop_reason=outcome.stop_reason,
                final_answer=outcome.final_answer,
                error=outcome.error,
            ),
            execution_time=outcome.execution_time,
            usage_by_agent=outcome.usage_by_agent,
            attempts=outcome.attempts,
            files=outcome.files,
            files_skipped=outcome.files_skipped,
        ),
        prompt_tokens=outcome.prompt_tokens,
        completion_tokens=outcome.completion_tokens,
        created_at=found.created_at,
        updated_at=found.updated_at,
        error=outcome.error,
    )


async def _callback(reader: TaskReader, found: TaskSnapshot) -> CallbackState | None:
    """Where the delivery of a finished task's callback stands; None while Durable cannot say."""
    try:
        state = await reader.orchestrations.callback_state(found.task_id)
    except Exception as error:
        logger.warning("callback state of %s unavailable: %s", found.task_id, reader.redact(str(error)))
        return None
    if state is None:
        return CallbackState(state="pending", attempts=0)  # the delivery has not started yet
    return CallbackState.model_validate(state)
