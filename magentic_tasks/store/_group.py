"""Group commit: the transactions one process wants on one file at once share one transaction.

On a file share every transaction pays its round trips (the lock, the journal, the syncs) and holds
the file's one lock, so a process that runs many tasks would otherwise queue its own transactions
behind each other. Here the first caller leads: it runs every work queued so far in one
transaction, each in a savepoint of its own (a work that fails is rolled back alone). Callers that
arrive meanwhile wait, and the first of them leads the next transaction with everything queued by
then. A batch is a write transaction when any of its works writes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

MAX_WORKS = 256  # works in one transaction at most: it holds the file's lock while it runs


class Work:
    """One caller's function over the connection, and what came of it."""

    def __init__(self, fn: Callable[[Any], Any], write: bool) -> None:
        self.fn = fn
        self.write = write
        self.result: Any = None
        self.error: BaseException | None = None
        self.finished = False
        self._wake = threading.Event()

    def outcome(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.result


class GroupCommit:
    """Runs works through `run_batch(works)`, which sets each work's result or error, or raises what
    failed the whole batch."""

    def __init__(self, run_batch: Callable[[Sequence[Work]], None]) -> None:
        self._run_batch = run_batch
        self._lock = threading.Lock()
        self._queue: list[Work] = []
        self._busy = False

    def run(self, fn: Callable[[Any], Any], *, write: bool) -> Any:
        """`fn`'s result, run in a transaction with whatever else this process queued meanwhile."""
        work = Work(fn, write)
        with self._lock:
            self._queue.append(work)
            lead = not self._busy
            self._busy = True
        if not lead:
            work._wake.wait()  # done by a leader, or made the next leader
        if not work.finished:
            self._lead()
        return work.outcome()

    def _lead(self) -> None:
        with self._lock:
            batch, self._queue = self._queue[:MAX_WORKS], self._queue[MAX_WORKS:]
        try:
            self._run_batch(batch)
        except BaseException as error:  # the batch failed as a whole: every caller hears why
            for work in batch:
                work.error = work.error or error
        finally:
            with self._lock:
                for work in batch:
                    work.finished = True
                following = self._queue[0] if self._queue else None
                self._busy = following is not None
            for work in batch:
                work._wake.set()
            if following is not None:
                following._wake.set()
