"""Plan reviews: the one decision taken on a plan under review, first writer wins.

A task created with `"review": "plan"` shows its plan (the round-0 checkpoint of an attempt) and
waits. Every reviewer's input, and the expiry the next slice records when no input came in time,
try to record a decision for that attempt's plan; the first one written is the decision, for every
instance of the app alike (they share the task's file). Durable's external events are no lock: two inputs
raised at once are both delivered, and the orchestration takes one of them.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from ..clock import iso
from ..schemas import ReviewDecision
from ..text import storable


def decide_review(
    conn: sqlite3.Connection, task_id: str, decision: ReviewDecision, at: datetime, attempt: int | None
) -> ReviewDecision:
    """Record `decision` for the plan of `attempt` (None: the task's latest attempt, the one whose
    plan waits) unless one is recorded; the decision recorded, this one or the earlier."""
    conn.execute(
        """INSERT INTO plan_reviews (task_id, attempt, action, plan, decided_at)
           SELECT ?, COALESCE(?, (SELECT MAX(attempt) FROM attempts WHERE task_id = ?), 0), ?, ?, ?
           ON CONFLICT (task_id, attempt) DO NOTHING""",
        (task_id, attempt, task_id, decision.action,
         None if decision.plan is None else storable(decision.plan), iso(at)),
    )
    held = review_decision(conn, task_id, attempt)
    assert held is not None  # this transaction holds the write lock
    return held


def review_decision(conn: sqlite3.Connection, task_id: str, attempt: int | None) -> ReviewDecision | None:
    """The decision recorded for the plan of `attempt` (None: the task's latest attempt), if any."""
    row = conn.execute(
        """SELECT action, plan FROM plan_reviews WHERE task_id = ?
           AND attempt = COALESCE(?, (SELECT MAX(attempt) FROM attempts WHERE task_id = ?), 0)""",
        (task_id, attempt, task_id),
    ).fetchone()
    return None if row is None else ReviewDecision(action=row["action"], plan=row["plan"])
