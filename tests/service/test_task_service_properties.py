"""Property-based: whatever body or id a client sends, the service answers 2xx/4xx, never 5xx,
never raises, and a rejected request leaves no row and starts nothing."""

from __future__ import annotations

import asyncio
import base64
import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from magentic_tasks.clock import iso
from magentic_tasks.service import TaskService, decode_cursor, encode_cursor
from magentic_tasks.settings import Settings
from magentic_tasks.store import TaskStore
from starters.http_api import answered
from tests.support.in_memory import InMemoryOrchestrations, row_count

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
task_bodies = st.fixed_dictionaries(
    {},
    optional={
        "prompt": st.text(max_size=300) | json_values,
        "use_aoai": st.booleans() | json_values,
        "model_name": st.sampled_from(["gpt-4o", "gpt-4o-mini", "o1", ""]) | st.text(max_size=120) | json_values,
        "task_id": st.text(max_size=80) | json_values,
    },
)



def _nested(depth: int, kind: str, closed: bool) -> str:
    opener, closer = {"array": ("[", "]"), "object": ('{"a": ', "}")}[kind]
    return opener * depth + ("1" + closer * depth if closed else "")


def _in_a_task(value: str) -> bytes:
    return ('{"prompt": "hi", "use_aoai": false, "extra": ' + value + "}").encode()


# JSON that the parser cannot or will not take: nesting deeper than 32 levels (or the recursion limit), integers
# past Python's int max str digits, non-standard NaN/Infinity, numbers that overflow a float.
hostile_values = st.one_of(
    st.builds(_nested, st.integers(33, 4000), st.sampled_from(["array", "object"]), st.booleans()),
    st.integers(4000, 6000).map(lambda digits: "9" * digits),
    st.sampled_from(["NaN", "Infinity", "-Infinity", "[NaN]", '{"x": Infinity}']),
    st.sampled_from(["1e999", "-1e999", "1.5e400", "[1e309]"]),
)
hostile_bodies = hostile_values.map(str.encode) | hostile_values.map(_in_a_task)
raw_bodies = (
    st.binary(max_size=300)
    | json_values.map(lambda v: json.dumps(v).encode())
    | task_bodies.map(lambda v: json.dumps(v).encode())
    | hostile_bodies
)


def new_service(root: Path, max_prompt_chars: int = 200) -> tuple[TaskService, InMemoryOrchestrations, TaskStore]:
    config = Settings(
        OPENAI_API_KEY="sk-test-key-000000000000", TASKS_DB_PATH=str(root / "tasks.db"),
        ALLOWED_MODELS="gpt-4o,gpt-4o-mini", MAX_PROMPT_CHARS=max_prompt_chars,
    )
    durable = InMemoryOrchestrations()
    store = TaskStore.from_settings(config)
    return TaskService(config, durable, store), durable, store


def answers(response: Any) -> None:
    assert 200 <= response.status_code < 500, response
    json.dumps(response.body)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=raw_bodies)
def test_any_create_body_gets_an_answer_and_rejections_leave_nothing(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as root:
        service, durable, store = new_service(Path(root))
        response = asyncio.run(answered(service.create(raw, owner=None)))
        answers(response)
        if response.status_code == 202:
            assert list(durable.started) == [response.body["task_id"]]
            assert row_count(store) == 0  # the request path writes nothing to SQLite
        else:
            assert response.status_code in (413, 422)
            assert response.body["detail"]
            assert durable.started == {} and row_count(store) == 0


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=hostile_bodies)
def test_json_the_parser_will_not_take_is_a_4xx_with_a_detail(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as root:
        service, durable, store = new_service(Path(root))
        response = asyncio.run(answered(service.create(raw, owner=None)))
        event(f"answered {response.status_code}")
        assert response.status_code == (413 if len(raw) > service.max_body_bytes else 422), response
        assert response.body["detail"] and durable.started == {} and row_count(store) == 0


# Prompts up to the character limit in any mix of BMP, non-BMP and control characters. A non-BMP
# character is one character but 12 bytes once escaped (`\ud83d\ude00`), the worst case.
LIMIT = 1000
_chars = st.characters(exclude_categories=["Cs"], exclude_characters="\x00") | st.characters(min_codepoint=0x10000)
prompts = st.builds(
    lambda unit, length: (unit * (length // len(unit) + 1))[:length],
    st.text(alphabet=_chars, min_size=1, max_size=20).filter(str.strip),
    st.integers(1, LIMIT),
).filter(str.strip)
encodings = st.fixed_dictionaries(
    {"ensure_ascii": st.booleans(), "indent": st.none() | st.integers(0, 4),
     "separators": st.sampled_from([None, (",", ":"), (", ", ": ")])}
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prompt=prompts, encoding=encodings, model=st.none() | st.sampled_from(["gpt-4o", "gpt-4o-mini"]))
def test_any_prompt_within_the_character_limit_is_accepted_however_it_is_encoded(
    prompt: str, encoding: dict[str, Any], model: str | None
) -> None:
    fields: dict[str, Any] = {"prompt": prompt, "use_aoai": False} | ({"model_name": model} if model else {})
    raw = json.dumps(fields, **encoding).encode()
    with tempfile.TemporaryDirectory() as root:
        service, durable, _ = new_service(Path(root), max_prompt_chars=LIMIT)
        response = asyncio.run(answered(service.create(raw, owner=None)))
        assert response.status_code == 202, (response, len(raw))
        assert durable.started[response.body["task_id"]].prompt == prompt


def test_the_worst_case_prompt_fits_the_byte_cap() -> None:
    raw = json.dumps({"prompt": "\U0001f600" * LIMIT, "use_aoai": False, "model_name": "gpt-4o-mini"}, indent=4)
    with tempfile.TemporaryDirectory() as root:
        service, _, _ = new_service(Path(root), max_prompt_chars=LIMIT)
        assert asyncio.run(answered(service.create(raw.encode(), owner=None))).status_code == 202


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(task_id=st.text(max_size=100), owner=st.none() | st.text(max_size=20))
def test_any_task_id_gets_an_answer(task_id: str, owner: str | None) -> None:
    with tempfile.TemporaryDirectory() as root:
        service, _, store = new_service(Path(root))
        for read in (service.status, service.result):
            response = asyncio.run(answered(read(task_id, owner)))
            answers(response)
            assert response.status_code in (404, 422)
        assert row_count(store) == 0


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=raw_bodies)
def test_any_queue_message_is_started_or_refused_cleanly(raw: bytes) -> None:
    from magentic_tasks.service import InvalidRequest

    with tempfile.TemporaryDirectory() as root:
        service, durable, store = new_service(Path(root))
        try:
            task_id = asyncio.run(service.submit_queued(raw))
        except InvalidRequest as invalid:
            assert invalid.detail and durable.started == {} and row_count(store) == 0
        else:
            assert task_id is not None and list(durable.started) == [task_id]


def _cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


cursors = st.one_of(
    st.text(max_size=60),
    json_values.map(_cursor),
    st.tuples(st.text(max_size=30), st.text(max_size=30)).map(lambda pair: _cursor(list(pair))),
    st.tuples(st.datetimes(timezones=st.just(UTC)).map(iso), st.text(st.characters(), max_size=10))
    .map(lambda pair: _cursor(list(pair))),  # task ids with lone surrogates too
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cursor=cursors)
def test_any_list_cursor_is_a_page_or_a_422(cursor: str) -> None:
    with tempfile.TemporaryDirectory() as root:
        service, _, _ = new_service(Path(root))
        response = asyncio.run(answered(service.list_tasks({"cursor": cursor}, None)))
        answers(response)
        assert response.status_code in (200, 422)
        if response.status_code == 422:
            assert [problem["type"] for problem in response.body["detail"]] == ["cursor_invalid"]


@given(created_at=st.datetimes(timezones=st.just(UTC)),
       task_id=st.text(alphabet=st.characters(exclude_categories=("Cs",)), min_size=1, max_size=64))
def test_every_cursor_the_server_issues_reads_back(created_at: datetime, task_id: str) -> None:
    key = (iso(created_at), task_id)

    assert decode_cursor(encode_cursor(key)) == key
