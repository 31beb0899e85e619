"""The files routes through the real Functions worker: an attachment stored before the run, an
output the terminal's code writes, both listed and downloaded as bytes with their headers, and a
path outside the list refused (Blob Storage in Azurite)."""

from __future__ import annotations

import base64
import uuid

from tests.e2e.conftest import StartApp, as_json
from tests.support.azurite import Azurite
from tests.support.model_server import Script
from tests.worker.conftest import worker_of

WRITE = Script(rounds_before_satisfied=1, turns=(("ComputerTerminal", """Run this:
```python
import pathlib
pathlib.Path("shout.txt").write_text(pathlib.Path("inputs/hello.txt").read_text().upper())
```"""),))


async def test_attachments_and_outputs_through_the_worker(start_worker_app: StartApp, azurite: Azurite) -> None:
    app = await start_worker_app(WRITE, CODE_EXECUTOR="local", TASK_FILES_CONNECTION="TaskFiles",
                                 TaskFiles=azurite.connection_string, TASK_FILES_CONTAINER=f"w{uuid.uuid4().hex[:20]}")
    body = {"prompt": "Shout the attachment", "use_aoai": False, "agents": ["code"],
            "files": [{"name": "hello.txt", "content": base64.b64encode(b"hello worker").decode()}]}
    created = await app.post_task(body)
    assert created.status_code == 202, created.get_body()
    task_id = as_json(created)["task_id"]
    result = await app.run_to_end(task_id)
    assert [f["name"] for f in result["result"]["files"]] == ["shout.txt"]

    listed = as_json(await app.host.call_http(("GET", f"/tasks/{task_id}/files")))
    assert [f["name"] for f in listed["inputs"]] == ["inputs/hello.txt"]
    output = await app.host.call_http(("GET", f"/tasks/{task_id}/files/shout.txt"))
    given = await app.host.call_http(("GET", f"/tasks/{task_id}/files/inputs/hello.txt"))
    assert (output.status_code, output.get_body()) == (200, b"HELLO WORKER")
    assert given.get_body() == b"hello worker" and given.mimetype.startswith("text/plain")
    assert output.headers["Content-Disposition"] == "attachment; filename=\"shout.txt\"; filename*=UTF-8''shout.txt"
    refused = await app.host.call_http(("GET", f"/tasks/{task_id}/files/inputs/../shout.txt"))
    assert refused.status_code == 404
    assert worker_of(app).errors_logged() == []
