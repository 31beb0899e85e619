"""A team's saved state with each image once.

autogen keeps an agent's message, screenshots included, in the orchestrator's thread and in the
buffer of every agent that has not spoken since: the WebSurfer's screenshots (about 300 KB of
base64 each) are saved two or three times over in every checkpoint. `pack_images` keeps each
image once, under `IMAGES`, and puts `{"image": i}` where it was; `unpack_images` restores the state
exactly. A state without images is left as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

IMAGES = "checkpoint_images"
# How autogen saves an `Image` (`{"data": <base64>}`): a PNG's or a JPEG's base64 opening.
_OPENINGS = ("iVBORw0KGgo", "/9j/")
_SHORTEST = 1024


def _is_image(value: Any) -> bool:
    if not isinstance(value, dict) or len(value) != 1:
        return False
    data = value.get("data")
    return isinstance(data, str) and len(data) >= _SHORTEST and data.startswith(_OPENINGS)


def pack_images(state: Mapping[str, Any]) -> dict[str, Any]:
    """The state with each image saved once (under `IMAGES`)."""
    images: dict[str, int] = {}

    def walk(value: Any) -> Any:
        if _is_image(value):
            return {"image": images.setdefault(value["data"], len(images))}
        if isinstance(value, dict):
            return {key: walk(item) for key, item in value.items()}
        if isinstance(value, list):
            return [walk(item) for item in value]
        return value

    packed: dict[str, Any] = walk(dict(state))
    if images:
        packed[IMAGES] = list(images)
    return packed


def unpack_images(state: Mapping[str, Any]) -> dict[str, Any]:
    """The state `pack_images` was given."""
    if IMAGES not in state:
        return dict(state)
    images: list[str] = state[IMAGES]

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            if len(value) == 1 and isinstance(value.get("image"), int):
                return {"data": images[value["image"]]}
            return {key: walk(item) for key, item in value.items()}
        if isinstance(value, list):
            return [walk(item) for item in value]
        return value

    return walk({key: item for key, item in state.items() if key != IMAGES})  # type: ignore[no-any-return]
