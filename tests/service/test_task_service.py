"""The API's behaviour without any host: validation, start, reading back, fallbacks, isolation.

Durable Functions sits behind the `Orchestrations` port; here an in-memory stand-in plays it, so
these tests pin the service's own rules. The end-to-end suite runs the same paths through the
registered functions and the real Durable client.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from magentic_tasks.errors import StoreError
from magentic_tasks.schemas import MessageView, RunOutcome
from magentic_tasks.service import TaskService
from magentic_tasks.settings import Settings
from magentic_tasks.store import TaskStore
from starters.http_api import answered
from tests.support.in_memory import InMemoryOrchestrations, row_count

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        OPENAI_API_KEY="sk-test-openai-key-000000",
        TASKS_DB_PATH=str(tmp_path / "tasks.db"),
        ALLOWED_MODELS="gpt-4o,gpt-4o-mini",
        MAX_PROMPT_CHARS=100,
        ENABLE_WEB_SURFER="false",  # the same team on a machine with playwright's own Chromium
    )


@pytest.fixture
def durable() -> InMemoryOrchestrations:
    return InMemoryOrchestrations()


@pytest.fixture
def store(settings: Settings) -> TaskStore:
    return TaskStore.from_settings(settings)


@pytest.fixture
def service(settings: Settings, durable: InMemoryOrchestrations, store: TaskStore) -> TaskService:
    ids = iter(f"task-{n}" for n in range(1, 100))
    return TaskService(settings, durable, store, clock=lambda: NOW, new_id=lambda: next(ids))


def body(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


async def test_create_starts_the_orchestration_and_writes_nothing_to_sqlite(
    service: TaskService, durable: InMemoryOrchestrations, store: TaskStore
) -> None:
    response = await answered(service.create(body(prompt="Summarise X", use_aoai=False), owner=None))
    assert response.status_code == 202
    assert response.body == {"task_id": "task-1", "status": "pending", "created_at": "2026-11-25T12:00:00+00:00"}
    assert response.headers["Location"] == "/tasks/task-1"
    assert int(response.headers["Retry-After"]) > 0
    started = durable.started["task-1"]
    assert (started.prompt, started.use_aoai, started.model_name) == ("Summarise X", False, "gpt-4o")
    assert started.max_attempts == 3
    assert row_count(store) == 0  # the request path stays off the file share
    status = await answered(service.status("task-1", owner=None))
    assert status.status_code == 200 and status.body["status"] == "pending"  # read from Durable


async def test_a_status_read_takes_no_transcript_and_a_result_read_does(
    service: TaskService, durable: InMemoryOrchestrations, store: TaskStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await answered(service.create(body(prompt="hi", use_aoai=False), owner=None))
    durable.finish("task-1", RunOutcome(status="completed", finished_at=durable.started["task-1"].created_at,
                                        messages=[MessageView(source="user", content="hi", type="TextMessage")]))
    asked: list[bool] = []
    real = store.get_task

    def spy(task_id: str, *, transcript: bool = True) -> object:
        asked.append(transcript)
        return real(task_id, transcript=transcript)

    monkeypatch.setattr(store, "get_task", spy)

    await answered(service.status("task-1", owner=None))
    await answered(service.result("task-1", owner=None))

    assert asked[0] is False and True in asked[1:]


@pytest.mark.parametrize(
    ("raw", "status", "loc"),
    [
        (b"not json", 422, ["body", 0]),
        (b"", 422, ["body"]),
        (b"[1, 2]", 422, ["body"]),
        (b'"a string"', 422, ["body"]),
        (body(use_aoai=False), 422, ["body", "prompt"]),
        (body(prompt="", use_aoai=False), 422, ["body", "prompt"]),
        (body(prompt="   \n\t", use_aoai=False), 422, ["body", "prompt"]),
        (body(prompt="a\x00b", use_aoai=False), 422, ["body", "prompt"]),
        (body(prompt=42, use_aoai=False), 422, ["body", "prompt"]),
        (body(prompt="hi", use_aoai="maybe"), 422, ["body", "use_aoai"]),
        (body(prompt="hi", use_aoai=False, model_name=7), 422, ["body", "model_name"]),
        (body(prompt="hi", use_aoai=False, model_name="../../etc"), 422, ["body", "model_name"]),
        (body(prompt="x" * 101, use_aoai=False), 422, ["body", "prompt"]),
        (body(prompt="hi", use_aoai=True), 422, ["body", "use_aoai"]),
        (body(prompt="hi", use_aoai=False, model_name="o1"), 422, ["body", "model_name"]),
        ("\u00e9".encode("latin-1") + b'{"prompt": "hi"}', 422, ["body", 0]),
        (b"{" + b" " * 12_500_000 + b"}", 413, ["body"]),  # past the prompt's and the inline files' worst case
        (b"[" * 5000, 422, ["body"]),
        (b'{"prompt": "hi", "use_aoai": false, "x": ' + b'{"a": ' * 2000 + b"1" + b"}" * 2001, 422, ["body"]),
        (b'{"prompt": "hi", "use_aoai": false, "n": ' + b"9" * 5000 + b"}", 422, ["body"]),
        (b'{"prompt": "hi", "use_aoai": false, "n": NaN}', 422, ["body"]),
        (b'{"prompt": "hi", "use_aoai": false, "n": -Infinity}', 422, ["body"]),
        (b'{"prompt": "hi", "use_aoai": false, "n": 1e999}', 422, ["body"]),
    ],
    ids=[
        "not-json", "empty", "array", "string", "missing-prompt", "empty-prompt", "blank-prompt", "nul-in-prompt",
        "prompt-not-string", "use_aoai-not-bool", "model-not-string", "model-path-trick", "prompt-too-long",
        "provider-not-configured", "model-not-allowed", "invalid-utf8", "huge-body",
        "deep-array", "deep-object", "int-of-5000-digits", "nan", "infinity", "float-overflow",
    ],
)
async def test_bad_input_is_refused_with_a_useful_detail_and_leaves_nothing(
    service: TaskService, durable: InMemoryOrchestrations, store: TaskStore,
    raw: bytes, status: int, loc: list[Any],
) -> None:
    response = await answered(service.create(raw, owner=None))
    assert response.status_code == status
    detail = response.body["detail"]
    assert isinstance(detail, list) and detail
    assert detail[0]["loc"] == loc
    assert all(item["msg"] for item in detail)
    assert durable.started == {}
    assert row_count(store) == 0


async def test_unknown_fields_are_ignored_like_the_original(service: TaskService) -> None:
    response = await answered(service.create(body(prompt="hi", use_aoai=False, temperature=0.2), owner=None))
    assert response.status_code == 202


async def test_a_disallowed_model_says_which_are_allowed_without_echoing_the_callers_name(
    service: TaskService,
) -> None:
    response = await answered(service.create(body(prompt="hi", use_aoai=False, model_name="evil-model-x1"), owner=None))
    (problem,) = response.body["detail"]
    assert "gpt-4o, gpt-4o-mini" in problem["msg"]
    assert "evil-model-x1" not in json.dumps(response.body)


async def test_a_request_without_model_name_gets_the_servers_default_model(tmp_path: Path) -> None:
    config = Settings(
        OPENAI_API_KEY="sk-test-openai-key-000000", TASKS_DB_PATH=str(tmp_path / "tasks.db"),
        DEFAULT_MODEL_NAME="my-deployment", ALLOWED_MODELS="my-deployment,gpt-4o",
    )
    durable = InMemoryOrchestrations()
    service = TaskService(config, durable, TaskStore.from_settings(config))
    unnamed = await answered(service.create(body(prompt="hi", use_aoai=False), owner=None))
    named = await answered(service.create(body(prompt="hi", use_aoai=False, model_name="gpt-4o"), owner=None))
    assert (unnamed.status_code, named.status_code) == (202, 202)
    assert durable.started[unnamed.body["task_id"]].model_name == "my-deployment"
    assert durable.started[named.body["task_id"]].model_name == "gpt-4o"


async def test_the_default_model_must_be_allowed_too(tmp_path: Path) -> None:
    config = Settings(
        OPENAI_API_KEY="sk-test-openai-key-000000", TASKS_DB_PATH=str(tmp_path / "tasks.db"),
        DEFAULT_MODEL_NAME="my-deployment", ALLOWED_MODELS="gpt-4o",
    )
    service = TaskService(config, InMemoryOrchestrations())
    response = await answered(service.create(body(prompt="hi", use_aoai=False), None))
    assert response.status_code == 422 and response.body["detail"][0]["loc"] == ["body", "model_name"]


async def test_a_start_failure_is_a_503_and_leaves_no_row(
    service: TaskService, durable: InMemoryOrchestrations, store: TaskStore
) -> None:
    durable.fail_start = True
    response = await answered(service.create(body(prompt="hi", use_aoai=False), owner=None))
    assert response.status_code == 503
    assert "host unavailable" not in json.dumps(response.body)
    assert row_count(store) == 0


async def test_status_reads_durable_state(service: TaskService, durable: InMemoryOrchestrations) -> None:
    await answered(service.create(body(prompt="hi", use_aoai=False), owner=None))
    response = await answered(service.status("task-1", owner=None))
    assert response.status_code == 200
    assert response.body == {
        "task_id": "task-1", "status": "pending", "prompt": "hi",
        "created_at": "2026-11-25T12:00:00+00:00", "updated_at": "2026-11-25T12:00:00+00:00",
        "progress": None, "callback": None,
        "team": {"agents": ["files", "code"], "max_turns": 20, "max_tokens": None, "deadline_seconds": 540.0},
    }


@pytest.mark.parametrize("task_id", ["unknown", "0f8fad5b-d9cb-469f-a165-70867728950e"])
async def test_an_unknown_task_is_404(service: TaskService, task_id: str) -> None:
    for read in (service.status, service.result):
        response = await answered(read(task_id, None))
        assert (response.status_code, response.body) == (404, {"detail": "Task not found"})


@pytest.mark.parametrize("task_id", ["../etc/passwd", "a" * 65, "has space", "semi;colon", "-leading-dash", ""])
async def test_a_malformed_task_id_is_422(service: TaskService, task_id: str) -> None:
    response = await answered(service.status(task_id, None))
    assert response.status_code == 422
    assert response.body["detail"][0]["loc"] == ["path", "task_id"]


async def test_result_is_202_until_the_task_finishes(service: TaskService) -> None:
    await answered(service.create(body(prompt="hi", use_aoai=False), owner=None))
    response = await answered(service.result("task-1", None))
    assert response.status_code == 202
    assert response.body["status"] == "pending"
    assert "Retry-After" in response.headers


async def test_a_finished_result_has_the_originals_shape(
    service: TaskService, durable: InMemoryOrchestrations
) -> None:
    await answered(service.create(body(prompt="hi", use_aoai=False), owner=None))
    outcome = RunOutcome(
        status="completed", final_answer="42", stop_reason="done", execution_time=1.5,
        prompt_tokens=100, completion_tokens=20, finished_at=NOW,
        messages=[{"source": "user", "content": "hi", "type": "TextMessage"}],  # type: ignore[list-item]
        usage_by_agent={"MagenticOneOrchestrator": {"prompt_tokens": 100, "completion_tokens": 20}},  # type: ignore[dict-item]
    )
    durable.finish("task-1", outcome)
    response = await answered(service.result("task-1", None))
    assert response.status_code == 200
    assert response.body["status"] == "completed"
    assert response.body["prompt_tokens"] == 100 and response.body["completion_tokens"] == 20
    result = response.body["result"]
    assert result["messages"] == [{"source": "user", "content": "hi", "type": "TextMessage"}]
    assert result["task_result"] == {"status": "completed", "stop_reason": "done", "final_answer": "42", "error": None}
    assert result["execution_time"] == 1.5
    assert set(response.body) >= {"task_id", "status", "result", "prompt_tokens", "completion_tokens",
                                  "created_at", "updated_at"}


async def test_a_result_that_sqlite_missed_is_copied_into_it_on_read(
    service: TaskService, durable: InMemoryOrchestrations, store: TaskStore
) -> None:
    await answered(service.create(body(prompt="hi", use_aoai=False), owner=None))
    durable.finish("task-1", RunOutcome(status="completed", final_answer="42", finished_at=NOW))
    assert store.get_task("task-1") is None  # its run never reached SQLite
    await answered(service.result("task-1", None))
    repaired = store.get_task("task-1")
    assert repaired is not None and repaired.status == "completed" and repaired.outcome.final_answer == "42"  # type: ignore[union-attr]


async def test_purged_durable_history_is_served_from_sqlite(
    service: TaskService, durable: InMemoryOrchestrations
) -> None:
    await answered(service.create(body(prompt="hi", use_aoai=False), owner=None))
    durable.finish("task-1", RunOutcome(status="completed", final_answer="42", finished_at=NOW))
    await answered(service.result("task-1", None))  # mirrors the result
    del durable.snapshots["task-1"]  # history purged
    status = await answered(service.status("task-1", None))
    result = await answered(service.result("task-1", None))
    assert status.status_code == 200 and status.body["status"] == "completed"
    assert result.status_code == 200 and result.body["result"]["task_result"]["final_answer"] == "42"


async def test_a_purged_task_whose_mirror_cannot_be_read_is_unavailable_not_gone(
    service: TaskService, durable: InMemoryOrchestrations, store: TaskStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await answered(service.create(body(prompt="hi", use_aoai=False), owner=None))
    durable.finish("task-1", RunOutcome(status="completed", final_answer="42", finished_at=NOW))
    await answered(service.result("task-1", None))  # mirrors the result
    del durable.snapshots["task-1"]  # history purged

    def locked(*args: object, **kwargs: object) -> None:
        raise StoreError("task database tasks.db: database is locked")

    monkeypatch.setattr(store, "get_task", locked)

    for read in (service.status, service.result):
        response = await answered(read("task-1", None))
        assert response.status_code == 503 and response.headers["Retry-After"]
    assert (await answered(service.status("never-existed", None))).status_code == 503  # no store could say


async def test_a_result_the_mirror_missed_is_served_whole_from_durables_history_and_copied_over(
    service: TaskService, durable: InMemoryOrchestrations, store: TaskStore
) -> None:
    await answered(service.create(body(prompt="hi", use_aoai=False), owner=None))
    transcript = [MessageView(source="user", content="hi", type="TextMessage"),
                  MessageView(source="MagenticOneOrchestrator", content="42", type="TextMessage")]
    durable.finish("task-1", RunOutcome(status="completed", final_answer="42", finished_at=NOW, messages=transcript))
    assert durable.snapshots["task-1"].outcome is not None and durable.snapshots["task-1"].outcome.messages == []

    result = await answered(service.result("task-1", None))  # SQLite never heard of it: Durable alone answers
    assert result.status_code == 200
    assert [m["content"] for m in result.body["result"]["messages"]] == ["hi", "42"]
    copied = store.get_task("task-1")
    assert copied is not None and copied.outcome is not None
    assert [m.content for m in copied.outcome.messages] == ["hi", "42"]  # the repair kept the transcript


async def test_a_result_is_not_copied_over_without_its_transcript_while_the_history_cannot_be_read(
    service: TaskService, durable: InMemoryOrchestrations, store: TaskStore
) -> None:
    await answered(service.create(body(prompt="hi", use_aoai=False), owner=None))
    transcript = [MessageView(source="user", content="hi", type="TextMessage")]
    durable.finish("task-1", RunOutcome(status="completed", final_answer="42", finished_at=NOW, messages=transcript))
    durable.history_unreadable = True
    result = await answered(service.result("task-1", None))
    assert result.status_code == 200 and result.body["result"]["task_result"]["final_answer"] == "42"
    assert store.get_task("task-1") is None  # not repaired with an empty transcript
    durable.history_unreadable = False
    assert await service.reconcile(["task-1"]) == 1
    copied = store.get_task("task-1")
    assert copied is not None and copied.outcome is not None and len(copied.outcome.messages) == 1


async def test_unreachable_durable_state_falls_back_to_sqlite(
    service: TaskService, durable: InMemoryOrchestrations
) -> None:
    await answered(service.create(body(prompt="hi", use_aoai=False), owner=None))
    await answered(service.create(body(prompt="not run yet", use_aoai=False), owner=None))
    store = service.store
    store.mark_running(durable.started["task-1"], NOW)  # its run has begun, and wrote its row
    durable.unreachable = True
    assert (await answered(service.status("task-1", None))).body["status"] == "running"
    assert (await answered(service.status("task-2", None))).status_code == 503  # only Durable knew of it


async def test_an_unwritable_mirror_does_not_stop_tasks(tmp_path: Path, durable: InMemoryOrchestrations) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the database folder should be")
    settings = Settings(OPENAI_API_KEY="k" * 8, TASKS_DB_PATH=str(blocker / "tasks.db"))
    service = TaskService(settings, durable, clock=lambda: NOW, new_id=lambda: "t-1")
    with pytest.raises(StoreError):
        service.store.get_task("t-1")
    assert (await answered(service.create(body(prompt="hi", use_aoai=False), None))).status_code == 202
    assert (await answered(service.status("t-1", None))).body["status"] == "pending"


async def test_a_task_belongs_to_its_creator_when_a_principal_is_present(service: TaskService) -> None:
    await answered(service.create(body(prompt="mine", use_aoai=False), owner="alice"))
    assert (await answered(service.status("task-1", "alice"))).status_code == 200
    assert (await answered(service.status("task-1", "mallory"))).status_code == 404
    assert (await answered(service.result("task-1", "mallory"))).status_code == 404
    assert (await answered(service.status("task-1", None))).status_code == 404


async def test_tasks_created_without_a_principal_are_visible_to_all(service: TaskService) -> None:
    await answered(service.create(body(prompt="shared", use_aoai=False), owner=None))
    assert (await answered(service.status("task-1", "anyone"))).status_code == 200


async def test_a_queued_task_starts_once_per_task_id(
    service: TaskService, durable: InMemoryOrchestrations
) -> None:
    message = body(prompt="from a queue", use_aoai=False, task_id="order-42")
    assert await service.submit_queued(message) == "order-42"
    assert await service.submit_queued(message) is None
    assert list(durable.started) == ["order-42"]


async def test_a_queued_task_without_an_id_gets_one(service: TaskService, durable: InMemoryOrchestrations) -> None:
    assert await service.submit_queued(body(prompt="from a queue", use_aoai=False)) == "task-1"


async def test_reconcile_copies_only_finished_results_that_sqlite_is_missing(
    service: TaskService, durable: InMemoryOrchestrations, store: TaskStore
) -> None:
    for n in range(3):
        await answered(service.create(body(prompt=f"task {n}", use_aoai=False), owner=None))
    durable.finish("task-1", RunOutcome(status="completed", final_answer="one", finished_at=NOW))
    durable.finish("task-2", RunOutcome(status="failed", error="boom", finished_at=NOW))
    assert await service.reconcile(["task-1", "task-2", "task-3", "unknown"]) == 2
    assert await service.reconcile(["task-1", "task-2", "task-3"]) == 0
    assert store.get_task("task-1").outcome.final_answer == "one"  # type: ignore[union-attr]
    assert store.get_task("task-2").status == "failed"  # type: ignore[union-attr]
    assert store.get_task("task-3") is None
    assert await service.mirror_recent() == 1  # the unfinished one gets its row too
    assert store.get_task("task-3").status == "pending"  # type: ignore[union-attr]


async def test_following_messages_while_two_copies_of_the_run_stream_at_once_skips_none(
    service: TaskService, store: TaskStore, durable: InMemoryOrchestrations
) -> None:
    await answered(service.create(body(prompt="hi", use_aoai=False), owner=None))
    task = durable.started["task-1"]
    first, second = store.begin_attempt(task, NOW), store.begin_attempt(task, NOW)
    for seq in range(2):  # the two copies' batches interleave in the stream
        store.append_messages("task-1", first, seq, [MessageView(source="a", content=f"a{seq}", type="TextMessage")])
        store.append_messages("task-1", second, seq, [MessageView(source="b", content=f"b{seq}", type="TextMessage")])

    contents, after = [], 0
    for _ in range(10):
        view = (await answered(service.messages("task-1", None, {"after": str(after), "limit": "50"}))).body
        contents += [m["content"] for m in view["messages"]]
        if view["next_after"] == after:
            break
        after = view["next_after"]
    assert contents == ["a0", "b0", "a1", "b1"]
