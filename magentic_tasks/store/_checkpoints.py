"""Round checkpoints: where a run stood at its latest clean round boundary, per attempt.

A checkpoint holds the idle team's saved state (`save_state()`, JSON), the attempt's token usage at
that boundary, the chain-wide round and transcript counts, the time the run has used and its
deadline. It lives in the task's own file on the shared mount, beside the transcript it matches
(one write transaction for both), so a retry on any instance can read it; Durable state carries
only (attempt, round).

`held_by` says which execution may continue the attempt in place: the one that wrote the
checkpoint holds it; a slice that ends releases it, and the next slice claims it. A checkpoint
still held when a retry comes (its run crashed, or still runs) is resumed into a new attempt.
"""

from __future__ import annotations

import json
import sqlite3
import zlib
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from ..clock import iso
from ..schemas import MessageView, TokenUsage
from ._lease import release_lease
from ._rows import insert_messages, read_messages, set_attempt_usage, usage_json
from ._tasks import parse_timestamp
from ._transcript import begin_attempt


class Checkpoint(BaseModel):
    task_id: str
    attempt: int
    round: int  # rounds completed by the run, over every attempt it resumed
    messages: int  # transcript entries at this boundary
    state: dict[str, Any]
    usage_by_agent: dict[str, TokenUsage]  # the run's tokens at this boundary, over every attempt it resumed
    elapsed: float  # seconds the run has worked, over every slice
    deadline: datetime  # the whole run's (TASK_TIMEOUT_SECONDS from its start)
    held_by: str | None = None
    saved_at: datetime


def upsert_checkpoint(conn: sqlite3.Connection, checkpoint: Checkpoint) -> int:
    """Replace the attempt's checkpoint with this one unless it has a later round's (batches may land
    out of order); the saved state's size in bytes (as JSON).

    The state is stored compressed (zlib: a team's state is a few KB of JSON, about a fifth of that
    compressed), so that the row fits its page: on a share every page written costs round trips."""
    # ASCII: a lone surrogate in a message (which SQLite cannot encode) survives as its JSON escape.
    state_json = json.dumps(checkpoint.state, separators=(",", ":"))
    state = zlib.compress(state_json.encode(), 6)
    conn.execute(
        """INSERT INTO checkpoints (task_id, attempt, round, messages, state_json, usage_json, elapsed,
                                    deadline, held_by, saved_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (task_id, attempt) DO UPDATE SET round = excluded.round,
               messages = excluded.messages, state_json = excluded.state_json,
               usage_json = excluded.usage_json, elapsed = excluded.elapsed, deadline = excluded.deadline,
               held_by = excluded.held_by, saved_at = excluded.saved_at
           WHERE excluded.round >= checkpoints.round""",
        (checkpoint.task_id, checkpoint.attempt, checkpoint.round, checkpoint.messages, state,
         usage_json(checkpoint.usage_by_agent), checkpoint.elapsed, iso(checkpoint.deadline), checkpoint.held_by,
         iso(checkpoint.saved_at)),
    )
    return len(state_json.encode())


def save_checkpoint(conn: sqlite3.Connection, checkpoint: Checkpoint, attempt_usage: dict[str, TokenUsage]) -> int:
    """The checkpoint and the attempt's own tokens, together; the saved state's size in bytes."""
    size = upsert_checkpoint(conn, checkpoint)
    set_attempt_usage(conn, checkpoint.task_id, checkpoint.attempt, attempt_usage)
    return size


def release_checkpoint(conn: sqlite3.Connection, task_id: str, attempt: int, holder: str) -> bool:
    """The slice ends here: its checkpoint, and the run's lease (`_lease`, the same holder), are let go."""
    cursor = conn.execute(
        "UPDATE checkpoints SET held_by = NULL WHERE task_id = ? AND attempt = ? AND held_by = ?",
        (task_id, attempt, holder),
    )
    release_lease(conn, task_id, holder)
    return cursor.rowcount == 1


def claim_checkpoint(
    conn: sqlite3.Connection, task_id: str, attempt: int, round_: int, holder: str
) -> Checkpoint | None:
    cursor = conn.execute(
        """UPDATE checkpoints SET held_by = ?
           WHERE task_id = ? AND attempt = ? AND round = ? AND held_by IS NULL""",
        (holder, task_id, attempt, round_),
    )
    if cursor.rowcount != 1:
        return None
    row = conn.execute("SELECT * FROM checkpoints WHERE task_id = ? AND attempt = ?", (task_id, attempt)).fetchone()
    return _checkpoint(row)


def latest_checkpoint(conn: sqlite3.Connection, task_id: str) -> Checkpoint | None:
    row = conn.execute(
        "SELECT * FROM checkpoints WHERE task_id = ? ORDER BY round DESC, saved_at DESC LIMIT 1",
        (task_id,),
    ).fetchone()
    return None if row is None else _checkpoint(row)


def resume_attempt(conn: sqlite3.Connection, task_id: str, source: int, attempt: int, count: int) -> None:
    """Copy the first `count` entries of `source`'s transcript into `attempt`'s, at new stream
    positions: a follower drops what it holds of an earlier attempt when the attempt changes, so it
    then holds exactly this transcript."""
    rows = conn.execute(
        """SELECT seq, source, type, content FROM messages
           WHERE task_id = ? AND attempt = ? AND seq < ? ORDER BY seq""",
        (task_id, source, count),
    ).fetchall()
    insert_messages(conn, [(task_id, attempt, r["seq"], r["source"], r["type"], r["content"]) for r in rows])


def begin_resumed(
    conn: sqlite3.Connection, task_id: str, at: datetime
) -> tuple[int, Checkpoint | None, list[MessageView]]:
    """A new attempt, resumed from the latest checkpoint when its transcript is all there (the
    entries up to it copied into the new attempt's); its number, that checkpoint and transcript."""
    latest = latest_checkpoint(conn, task_id)
    attempt = begin_attempt(conn, task_id, at)
    history = [] if latest is None else read_messages(conn, task_id, latest.attempt)[: latest.messages]
    if latest is None or len(history) < latest.messages:  # a resume would leave a gap: start afresh
        return attempt, None, []
    resume_attempt(conn, task_id, latest.attempt, attempt, latest.messages)
    return attempt, latest, history


def discard_checkpoints(conn: sqlite3.Connection, task_id: str) -> int:
    """Drop every checkpoint of the task (its run starts over, or it is final); how many there were."""
    return conn.execute("DELETE FROM checkpoints WHERE task_id = ?", (task_id,)).rowcount


def checkpoint_bytes(conn: sqlite3.Connection, task_id: str) -> int:
    (size,) = conn.execute(
        "SELECT COALESCE(SUM(LENGTH(CAST(state_json AS BLOB))), 0) FROM checkpoints WHERE task_id = ?",
        (task_id,),
    ).fetchone()
    return int(size)


def _state_text(stored: bytes | str) -> str | bytes:
    """A checkpoint's state as JSON: compressed (in task files, since schema v6), or as text (written before)."""
    return zlib.decompress(stored) if isinstance(stored, bytes) else stored


def _checkpoint(row: sqlite3.Row) -> Checkpoint:
    return Checkpoint(
        task_id=row["task_id"], attempt=row["attempt"], round=row["round"], messages=row["messages"],
        state=json.loads(_state_text(row["state_json"])),
        usage_by_agent={a: TokenUsage.model_validate(u) for a, u in json.loads(row["usage_json"]).items()},
        elapsed=row["elapsed"], deadline=parse_timestamp(row["deadline"]), held_by=row["held_by"],
        saved_at=parse_timestamp(row["saved_at"]),
    )
