"""Files in and out, end to end: the app's real functions on the fake Durable host, the real team on
the scripted model, Blob Storage in a real Azurite, attachments by URL from a local HTTPS server.

The FileSurfer opens an attachment, code the ComputerTerminal runs (CODE_EXECUTOR=local) reads both
attachments and writes outputs, which download byte for byte; owners see only their own files;
deleting a task deletes its blobs; Blob Storage out of reach is a 503 on upload and download, and at
the end of a run a retried activity, never a lost file."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob.aio import ContainerClient

from tests.e2e.conftest import Harness, StartApp, as_json
from tests.support.azurite import Azurite, connection_string
from tests.support.https_server import HttpsFileServer
from tests.support.model_server import Script
from tests.support.tcp_switch import TcpSwitch

NOTES = "Quarterly notes: the answer is 42.\n"
DATA = os.urandom(50_000)
CODE = """```python
import hashlib, pathlib
notes = pathlib.Path("inputs/notes.txt").read_text()
data = pathlib.Path("inputs/data.bin").read_bytes()
pathlib.Path("out").mkdir(exist_ok=True)
pathlib.Path("report.txt").write_text(notes.upper() + hashlib.sha256(data).hexdigest())
pathlib.Path("out/reversed.bin").write_bytes(data[::-1])
print("written")
```"""
SCRIPT = Script(
    rounds_before_satisfied=2,
    turns=(("FileSurfer", "Open inputs/notes.txt and read it."), ("ComputerTerminal", f"Run this:\n{CODE}")),
    file_surfer_tool=("open_path", json.dumps({"path": "inputs/notes.txt"})),
)
WRITE_ONLY = Script(rounds_before_satisfied=1, turns=(("ComputerTerminal", """Run this:
```python
open("answer.txt", "w").write("42")
```"""),))
PRINCIPAL = "X-MS-CLIENT-PRINCIPAL-ID"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture
async def https(tmp_path: Path) -> AsyncIterator[HttpsFileServer]:
    with HttpsFileServer(tmp_path / "tls", {"/data.bin": DATA}) as server:
        yield server


def files_env(connection: str, container: str, https: HttpsFileServer | None = None) -> dict[str, Any]:
    env: dict[str, Any] = {
        "CODE_EXECUTOR": "local", "TASK_FILES_CONNECTION": "TaskFiles", "TaskFiles": connection,
        "TASK_FILES_CONTAINER": container, "TRUST_PRINCIPAL_HEADERS": "true",
    }
    if https is not None:
        env |= {"FILES_URL_ALLOWED_HOSTS": "127.0.0.1", "FILES_URL_ALLOW_PRIVATE_NETWORKS": "true",
                "FILES_URL_CA_BUNDLE": str(https.ca_bundle)}
    return env


def container_name() -> str:
    return f"e2e{uuid.uuid4().hex[:20]}"


async def blob_names(azurite: Azurite, container: str, prefix: str = "") -> list[str]:
    async with ContainerClient.from_connection_string(azurite.connection_string, container) as client:
        try:
            return sorted([blob.name async for blob in client.list_blobs(name_starts_with=prefix)])
        except ResourceNotFoundError:  # no container: nothing was ever stored
            return []


async def list_files(app: Harness, task_id: str, owner: str = "alice") -> Any:
    return await app.host.call_http("list_task_files", route_params={"task_id": task_id}, headers={PRINCIPAL: owner})


async def download(app: Harness, task_id: str, name: str, owner: str = "alice") -> Any:
    return await app.host.call_http("get_task_file", route_params={"task_id": task_id, "name": name},
                                    headers={PRINCIPAL: owner})


def task_body(files: list[dict[str, str]], prompt: str = "Summarise the attached notes.") -> dict[str, Any]:
    return {"prompt": prompt, "use_aoai": False, "agents": ["files", "code"], "files": files}


@pytest.mark.parametrize("slice_seconds", [240, 0.001], ids=["one-slice", "every-round-a-slice"])
async def test_attachments_reach_the_team_and_its_outputs_download_byte_for_byte(
    start_app: StartApp, azurite: Azurite, https: HttpsFileServer, slice_seconds: float
) -> None:
    container = container_name()
    # Sliced, each slice stages the attachments again (from its workspace, else Blob Storage) and
    # keeps the outputs so far at its pause.
    app = await start_app(SCRIPT, SLICE_SECONDS=slice_seconds, **files_env(azurite.connection_string, container, https))
    app.finish_timeout = 60.0
    files = [{"name": "notes.txt", "content": b64(NOTES.encode())}, {"name": "data.bin", "url": https.url("/data.bin")}]
    created = await app.post_task(task_body(files), headers={PRINCIPAL: "alice"})
    assert created.status_code == 202, created.get_body()
    task_id = as_json(created)["task_id"]
    # The inline attachment is in Blob Storage before the run, and only its reference is in Durable state.
    instance = app.host.get_instance(task_id)
    assert instance is not None and b64(NOTES.encode()) not in json.dumps(instance.status_json(show_input=True))

    result = await app.run_to_end(task_id, headers={PRINCIPAL: "alice"})
    assert result["status"] == "completed", result
    messages = result["result"]["messages"]
    task_text = messages[0]["content"]
    assert "inputs/notes.txt (35 bytes, text/plain)" in task_text and "inputs/data.bin (50000 bytes" in task_text
    assert any(m["source"] == "FileSurfer" and "the answer is 42" in m["content"] for m in messages)
    report = NOTES.upper() + hashlib.sha256(DATA).hexdigest()
    kept = {f["name"]: f for f in result["result"]["files"]}
    assert set(kept) == {"report.txt", "out/reversed.bin"}
    assert kept["out/reversed.bin"] == {"name": "out/reversed.bin", "size": 50_000, "content_type":
                                        "application/octet-stream", "sha256": hashlib.sha256(DATA[::-1]).hexdigest()}
    assert result["result"]["files_skipped"] == []
    assert https.requests == ["/data.bin"]  # fetched once, by the run

    listed = await list_files(app, task_id)
    assert listed.status_code == 200
    body = as_json(listed)
    assert [f["name"] for f in body["inputs"]] == ["inputs/data.bin", "inputs/notes.txt"]
    assert [f["name"] for f in body["outputs"]] == ["out/reversed.bin", "report.txt"]
    for name, expected in (("report.txt", report.encode()), ("out/reversed.bin", DATA[::-1]),
                           ("inputs/notes.txt", NOTES.encode()), ("inputs/data.bin", DATA)):
        got = await download(app, task_id, name)
        assert got.status_code == 200 and got.get_body() == expected, name
        assert got.headers["Content-Disposition"].startswith("attachment; filename=")
        assert got.headers["X-Content-Type-Options"] == "nosniff"
    assert (await download(app, task_id, "report.txt")).mimetype == "text/plain"

    # Nothing outside the list is ever reached, however the name is written.
    for name in ("../../etc/passwd", "inputs/../report.txt", "/report.txt", "REPORT.TXT", "inputs", "nope.txt"):
        assert (await download(app, task_id, name)).status_code == 404, name
    # Another principal sees neither the list nor a file.
    assert (await list_files(app, task_id, owner="mallory")).status_code == 404
    assert (await download(app, task_id, "report.txt", owner="mallory")).status_code == 404

    assert len(await blob_names(azurite, container, f"{task_id}/")) == 4
    deleted = await app.host.call_http("delete_task", route_params={"task_id": task_id}, headers={PRINCIPAL: "alice"})
    assert deleted.status_code == 204
    assert await blob_names(azurite, container, f"{task_id}/") == []
    assert app.db_rows("task_files") == []


@pytest.mark.parametrize(("files", "loc", "kind"), [
    ([{"name": f"{n}.txt", "content": ""} for n in range(3)], ["body", "files"], "too_many_files"),
    ([{"name": "big.bin", "content": b64(b"x" * 2000)}], ["body", "files", 0, "content"], "file_too_large"),
    ([{"name": "a", "content": b64(b"x" * 900)}, {"name": "b", "content": b64(b"x" * 900)}],
     ["body", "files", 1, "content"], "files_too_large"),
    ([{"name": "../up.txt", "content": ""}], ["body", "files", 0, "name"], "file_name_refused"),
    ([{"name": "a.txt", "content": "%%%"}], ["body", "files", 0, "content"], "base64_invalid"),
    ([{"name": "a.txt", "url": "https://10.1.2.3/a.txt"}], ["body", "files", 0, "url"], "url_refused"),
    ([{"name": "a.txt", "content": "", "url": "https://x.example/a"}], ["body", "files", 0], "value_error"),
])
async def test_each_limit_is_a_422_and_nothing_is_created_or_stored(
    start_app: StartApp, azurite: Azurite, files: list[dict[str, str]], loc: list[Any], kind: str
) -> None:
    container = container_name()
    app = await start_app(None, FILES_MAX_COUNT=2, FILES_MAX_BYTES=1000, FILES_INLINE_MAX_BYTES=1500,
                          **files_env(azurite.connection_string, container))
    response = await app.post_task(task_body(files))
    assert response.status_code == 422, response.get_body()
    (problem,) = as_json(response)["detail"]
    assert (problem["loc"], problem["type"]) == (loc, kind)
    app.assert_nothing_created()
    assert await blob_names(azurite, container) == []


async def test_blob_storage_out_of_reach_is_a_503_on_upload_and_download_and_a_retried_end(
    start_app: StartApp, azurite: Azurite
) -> None:
    async with TcpSwitch(azurite.port) as switch:
        container = container_name()
        # The retry waits 5 s (a 500 s Durable timer at the harness's scale): the test turns storage back
        # on once the run's result is held in SQLite waiting for it.
        app = await start_app(WRITE_ONLY, ACTIVITY_FIRST_RETRY_SECONDS=500, ACTIVITY_MAX_ATTEMPTS=2,
                              **files_env(connection_string(switch.port), container))
        app.finish_timeout = 60.0
        switch.on = False
        refused = await app.post_task(task_body([{"name": "a.txt", "content": b64(b"hello")}]),
                                      headers={PRINCIPAL: "alice"})
        assert refused.status_code == 503 and refused.headers["Retry-After"] == "10"
        assert "Blob Storage" in as_json(refused)["detail"]
        app.assert_nothing_created()

        created = await app.post_task(task_body([], prompt="Write the answer to answer.txt"),
                                      headers={PRINCIPAL: "alice"})
        task_id = as_json(created)["task_id"]
        deadline = time.monotonic() + 60
        while not app.db_rows("finishing_outcomes"):  # the team is done; its output waits for storage
            assert time.monotonic() < deadline, "the run never held its result back for its outputs"
            await asyncio.sleep(0.05)
        status = as_json(await app.get_status(task_id, {PRINCIPAL: "alice"}))["status"]
        assert status == "running"  # the result is not given out without its files
        switch.on = True
        result = await app.run_to_end(task_id, headers={PRINCIPAL: "alice"})
        assert result["status"] == "completed"
        assert [f["name"] for f in result["result"]["files"]] == ["answer.txt"]
        assert [c.name for c in app.host.activity_calls if c.name == "run_magentic_one_activity"] == [
            "run_magentic_one_activity"] * 2
        assert app.db_rows("finishing_outcomes") == []

        switch.on = False
        listed = await list_files(app, task_id)  # the list is state, not storage
        assert listed.status_code == 200 and [f["name"] for f in as_json(listed)["outputs"]] == ["answer.txt"]
        down = await download(app, task_id, "answer.txt")
        assert down.status_code == 503 and down.headers["Retry-After"] == "10"
        switch.on = True
        assert (await download(app, task_id, "answer.txt")).get_body() == b"42"


async def test_when_every_retry_finds_storage_out_of_reach_the_result_is_kept_and_says_so(
    start_app: StartApp, azurite: Azurite
) -> None:
    async with TcpSwitch(azurite.port) as switch:
        app = await start_app(WRITE_ONLY, ACTIVITY_MAX_ATTEMPTS=2,
                              **files_env(connection_string(switch.port), container_name()))
        app.finish_timeout = 60.0
        switch.on = False
        created = await app.post_task(task_body([], prompt="Write the answer to answer.txt"),
                                      headers={PRINCIPAL: "alice"})
        result = await app.run_to_end(as_json(created)["task_id"], headers={PRINCIPAL: "alice"})
    assert result["status"] == "completed"  # the team's answer, not a failure of storage
    assert result["result"]["task_result"]["final_answer"]
    assert result["result"]["files"] == []
    (skipped,) = result["result"]["files_skipped"]
    assert "Blob Storage was unavailable" in skipped["reason"]
    assert [c.name for c in app.host.activity_calls].count("record_failure_activity") == 1


async def test_a_queued_task_takes_attachments_too(start_app: StartApp, azurite: Azurite) -> None:
    app = await start_app(WRITE_ONLY, **files_env(azurite.connection_string, container_name()))
    app.finish_timeout = 60.0
    message = {"task_id": "queued-files", "prompt": "Use the notes", "use_aoai": False, "agents": ["code"],
               "owner": "alice", "files": [{"name": "notes.txt", "content": b64(b"queued notes")}]}
    await app.host.send_queue_message("magentic-tasks", message)
    result = await app.run_to_end("queued-files", headers={PRINCIPAL: "alice"})  # the message names its owner
    assert "inputs/notes.txt (12 bytes, text/plain)" in result["result"]["messages"][0]["content"]
    route = {"task_id": "queued-files", "name": "inputs/notes.txt"}
    got = await app.host.call_http("get_task_file", route_params=route, headers={PRINCIPAL: "alice"})
    assert got.get_body() == b"queued notes"


MANY = Script(rounds_before_satisfied=1, turns=(("ComputerTerminal", """Run this:
```python
import os
for name, size in (("a.txt", 10), ("b.txt", 10), ("c.txt", 10), ("aa-huge.bin", 5000)):
    open(name, "w").write("x" * size)
os.symlink("/etc/passwd", "passwd-link")
```"""),))


async def test_outputs_past_the_limits_and_links_are_listed_as_skipped_not_dropped(
    start_app: StartApp, azurite: Azurite
) -> None:
    app = await start_app(MANY, ARTIFACT_MAX_FILES=2, ARTIFACT_MAX_BYTES=1000,
                          **files_env(azurite.connection_string, container_name()))
    app.finish_timeout = 60.0
    created = await app.post_task(task_body([], prompt="Write files"), headers={PRINCIPAL: "alice"})
    task_id = as_json(created)["task_id"]
    result = (await app.run_to_end(task_id, headers={PRINCIPAL: "alice"}))["result"]
    assert [f["name"] for f in result["files"]] == ["a.txt", "b.txt"]
    assert {s["name"]: s["reason"].split(" (")[0] for s in result["files_skipped"]} == {
        "c.txt": "over ARTIFACT_MAX_FILES", "aa-huge.bin": "over ARTIFACT_MAX_BYTES",
        "passwd-link": "a symbolic link"}
    listed = as_json(await list_files(app, task_id))
    assert listed["skipped"] == result["files_skipped"]
    assert (await download(app, task_id, "passwd-link")).status_code == 404
