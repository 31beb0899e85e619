"""A saved team state keeps each image once and is restored exactly."""

from __future__ import annotations

import base64
import json

from magentic_tasks.resumable._images import IMAGES, pack_images, unpack_images

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8).decode()
JPEG = base64.b64encode(b"\xff\xd8\xff" + bytes(2048)).decode()


def test_each_image_is_saved_once_and_the_state_comes_back_exactly() -> None:
    message = {"source": "WebSurfer", "content": ["I opened it.", {"data": PNG}], "type": "MultiModalMessage"}
    state = {
        "type": "TeamState",
        "agent_states": {
            "MagenticOneOrchestrator": {"message_thread": [message, {"content": ["x", {"data": JPEG}]}]},
            "Coder": {"agent_state": {"message_buffer": [message]}},
            "FileSurfer": {"agent_state": {"message_buffer": [message]}},
            "Other": {"data": "short, not an image", "items": [{"data": "AAAA" * 400}]},
        },
    }
    packed = pack_images(state)
    text = json.dumps(packed)
    assert packed[IMAGES] == [PNG, JPEG] and text.count(PNG) == 1 and text.count(JPEG) == 1
    assert unpack_images(json.loads(text)) == state
    assert pack_images({"type": "TeamState", "agent_states": {}}) == {"type": "TeamState", "agent_states": {}}
