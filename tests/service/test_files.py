"""The service's side of task files against Azurite: attachments stored before the start and
deleted again when the start fails or another request won; retention deleting a task's blobs."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from magentic_tasks.files import output_key
from magentic_tasks.files._azure_blobs import AzureBlobStore
from magentic_tasks.files._connection import resolve_connection
from magentic_tasks.schemas import RunOutcome, TaskFile
from magentic_tasks.service import TaskService
from magentic_tasks.settings import Settings
from magentic_tasks.store import TaskStore
from starters.http_api import answered
from tests.support.azurite import Azurite
from tests.support.in_memory import InMemoryOrchestrations

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


class Blobs:
    """A fresh container in Azurite, and a factory of stores on it."""

    def __init__(self, azurite: Azurite) -> None:
        self.connection = resolve_connection("TaskFiles", {"TaskFiles": azurite.connection_string})
        self.container = f"s{uuid.uuid4().hex[:20]}"

    def __call__(self) -> AzureBlobStore:
        return AzureBlobStore.connect(self.connection, self.container)

    async def names(self) -> list[str]:
        store = self()
        try:
            names = [b.name async for b in store._container.list_blobs()]
        except Exception:  # no container yet: nothing stored
            names = []
        finally:
            await store.close()
        return sorted(names)


@pytest.fixture
def blobs(azurite: Azurite) -> Blobs:
    return Blobs(azurite)


@pytest.fixture
def durable() -> InMemoryOrchestrations:
    return InMemoryOrchestrations()


@pytest.fixture
def make_service(tmp_path: Path, durable: InMemoryOrchestrations, blobs: Blobs) -> Iterator[Any]:
    def make(clock: datetime = NOW, **settings: Any) -> TaskService:
        ids = iter(f"task-{n}" for n in range(1, 100))
        values = {"OPENAI_API_KEY": "sk-test-openai-key-000000", "TASKS_DB_PATH": str(tmp_path / "tasks.db"),
                  **settings}
        return TaskService(Settings(**values), durable, TaskStore(tmp_path / "tasks.db"), clock=lambda: clock,
                           new_id=lambda: next(ids), blob_store=blobs)

    yield make


def body(*files: tuple[str, bytes]) -> bytes:
    return json.dumps({"prompt": "p", "use_aoai": False, "files": [
        {"name": name, "content": base64.b64encode(data).decode()} for name, data in files]}).encode()


async def test_a_failed_start_leaves_no_blob_behind(make_service: Any, durable: InMemoryOrchestrations,
                                                    blobs: Blobs) -> None:
    service = make_service()
    durable.fail_start = True
    response = await answered(service.create(body(("a.txt", b"a"), ("b.txt", b"b")), owner=None))
    assert response.status_code == 503
    assert await blobs.names() == []


async def test_a_replayed_key_stores_nothing_more_and_a_reused_one_nothing_at_all(
    make_service: Any, durable: InMemoryOrchestrations, blobs: Blobs
) -> None:
    service = make_service()
    first = await answered(service.create(body(("a.txt", b"a")), owner=None, idempotency_key="k"))
    stored = await blobs.names()
    again = await answered(service.create(body(("a.txt", b"a")), owner=None, idempotency_key="k"))
    other = await answered(service.create(body(("a.txt", b"changed")), owner=None, idempotency_key="k"))
    assert (first.status_code, again.status_code, again.headers["Idempotent-Replayed"]) == (202, 202, "true")
    assert other.status_code == 422 and other.body["detail"][0]["type"] == "idempotency_key_reused"
    assert len(stored) == 1 and await blobs.names() == stored
    (task,) = durable.started.values()
    assert task.files[0].blob == stored[0] and '"content":' not in task.model_dump_json()  # a reference only


async def test_retention_deletes_a_tasks_blobs_with_its_rows(
    make_service: Any, durable: InMemoryOrchestrations, blobs: Blobs
) -> None:
    service = make_service()
    created = await answered(service.create(body(("a.txt", b"attached")), owner=None))
    task_id = created.body["task_id"]
    keep = await answered(service.create(body(("b.txt", b"young")), owner=None))
    output = blobs()
    await output.upload(output_key(task_id, "out.txt"), b"made", content_type="text/plain")
    await output.close()
    outcome = RunOutcome(status="completed", finished_at=NOW, files=[
        TaskFile(name="out.txt", size=4, sha256="0" * 64, content_type="text/plain")])
    durable.finish(task_id, outcome)
    assert await service.mirror_recent() == 2 and await service.reconcile([task_id]) == 1
    assert len(await blobs.names()) == 3

    later = make_service(clock=NOW + timedelta(days=2), TASK_RETENTION_DAYS="1")
    report = await later.apply_retention()

    assert report.tasks_deleted == 1
    (left,) = await blobs.names()  # only the younger task's attachment
    assert left.startswith(f"{keep.body['task_id']}/inputs/")
    assert later.store.file_rows(task_id) == []



async def test_after_its_history_is_purged_a_task_still_names_its_attachments_for_a_replay(
    make_service: Any, durable: InMemoryOrchestrations
) -> None:
    from magentic_tasks.service._creating import _existing

    service = make_service()
    first = await answered(service.create(body(("a.txt", b"a")), owner=None, idempotency_key="k"))
    task_id = first.body["task_id"]
    await service.mirror_recent()  # SQLite lists the attachment
    await durable.purge(task_id)
    existing = await _existing(service.reader, task_id)
    assert existing is not None
    assert [(f.name, f.sha256, f.url) for f in existing.files] == [
        ("a.txt", "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb", None)]
