"""Group commit: the transactions one process wants on one file at once share one transaction.

On a file share every transaction pays its round trips (the lock, the journal, the syncs) and holds
the file's one lock, so a process that runs many tasks would otherwise queue its own transactions
behind each other. Works are queued in the order they are submitted. A caller waiting for its work
leads when no transaction is under way: it runs every work queued so far in one transaction, each
in a savepoint of its own (a work that fails is rolled back alone), and works queued while it takes
the file's lock join it (`late`). The next waiting caller leads the next transaction. A transaction
is a write transaction when any of its works writes; a read transaction takes no late writes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

MAX_WORKS = 256  # works in one transaction at most: it holds the file's lock while it runs

# run_batch(works, late): runs `works` (a list it may extend with `late(write)`) in one transaction,
# setting each work's result or error; raises what failed the whole batch.
RunBatch = Callable[[list["Work"], Callable[[bool], list["Work"]]], None]


class Work:
    """One caller's function over the connection, and what came of it."""

    def __init__(self, fn: Callable[[Any], Any], write: bool) -> None:
        self.fn = fn
        self.write = write
        self.result: Any = None
        self.error: BaseException | None = None
        self.finished = False
        self.waiting = False
        self._wake = threading.Event()

    def outcome(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.result


class GroupCommit:
    """The queue of one file's works in one process, and who runs them."""

    def __init__(self, run_batch: RunBatch) -> None:
        self._run_batch = run_batch
        self._lock = threading.Lock()
        self._queue: list[Work] = []
        self._busy = False

    def run(self, fn: Callable[[Any], Any], *, write: bool) -> Any:
        """`fn`'s result, run in a transaction with whatever else this process queued meanwhile."""
        return self.wait(self.submit(fn, write=write))

    def submit(self, fn: Callable[[Any], Any], *, write: bool) -> Work:
        """Queue `fn` (no I/O, never blocks): works run in the order they were submitted."""
        work = Work(fn, write)
        with self._lock:
            self._queue.append(work)
        return work

    def wait(self, work: Work) -> Any:
        """Block until `work` has run (leading a transaction if none is under way); its result."""
        with self._lock:
            work.waiting = True
            lead = not work.finished and not self._busy
            self._busy = self._busy or lead
        if not lead and not work.finished:
            work._wake.wait()  # done by a leader, or made the next leader
        if not work.finished:
            self._lead()
        return work.outcome()

    def _lead(self) -> None:
        with self._lock:
            batch, self._queue = self._queue[:MAX_WORKS], self._queue[MAX_WORKS:]
        try:
            self._run_batch(batch, lambda write: self._late(write, MAX_WORKS - len(batch)))
        except BaseException as error:  # the batch failed as a whole: every caller hears why
            for work in batch:
                work.error = work.error or error
        finally:
            with self._lock:
                for work in batch:
                    work.finished = True
                following = next((work for work in self._queue if work.waiting), None)
                self._busy = following is not None
            for work in batch:
                work._wake.set()
            if following is not None:
                following._wake.set()

    def _late(self, write: bool, room: int) -> list[Work]:
        """Works queued since the batch was taken that may join its transaction (in their order: a
        write stops a read transaction's taking)."""
        with self._lock:
            joining: list[Work] = []
            for work in self._queue[:room]:
                if work.write and not write:
                    break
                joining.append(work)
            del self._queue[: len(joining)]
        return joining
