"""Transcript entries in the original's shape; images split out, and left out of Durable state."""

from __future__ import annotations

import base64
import hashlib
import io
import json

from autogen_agentchat.messages import (
    MultiModalMessage,
    StopMessage,
    TextMessage,
    ToolCallExecutionEvent,
    ToolCallRequestEvent,
)
from autogen_core import FunctionCall, Image
from autogen_core.models import FunctionExecutionResult
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image as PILImage

from magentic_tasks.run import IMAGE_REF_TYPE, IMAGE_TYPE, to_views, without_image_bytes
from magentic_tasks.schemas import MessageView
from magentic_tasks.text import storable


def png_image(color: str = "red") -> Image:
    buffer = io.BytesIO()
    PILImage.new("RGB", (4, 4), color).save(buffer, format="PNG")
    return Image.from_base64(base64.b64encode(buffer.getvalue()).decode())


def test_a_text_message_is_one_entry_with_its_class_as_type() -> None:
    assert to_views(TextMessage(source="Coder", content="print(1)")) == [
        MessageView(source="Coder", content="print(1)", type="TextMessage")
    ]


def test_a_multimodal_message_is_its_text_then_one_entry_per_image() -> None:
    first, second = png_image("red"), png_image("blue")
    message = MultiModalMessage(source="WebSurfer", content=["Here is the page", first, "and more", second])
    views = to_views(message)
    assert [v.type for v in views] == ["MultiModalMessage", IMAGE_TYPE, IMAGE_TYPE]
    assert views[0].content == "Here is the page\nand more"
    assert views[1].content == first.to_base64() and views[2].content == second.to_base64()
    assert all(v.source == "WebSurfer" for v in views)


def test_tool_calls_and_their_results_are_json() -> None:
    request = ToolCallRequestEvent(
        source="FileSurfer", content=[FunctionCall(id="c1", name="open_path", arguments='{"path": "a.txt"}')]
    )
    result = ToolCallExecutionEvent(
        source="FileSurfer",
        content=[FunctionExecutionResult(call_id="c1", content="hello", name="open_path", is_error=False)],
    )
    (request_view,) = to_views(request)
    (result_view,) = to_views(result)
    assert request_view.type == "ToolCallRequestEvent"
    assert json.loads(request_view.content) == [{"id": "c1", "name": "open_path", "arguments": '{"path": "a.txt"}'}]
    assert json.loads(result_view.content)[0]["content"] == "hello"


def test_a_stop_message_keeps_its_text() -> None:
    assert to_views(StopMessage(source="MagenticOneOrchestrator", content="done"))[0].content == "done"


def test_durable_copies_carry_a_reference_instead_of_image_bytes() -> None:
    image = png_image()
    views = to_views(MultiModalMessage(source="WebSurfer", content=["shot", image]))
    compact = without_image_bytes(views)
    raw = base64.b64decode(image.to_base64())
    assert compact[0] == views[0]
    assert compact[1].type == IMAGE_REF_TYPE
    assert json.loads(compact[1].content) == {"sha256": hashlib.sha256(raw).hexdigest(), "bytes": len(raw)}


# Any Python string, surrogates mixed in (hypothesis' st.text() leaves them out).
ANY_TEXT = st.lists(st.one_of(st.characters(), st.integers(0xD800, 0xDFFF).map(chr))).map("".join)


@given(ANY_TEXT)
def test_storable_text_always_encodes_and_changes_only_surrogates(text: str) -> None:
    clean = storable(text)
    clean.encode("utf-8")
    assert storable(clean) == clean
    if not any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        assert clean == text
    assert clean == text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def test_a_surrogate_pair_becomes_its_character_and_a_lone_one_the_replacement_character() -> None:
    assert storable("\ud83d\ude00 \ud800 \udfff") == "\U0001f600 \ufffd \ufffd"


@given(content=ANY_TEXT, source=ANY_TEXT)
def test_every_entry_of_any_message_is_storable_and_survives_durables_json(content: str, source: str) -> None:
    for message in (TextMessage(source=source, content=content), MultiModalMessage(source=source, content=[content])):
        views = to_views(message)
        assert views[0] == MessageView(source=storable(source), content=storable(content), type=type(message).__name__)
        payload = json.dumps([v.model_dump(mode="json") for v in views], ensure_ascii=False).encode("utf-8")
        assert [MessageView.model_validate(v) for v in json.loads(payload)] == views
