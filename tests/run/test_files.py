"""A run's files across attempts and slices (`RunFiles`, Blob Storage in Azurite): attachments
staged idempotently (a URL fetched once, then from Blob Storage), outputs kept, and a resumed
attempt on an instance without the workspace finds its inputs and the outputs so far."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from magentic_tasks.files import inline_key
from magentic_tasks.files._azure_blobs import AzureBlobStore
from magentic_tasks.files._connection import resolve_connection
from magentic_tasks.run._files import FilesRefused, RunFiles
from magentic_tasks.schemas import FileRef, TaskInput
from magentic_tasks.settings import Settings
from magentic_tasks.store import TaskStore
from tests.support.azurite import Azurite
from tests.support.https_server import HttpsFileServer

NOTES = b"notes for the team\n"
DATA = bytes(range(256)) * 200


@pytest.fixture
def https(tmp_path: Path) -> HttpsFileServer:
    with HttpsFileServer(tmp_path / "tls", {"/data.bin": DATA}) as server:
        yield server  # type: ignore[misc]


async def test_a_resumed_attempt_without_the_workspace_finds_its_inputs_and_outputs(
    azurite: Azurite, https: HttpsFileServer, tmp_path: Path, clean_model_env: None
) -> None:
    container = f"r{uuid.uuid4().hex[:20]}"
    env = {"TaskFiles": azurite.connection_string}

    def blobs() -> AzureBlobStore:
        return AzureBlobStore.connect(resolve_connection("TaskFiles", env), container)

    settings = Settings(TASK_FILES_CONNECTION="TaskFiles", TASK_FILES_CONTAINER=container,
                        FILES_URL_ALLOWED_HOSTS="127.0.0.1", FILES_URL_ALLOW_PRIVATE_NETWORKS=True,
                        FILES_URL_CA_BUNDLE=str(https.ca_bundle), TASK_WORKSPACE_ROOT=str(tmp_path / "ws"))
    store = TaskStore(tmp_path / "tasks.db")
    key = inline_key("t-1", "u1", "notes.txt")
    uploader = blobs()
    await uploader.upload(key, NOTES, content_type="text/plain")
    await uploader.close()
    task = TaskInput(task_id="t-1", prompt="Use the files", use_aoai=False, model_name="gpt-4o",
                     created_at=datetime(2026, 1, 1, tzinfo=UTC), files=(
                         FileRef(name="notes.txt", content_type="text/plain", size=len(NOTES),
                                 sha256=hashlib.sha256(NOTES).hexdigest(), blob=key),
                         FileRef(name="data.bin", content_type="application/octet-stream", url=https.url("/data.bin"))))
    store.create_task(task)
    workspace = tmp_path / "ws" / "t-1"
    first = RunFiles(task, settings, store, workspace, blobs)

    text = await first.prepare()
    assert "- inputs/notes.txt (19 bytes, text/plain)" in text and "- inputs/data.bin (51200 bytes" in text
    assert (workspace / "inputs" / "data.bin").read_bytes() == DATA
    assert await first.prepare() == text  # idempotent: nothing fetched again
    assert https.requests == ["/data.bin"]
    (workspace / "out").mkdir()
    (workspace / "out" / "table.csv").write_text("a,b\n")
    (workspace / "draft.txt").write_text("draft")
    await first.sync()  # a pause: the outputs so far are kept

    await asyncio.to_thread(shutil.rmtree, workspace)  # the next attempt runs elsewhere
    second = RunFiles(task, settings, store, workspace, blobs)
    assert await second.prepare() == text
    assert https.requests == ["/data.bin"]  # the fetched attachment came back from Blob Storage
    assert (workspace / "inputs" / "notes.txt").read_bytes() == NOTES
    assert (workspace / "out" / "table.csv").read_text() == "a,b\n" and (workspace / "draft.txt").exists()

    (workspace / "draft.txt").unlink()
    (workspace / "final.txt").write_text("final")
    kept, skipped = await second.keep()
    assert [f.name for f in kept] == ["final.txt", "out/table.csv"] and skipped == []
    names = sorted(row.name for row in store.file_rows("t-1"))
    assert names == ["final.txt", "inputs/data.bin", "inputs/notes.txt", "out/table.csv"]
    check = blobs()
    try:
        assert await check.download("t-1/outputs/final.txt") == b"final"
        assert await check.delete_prefix("t-1/outputs/draft.txt") == 0  # gone with the file
    finally:
        await check.close()


async def test_a_refused_url_fails_the_run_with_the_file_named(
    tmp_path: Path, clean_model_env: None, azurite: Azurite
) -> None:
    settings = Settings(TASK_FILES_CONNECTION="TaskFiles", FILES_URL_ALLOWED_HOSTS="files.example.com")
    task = TaskInput(task_id="t-2", prompt="p", use_aoai=False, model_name="gpt-4o",
                     created_at=datetime(2026, 1, 1, tzinfo=UTC),
                     files=(FileRef(name="a.txt", content_type="text/plain", url="https://elsewhere.example/a.txt"),))
    env = {"TaskFiles": azurite.connection_string}
    files = RunFiles(task, settings, TaskStore(tmp_path / "t.db"), tmp_path / "ws",
                     lambda: AzureBlobStore.connect(resolve_connection("TaskFiles", env), f"r{uuid.uuid4().hex[:20]}"))
    with pytest.raises(FilesRefused, match=r"the attachment a\.txt: refused"):
        await files.prepare()
