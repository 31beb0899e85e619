"""Creating tasks: `POST /tasks` and queue messages, validated, started in Durable state.

Nothing is written to SQLite on the request path (on a file share every transaction pays network
round trips and a lock shared by every instance): the run's first attempt writes the task's row,
the reconcile timer writes it for a task not yet running, and until then reads and the list come
from Durable state.

Inline attachments are stored in Blob Storage before the orchestration starts (under an upload id
of this request's own), and only their references go into its input; when the start fails, or
another request with the same key won, what this request stored is deleted again.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from ..files import Attachment, BlobStore, inline_key
from ..schemas import INPUTS_FOLDER, FileRef, QueuedTask, TaskCreate, TaskCreated, TaskInput, TaskSnapshot
from ..store import best_effort
from ..telemetry import trace_parent_for_new_task
from ._errors import InvalidRequest, Unavailable, error_entry
from ._owners import starter_owner
from ._parsing import validate_create_with_files
from ._reader import TaskReader, logger
from ._team_options import resolve_team

# Task ids derived from message keys live in their own UUID namespace.
_MESSAGE_TASKS = uuid.UUID("5b0c2a52-6a0e-4f3c-9b53-7e1f6f1c8d21")
_KEYED_TASKS = uuid.UUID("0f6b7c1e-2d7a-4c55-8f0e-7b1d0c9e3a64")
# RFC 9110 token characters and the usual UUID/ULID shapes; at most 255 (as the IETF draft suggests).
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


@dataclass(frozen=True)
class Created:
    """A task accepted: newly started, or `replayed` for an `Idempotency-Key` already used."""

    task: TaskCreated
    replayed: bool = False


def task_id_for_message(message_key: str) -> str:
    """The task id of a message without one: a name-based UUID of its key (`source:id`)."""
    return str(uuid.uuid5(_MESSAGE_TASKS, message_key))


def task_id_for_key(owner: str | None, idempotency_key: str) -> str:
    """The task id an `Idempotency-Key` stands for, per owner; `InvalidRequest` for a malformed key.

    Deriving the id makes Durable's instance id the lock: concurrent duplicates on different
    instances all name one orchestration, and only one of them can start it."""
    if not _IDEMPOTENCY_KEY.fullmatch(idempotency_key):
        raise InvalidRequest([error_entry(("header", "Idempotency-Key"),
                                          "Idempotency-Key must be 1 to 255 visible ASCII characters",
                                          "idempotency_key_invalid")])
    return str(uuid.uuid5(_KEYED_TASKS, f"{owner or ''}\n{idempotency_key}"))


def new_task(
    reader: TaskReader, request: TaskCreate, owner: str | None, task_id: str, trace_parent: str | None = None,
    files: tuple[FileRef, ...] = (),
) -> TaskInput:
    """The orchestration's input for `request`, with this server's settings for the run."""
    settings = reader.settings
    return TaskInput(
        task_id=task_id,
        prompt=request.prompt,
        use_aoai=request.use_aoai,
        model_name=request.model_name,
        owner=owner,
        created_at=reader.clock(),
        max_attempts=settings.activity_max_attempts,
        first_retry_ms=int(settings.activity_first_retry_seconds * 1000),
        callback_url=request.callback_url,
        review=request.review,
        event_sinks=settings.event_sinks,
        callback_retry_seconds=settings.callback_retry_hours * 3600,
        result_base_url=f"https://{settings.website_hostname}" if settings.website_hostname else "",
        trace_parent=trace_parent_for_new_task(trace_parent),
        team=resolve_team(request, settings),
        request_fingerprint=request.fingerprint(),
        files=files,
    )


async def create(
    reader: TaskReader, new_id: Callable[[], str], body: bytes, owner: str | None,
    idempotency_key: str | None = None, trace_parent: str | None = None,
) -> Created:
    """`POST /tasks`; with an `Idempotency-Key`, the same key from the same owner gets the same task;
    `trace_parent`: the trace the task joins (the HTTP start's span)."""
    request, attachments = validate_create_with_files(body, reader.settings)
    keyed_id = task_id_for_key(owner, idempotency_key) if idempotency_key is not None else None
    task_id = keyed_id or new_id()
    if keyed_id is not None and (existing := await _existing(reader, keyed_id)) is not None:
        return _replayed(existing, new_task(reader, request, owner, task_id, trace_parent, _refs(attachments)))
    async with _stored(reader, task_id, uuid.uuid4().hex, attachments) as files:
        task = new_task(reader, request, owner, task_id, trace_parent, files.refs)
        try:
            await reader.orchestrations.start(task)
        except Exception as error:
            # A concurrent request with the same key may have started it first (Durable refuses a
            # second instance with a running instance's id): then answer as that request did.
            if keyed_id is not None and (existing := await _existing(reader, keyed_id)) is not None:
                return _replayed(existing, task)
            logger.error("task %s could not be started: %s", task.task_id, reader.redact(str(error)))
            raise Unavailable("The task could not be started; try again later") from None
        files.keep()
    return Created(TaskCreated(task_id=task.task_id, status="pending", created_at=task.created_at))


async def submit_queued(
    reader: TaskReader, new_id: Callable[[], str], body: bytes, *, source: str, message_key: str | None = None
) -> str | None:
    """A message or event from the starter `source`: start it and return its id; None when that
    task already exists.

    Its task id is the message's own `task_id`, else one derived from `message_key` (the starter and
    the broker's message id or the event's source and id, stable across redeliveries), so a message
    delivered twice never starts two tasks. Its owner is the message's `owner`, else, while principals
    are trusted, the starter's (`_owners`). Raises `InvalidRequest` for a message that can never
    succeed (the caller drops it)."""
    request, attachments = validate_create_with_files(body, reader.settings, QueuedTask)
    assert isinstance(request, QueuedTask)
    task_id = request.task_id or (task_id_for_message(message_key) if message_key else None)
    if task_id is not None and await _exists(reader, task_id):
        logger.info("queued task %s already exists; not starting it again", task_id)
        return None
    owner = request.owner
    if owner is None and reader.settings.principal_headers_trusted:
        owner = starter_owner(source)
    task_id = task_id or new_id()
    async with _stored(reader, task_id, uuid.uuid4().hex, attachments) as files:
        task = new_task(reader, request, owner, task_id, files=files.refs)
        await reader.orchestrations.start(task)
        files.keep()
    return task.task_id


class _Stored:
    """The references of the attachments a request stored; deleted again unless `keep()` is called."""

    def __init__(self, refs: tuple[FileRef, ...]) -> None:
        self.refs = refs
        self.kept = False

    def keep(self) -> None:
        self.kept = True


@contextlib.asynccontextmanager
async def _stored(
    reader: TaskReader, task_id: str, upload_id: str, attachments: list[Attachment]
) -> AsyncIterator[_Stored]:
    """Store the inline attachments (503 when Blob Storage cannot take them, with nothing left
    behind); on leaving without `keep()`, delete them again."""
    if not any(item.content is not None for item in attachments):
        yield _Stored(_refs(attachments))
        return
    async with reader.blobs() as blobs:
        stored: list[str] = []
        try:
            for item in attachments:
                if item.content is not None:
                    key = inline_key(task_id, upload_id, item.name)
                    stored.append(key)
                    await blobs.upload(key, item.content, content_type=item.content_type)
        except BaseException:
            await _forget(reader, blobs, stored)
            raise
        files = _Stored(_refs(attachments, task_id, upload_id))
        try:
            yield files
        finally:
            if not files.kept:
                await _forget(reader, blobs, stored)


async def _forget(reader: TaskReader, blobs: BlobStore, keys: list[str]) -> None:
    for key in keys:
        try:
            await blobs.delete(key)
        except Exception as error:  # left for the task's deletion or retention to find: it is under its prefix
            logger.warning("an attachment of an unstarted task could not be deleted: %s", reader.redact(str(error)))


def _refs(attachments: list[Attachment], task_id: str = "", upload_id: str = "") -> tuple[FileRef, ...]:
    return tuple(
        FileRef(name=item.name, content_type=item.content_type, url=item.url, size=None, sha256=None)
        if item.content is None else
        FileRef(name=item.name, content_type=item.content_type, size=len(item.content), sha256=item.sha256,
                blob=inline_key(task_id, upload_id, item.name) if task_id else None)
        for item in attachments
    )


def _replayed(existing: TaskSnapshot, asked: TaskInput) -> Created:
    """The answer for a key already used: the same task, or `InvalidRequest` if the request differs in
    any field (its fingerprint, in the orchestration's input, covers the attachments as sent). A task
    Durable no longer holds (its history purged) or started before fingerprints is compared on what
    SQLite keeps of it, and its attachments as named (hashed where given inline)."""
    if existing.request_fingerprint is not None:
        same = (existing.request_fingerprint, existing.owner) == (asked.request_fingerprint, asked.owner)
    else:
        same = (existing.prompt, existing.use_aoai, existing.model_name, existing.owner) == (
            asked.prompt, asked.use_aoai, asked.model_name, asked.owner)
        if existing.files or asked.files:
            same = same and [(f.name, f.sha256 if f.url is None else None) for f in existing.files] == [
                (f.name, f.sha256 if f.url is None else None) for f in asked.files]
    if not same:
        raise InvalidRequest([error_entry(
            ("header", "Idempotency-Key"),
            "This Idempotency-Key was already used with a different request body",
            "idempotency_key_reused",
        )])
    created = TaskCreated(task_id=existing.task_id, status=existing.status, created_at=existing.created_at)
    return Created(created, replayed=True)


async def _existing(reader: TaskReader, task_id: str) -> TaskSnapshot | None:
    durable, _ = await reader.durable_snapshot(task_id)
    if durable is not None:
        return durable
    mirrored = await best_effort(reader.store.get_task, task_id)
    if mirrored is None:
        return None
    # A purged history: the attachments as SQLite lists them (a fetched one by its name only).
    rows = await best_effort(reader.store.file_rows, task_id) or []
    files = tuple(
        FileRef(name=row.name.removeprefix(f"{INPUTS_FOLDER}/"), content_type=row.content_type,
                sha256=None if "/inputs/url/" in row.blob else row.sha256,
                url="(fetched)" if "/inputs/url/" in row.blob else None)  # compared as given by URL
        for row in rows if row.kind == "input")
    return mirrored.model_copy(update={"files": files})


async def _exists(reader: TaskReader, task_id: str) -> bool:
    durable, _ = await reader.durable_snapshot(task_id)
    return durable is not None or bool(await best_effort(reader.store.task_exists, task_id))
