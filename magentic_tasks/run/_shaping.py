"""Turning autogen messages into the API's transcript entries.

A multimodal message becomes its text, then one `base64_image` entry per image, as the original
service did. Durable state gets the same entries with each image replaced by an `image_ref`
(its SHA-256 and size), so orchestration payloads stay small; SQLite keeps the bytes.

This is where model output enters the domain, so every entry is made storable here (`text.storable`:
no lone surrogates), and Durable state and SQLite hold the same text.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from autogen_agentchat.messages import BaseAgentEvent, BaseChatMessage, MultiModalMessage
from autogen_core import Image

from ..schemas import IMAGE_REF_TYPE, IMAGE_TYPE, MessageView
from ..text import storable


def to_views(message: BaseAgentEvent | BaseChatMessage) -> list[MessageView]:
    """The transcript entries for one message the team emitted, every text storable."""
    return [
        MessageView(source=storable(v.source), content=storable(v.content), type=storable(v.type))
        for v in _views(message)
    ]


def _views(message: BaseAgentEvent | BaseChatMessage) -> list[MessageView]:
    source = message.source
    kind = type(message).__name__
    if isinstance(message, MultiModalMessage):
        text = "\n".join(part for part in message.content if isinstance(part, str))
        views = [MessageView(source=source, content=text, type=kind)]
        views += [
            MessageView(source=source, content=part.to_base64(), type=IMAGE_TYPE)
            for part in message.content
            if isinstance(part, Image)
        ]
        return views
    return [MessageView(source=source, content=_content_text(message), type=kind)]


def _content_text(message: BaseAgentEvent | BaseChatMessage) -> str:
    content: Any = message.model_dump(mode="json").get("content")
    if isinstance(content, str):
        return content
    if content is None:
        return message.to_text()
    return json.dumps(content, ensure_ascii=False)


def without_image_bytes(messages: list[MessageView]) -> list[MessageView]:
    """The transcript with each image replaced by a reference to it."""
    return [_image_ref(m) if m.type == IMAGE_TYPE else m for m in messages]


def _image_ref(message: MessageView) -> MessageView:
    raw = base64.b64decode(message.content, validate=False)
    ref = {"sha256": hashlib.sha256(raw).hexdigest(), "bytes": len(raw)}
    return MessageView(source=message.source, content=json.dumps(ref), type=IMAGE_REF_TYPE)
