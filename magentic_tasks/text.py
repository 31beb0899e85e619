"""Text that every store can hold: no lone UTF-16 surrogates.

Python strings may carry surrogate code points (a model's output decoded leniently, or a JSON
`"\\ud800"` escape), which UTF-8 cannot encode: SQLite and pydantic's JSON refuse them. Such text is
made storable where it enters the domain (model messages, errors, requests) and again where the
mirror binds it: a surrogate *pair* becomes the character it encodes; a lone surrogate becomes
U+FFFD, the replacement character, as any UTF-8 decoder shows it. Everything else is unchanged.
"""

from __future__ import annotations

from typing import Any

REPLACEMENT = "\ufffd"


def storable(text: str) -> str:
    """`text` without surrogates: pairs joined into their character, lone ones replaced by U+FFFD."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


def storable_json(value: Any) -> Any:
    """A JSON-shaped value (dicts, lists, scalars) with every string, keys included, made storable."""
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, dict):
        return {storable_json(key): storable_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [storable_json(item) for item in value]
    return value
