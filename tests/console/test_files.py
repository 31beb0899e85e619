"""console/attachments.js and console/files.js: files attached in the "New task" form become the
task's inputs, byte for byte; a task's inputs and outputs are listed in its view and download
through the API (the function key sent) as the exact bytes; names are shown as text; attachments
past a limit are refused with a clear message, by the page or by the API, and start nothing; no
files (or no files route) shows no section. Blob Storage is a real Azurite (tests/support/azurite.py).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.console.conftest import KEY, Console, StartConsole, expect, shown_status, start_from_form, submit_form
from tests.e2e.conftest import Harness, as_json
from tests.support.azurite import Azurite
from tests.support.https_server import HttpsFileServer
from tests.support.model_server import Script

pytestmark = pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning")

NOTES = b"Quarterly notes: the answer is 42.\n"
# More than one of attachments.js's base64 chunks (24,576 bytes), and not a multiple of 3.
DATA = os.urandom(100_000)
# Every byte value, so a download that decoded or re-encoded text would not match.
OUTPUT = bytes(range(256)) * 1000
KEPT_ODD_NAME = "50% of #1 &lt;b&gt; 'q'.txt"  # kept as is: only <>:"|?* are not; the URL needs every escape
HOSTILE_NAME = "<img src=x onerror=alert('name')>.txt"  # not a safe name: listed as not kept, by its name
WRITE = f'''Run this:
```python
import pathlib
pathlib.Path("out").mkdir(exist_ok=True)
pathlib.Path("out/data.bin").write_bytes(bytes(range(256)) * 1000)
pathlib.Path("report.txt").write_text("The answer is 42.\\n")
pathlib.Path("""{KEPT_ODD_NAME}""").write_text("odd but kept")
pathlib.Path("""{HOSTILE_NAME}""").write_text("never kept")
print("written")
```'''
WRITES_FILES = Script(rounds_before_satisfied=1, turns=(("ComputerTerminal", WRITE),))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def files_env(azurite: Azurite, **more: object) -> dict[str, object]:
    """Task files in a fresh container of Azurite; code the ComputerTerminal runs, on this machine."""
    return {"TASK_FILES_CONNECTION": "TaskFiles", "TaskFiles": azurite.connection_string,
            "TASK_FILES_CONTAINER": f"console{uuid.uuid4().hex[:20]}", "CODE_EXECUTOR": "local", **more}


async def listed_files(app: Harness, task_id: str) -> Any:
    response = await app.host.call_http("list_task_files", route_params={"task_id": task_id})
    assert response.status_code == 200, response.get_body()
    return as_json(response)


async def table_rows(page: Any, caption: str) -> list[list[str]]:
    """The cells' text of the task view's file table `caption`, header row left out."""
    table = page.get_by_role("table", name=caption)
    await expect(table).to_be_visible()
    rows: list[list[str]] = await table.evaluate(
        "t => [...t.rows].slice(1).map(r => [...r.cells].map(c => c.textContent))")
    return rows


async def saved(download: Any) -> bytes:
    """The bytes Chromium saved for `download`, once it has finished."""
    path = await download.path()
    return await asyncio.to_thread(Path(path).read_bytes)


async def attach(page: Any, *files: dict[str, Any]) -> None:
    await page.get_by_text("Attachments", exact=True).click()  # folded away until asked for
    await page.get_by_label("Files to attach").set_input_files(list(files))


async def test_files_attached_in_the_form_are_the_tasks_inputs_byte_for_byte(
    start_console: StartConsole, console: Console, azurite: Azurite
) -> None:
    app = await start_console(Script(rounds_before_satisfied=0), **files_env(azurite))
    page = await console.open(app)

    await attach(page, {"name": "notes.txt", "mimeType": "text/plain", "buffer": NOTES},
                 {"name": "data.bin", "mimeType": "application/octet-stream", "buffer": DATA})
    task_id = await start_from_form(page, "Summarise the attached notes.")
    await expect(page.get_by_label("Files to attach")).to_have_value("")  # cleared with the prompt
    await shown_status(page, "completed")

    (create,) = [request for request, _ in app.host.http_exchanges if request.method == "POST"]
    assert as_json(create)["files"] == [{"name": "notes.txt", "content": base64.b64encode(NOTES).decode()},
                                        {"name": "data.bin", "content": base64.b64encode(DATA).decode()}]
    listed = await listed_files(app, task_id)
    assert listed["inputs"] == [
        {"name": "inputs/data.bin", "size": len(DATA), "sha256": sha256(DATA),
         "content_type": "application/octet-stream"},
        {"name": "inputs/notes.txt", "size": len(NOTES), "sha256": sha256(NOTES), "content_type": "text/plain"},
    ]
    assert listed["outputs"] == listed["skipped"] == []
    result = as_json(await app.get_result(task_id))
    assert "inputs/notes.txt (35 bytes, text/plain)" in result["result"]["messages"][0]["content"]  # the team's task
    assert await table_rows(page, "Attachments") == [
        ["inputs/data.bin", "97.7 KiB", "application/octet-stream", "Download"],
        ["inputs/notes.txt", "35 bytes", "text/plain", "Download"],
    ]
    await expect(page.get_by_role("table", name="Outputs")).to_have_count(0)


async def test_a_url_given_in_the_form_is_fetched_by_the_run_and_listed_as_an_input(
    start_console: StartConsole, console: Console, azurite: Azurite, tmp_path: Path
) -> None:
    with HttpsFileServer(tmp_path / "tls", {"/reports/q3.csv": DATA}) as https:
        app = await start_console(Script(rounds_before_satisfied=0), **files_env(
            azurite, FILES_URL_ALLOWED_HOSTS="127.0.0.1", FILES_URL_ALLOW_PRIVATE_NETWORKS="true",
            FILES_URL_CA_BUNDLE=str(https.ca_bundle)))
        page = await console.open(app)
        await page.get_by_text("Attachments", exact=True).click()
        await page.get_by_label("Files to fetch").fill(f"\n  {https.url('/reports/q3.csv')}  \n")
        task_id = await start_from_form(page, "Summarise the quarter.")
        await expect(page.get_by_label("Files to fetch")).to_have_value("")
        await shown_status(page, "completed")

    (create,) = [request for request, _ in app.host.http_exchanges if request.method == "POST"]
    assert as_json(create)["files"] == [{"name": "q3.csv", "url": https.url("/reports/q3.csv")}]
    assert https.requests == ["/reports/q3.csv"]  # by the run, never by the browser
    assert (await listed_files(app, task_id))["inputs"] == [
        {"name": "inputs/q3.csv", "size": len(DATA), "sha256": sha256(DATA), "content_type": "text/csv"}]
    rows = await table_rows(page, "Attachments")
    assert rows == [["inputs/q3.csv", "97.7 KiB", "text/csv", "Download"]]


async def test_an_output_the_team_wrote_downloads_as_its_exact_bytes_with_the_key(
    start_console: StartConsole, console: Console, azurite: Azurite
) -> None:
    app = await start_console(WRITES_FILES, **files_env(azurite))
    page = await console.open(app)
    task_id = await start_from_form(page, "Write the report.")
    await shown_status(page, "completed")
    await expect(page.locator(".connection")).to_have_text("The transcript is complete.")

    outputs = (await listed_files(app, task_id))["outputs"]
    assert {f["name"]: (f["size"], f["sha256"]) for f in outputs}["out/data.bin"] == (len(OUTPUT), sha256(OUTPUT))
    rows = await table_rows(page, "Outputs")
    assert [row[:3] for row in rows] == [
        [KEPT_ODD_NAME, "12 bytes", "text/plain"], ["out/data.bin", "250.0 KiB", "application/octet-stream"],
        ["report.txt", "18 bytes", "text/plain"],
    ]

    await page.clock.install()  # the blob: URL's revoking timer, run on demand below
    await page.evaluate("""() => {  // watched, not changed: each blob: URL the page revokes is noted
        const revoke = URL.revokeObjectURL;
        window.revokedUrls = [];
        URL.revokeObjectURL = (url) => { window.revokedUrls.push(url); revoke(url); };
    }""")
    async with page.expect_download() as started:
        await page.get_by_role("button", name="Download out/data.bin").click()
    download = await started.value
    assert download.suggested_filename == "data.bin"
    assert await saved(download) == OUTPUT  # under the page's CSP: a download is no connect
    assert download.url.startswith(f"blob:{app.host.base_url}/")
    fetched = [request for request, _ in app.host.http_exchanges if request.url.endswith("/files/out/data.bin")]
    assert [request.headers["x-functions-key"] for request in fetched] == [KEY]
    await expect(page.get_by_role("button", name="Download out/data.bin")).to_be_enabled()

    assert await page.evaluate("window.revokedUrls") == []
    await page.clock.run_for(31_000)
    assert await page.evaluate("window.revokedUrls") == [download.url]  # its bytes freed once handed over

    detail = {"detail": "Task files are unavailable (Blob Storage); try again later"}
    await page.route("**/files/report.txt", lambda route: route.fulfill(status=503, json=detail))
    await page.get_by_role("button", name="Download report.txt").click()
    await expect(page.locator(".files").get_by_role("alert")).to_have_text(
        f"report.txt could not be downloaded: 503: {detail['detail']}")


async def test_hostile_file_names_render_as_text_and_download_by_their_own_name(
    start_console: StartConsole, console: Console, azurite: Azurite
) -> None:
    app = await start_console(WRITES_FILES, **files_env(azurite))
    page = await console.open(app)
    await attach(page, {"name": HOSTILE_NAME, "mimeType": "text/plain", "buffer": NOTES})
    task_id = await start_from_form(page, "Write the report.")
    await shown_status(page, "completed")

    listed = await listed_files(app, task_id)
    made_safe = "inputs/_img src=x onerror=alert('name')_.txt"  # the API's safe name for the attachment
    assert [f["name"] for f in listed["inputs"]] == [made_safe]
    assert listed["skipped"][0]["name"] == HOSTILE_NAME
    assert [row[0] for row in await table_rows(page, "Attachments")] == [made_safe]
    not_kept = page.locator(".files .skipped li")
    await expect(not_kept).to_have_count(1)
    await expect(not_kept.locator("code")).to_have_text(HOSTILE_NAME)  # as written, never markup
    await expect(not_kept).to_contain_text(listed["skipped"][0]["reason"])
    await expect(page.locator("img, [onerror], script:not([src])")).to_have_count(0)

    button = page.get_by_role("button", name=f"Download {KEPT_ODD_NAME}")
    await button.focus()  # by keyboard
    async with page.expect_download() as started:
        await page.keyboard.press("Enter")
    download = await started.value
    assert download.suggested_filename == KEPT_ODD_NAME
    assert await saved(download) == b"odd but kept"


async def test_attachments_past_a_limit_are_refused_with_a_clear_message_and_start_nothing(
    start_console: StartConsole, console: Console
) -> None:
    # No Blob Storage needed: nothing gets as far as storing. The API's inline cap is lowered to 1,000
    # bytes, below the page's (8 MiB, the API's default), so each of the two judges is seen.
    app = await start_console(FILES_INLINE_MAX_BYTES=1000)
    page = await console.open(app)
    alert = page.get_by_role("alert")

    too_big = bytes(8 * 1024 * 1024 + 1)
    await attach(page, {"name": "big.bin", "mimeType": "application/octet-stream", "buffer": too_big})
    await submit_form(page, "Read the big file.")
    await expect(alert).to_have_text(
        "The chosen files come to 8,388,609 bytes: at most 8,388,608 bytes (8 MiB) can be sent with a task; "
        "attach larger files by URL. Nothing was sent.")

    many = [{"name": f"part{n}.txt", "mimeType": "text/plain", "buffer": b"x"} for n in range(21)]
    await page.get_by_label("Files to attach").set_input_files(many)
    await page.get_by_role("button", name="Start task").click()
    await expect(alert).to_have_text("21 files are chosen: a task may have at most 20. Nothing was sent.")
    assert [request for request, _ in app.host.http_exchanges if request.method == "POST"] == []

    # Under the page's cap, over the API's: the API's 422 says which file and why.
    await page.get_by_label("Files to attach").set_input_files(
        [{"name": "small.txt", "mimeType": "text/plain", "buffer": b"fine"},
         {"name": "big.bin", "mimeType": "application/octet-stream", "buffer": bytes(2000)}])
    await page.get_by_label("Files to fetch").fill("https://files.example/reports/q3%20data.csv")
    await page.get_by_role("button", name="Start task").click()
    await expect(alert).to_contain_text("422: files: big.bin: inline content may be at most 1000 bytes a file")
    await expect(alert).to_contain_text("; files: q3 data.csv: ")  # the URL's host is not allowed here
    (refused,) = [request for request, _ in app.host.http_exchanges if request.method == "POST"]
    assert [f["name"] for f in as_json(refused)["files"]] == ["small.txt", "big.bin", "q3 data.csv"]
    assert as_json(refused)["files"][2]["url"] == "https://files.example/reports/q3%20data.csv"
    await expect(page.get_by_label("Files to fetch")).to_have_value("https://files.example/reports/q3%20data.csv")
    app.assert_nothing_created()


async def test_a_task_without_files_or_an_app_without_the_route_shows_no_files_section(
    start_console: StartConsole, console: Console
) -> None:
    app = await start_console(Script(rounds_before_satisfied=0))  # no Blob Storage configured
    task_id = await app.create_task()
    await app.run_to_end(task_id)
    page = await console.open(app)
    section = page.locator("#task .files")
    await page.goto(f"{app.host.base_url}/console/#/tasks/{task_id}")
    await shown_status(page, "completed")
    await expect(section).to_have_attribute("data-state", "listed")  # listed: nothing to show, and no error
    await expect(section).to_be_hidden()
    await expect(page.get_by_role("alert")).to_have_count(0)

    await page.route("**/files", lambda route: route.fulfill(status=404))  # an app without task files
    await page.reload()
    await shown_status(page, "completed")
    await expect(section).to_have_attribute("data-state", "none")
    await expect(section).to_be_hidden()
    await expect(page.get_by_role("alert")).to_have_count(0)

    detail = {"detail": "Task files are unavailable (Blob Storage); try again later"}
    await page.route("**/files", lambda route: route.fulfill(status=503, json=detail))  # said, in the section
    await page.reload()
    await expect(section).to_have_attribute("data-state", "failed")
    await expect(section).to_be_visible()
    await expect(section).to_contain_text(f"The files could not be listed: 503: {detail['detail']}")
