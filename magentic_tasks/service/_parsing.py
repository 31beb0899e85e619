"""Request bodies (HTTP and queue) into validated `TaskCreate`s, or `InvalidRequest`."""

from __future__ import annotations

import json
import math
import re
import sys
from itertools import accumulate
from typing import Any, NoReturn

from pydantic import ValidationError

from ..files import Attachment, FileLimits, check_uploads, url_policy
from ..schemas import TaskCreate
from ..settings import Settings
from ..webhooks import CallbackPolicy, CallbackRefused
from ._errors import InvalidRequest, RequestTooLarge, error_entry, validation_detail
from ._team_options import team_problems

# The byte cap must admit every prompt that MAX_PROMPT_CHARS admits, however a JSON client encodes
# it. The worst case is 12 bytes for one character: a character outside the BMP is one character
# (Python counts code points, as the limit does) but escapes to a surrogate pair, `\ud83d\ude00`;
# raw UTF-8 takes at most 4 bytes and an escaped BMP or control character 6. Everything else fits in
# the overhead: the keys, `use_aoai`, a `model_name` of at most 100 and a `task_id` of at most 64
# characters, all escaped at 6 bytes a character (under 1.5 KB), pretty-printing whitespace, and
# small unknown fields (ignored, as the original did).
WORST_BYTES_PER_PROMPT_CHAR = 12
BODY_OVERHEAD_BYTES = 16 * 1024
# Longer integers are refused before `int()` sees them: Python's own limit on int/str conversion
# (PYTHONINTMAXSTRDIGITS, 4300 by default) may be set as low as this, and raises a bare ValueError.
MAX_INT_DIGITS = sys.int_info.str_digits_check_threshold
# Bodies are flat objects. Deeper nesting is refused up front rather than left to the parser's
# recursion limit, which depends on how deep the caller's stack already is.
MAX_JSON_DEPTH = 32
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_NESTING = {"[": 1, "{": 1, "]": -1, "}": -1}


# Per attachment, besides its content: its name and URL escaped at worst, and the JSON around them.
BYTES_PER_FILE = (1024 + 2048) * 6 + 64


def max_body_bytes(settings: Settings) -> int:
    """The prompt's worst case, and the inline attachments' (base64: 4 bytes for 3, and line breaks)."""
    inline = -(-settings.files_inline_max_bytes // 3) * 4 * 77 // 76 if settings.files_max_count else 0
    return (settings.max_prompt_chars * WORST_BYTES_PER_PROMPT_CHAR + BODY_OVERHEAD_BYTES
            + inline + settings.files_max_count * BYTES_PER_FILE)


def _not_json(msg: str, loc: tuple[str | int, ...] = ("body",)) -> NoReturn:
    raise InvalidRequest([error_entry(loc, msg, "json_invalid")])


def _refuse_constant(name: str) -> NoReturn:
    _not_json(f"JSON decode error: {name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        _not_json("JSON decode error: a number is too large")
    return value


def _bounded_int(text: str) -> int:
    if len(text) - text.startswith("-") > MAX_INT_DIGITS:
        _not_json(f"JSON decode error: an integer has more than {MAX_INT_DIGITS} digits")
    return int(text)


def _nesting_depth(text: str) -> int:
    """How deep arrays and objects nest in `text`, brackets inside strings not counted."""
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    return max(accumulate(map(_NESTING.__getitem__, brackets)), default=0)


def parse_json_object(body: bytes, max_bytes: int) -> Any:
    """The request body as strict JSON (RFC 8259: no NaN or Infinity, finite numbers), or
    `InvalidRequest` shaped as FastAPI reports it. Never raises anything else."""
    if len(body) > max_bytes:
        raise RequestTooLarge([error_entry(("body",), f"Request body exceeds {max_bytes} bytes", "too_large")])
    if not body.strip():
        raise InvalidRequest([error_entry(("body",), "Field required", "missing")])
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        _not_json("Body is not valid UTF-8", ("body", error.start))
    too_deep = f"JSON decode error: the body nests deeper than {MAX_JSON_DEPTH} levels"
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH and _nesting_depth(text) > MAX_JSON_DEPTH:
        _not_json(too_deep)
    try:
        return json.loads(
            text, parse_constant=_refuse_constant, parse_float=_finite_float, parse_int=_bounded_int
        )
    except json.JSONDecodeError as error:
        _not_json(f"JSON decode error: {error.msg}", ("body", error.pos))
    except RecursionError:  # a backstop: the depth check above keeps valid JSON well away from it
        _not_json(too_deep)


def validate_create(body: bytes, settings: Settings, schema: type[TaskCreate] = TaskCreate) -> TaskCreate:
    """The request as a `schema`, or `InvalidRequest` with every problem found."""
    return validate_create_with_files(body, settings, schema)[0]


def validate_create_with_files(
    body: bytes, settings: Settings, schema: type[TaskCreate] = TaskCreate
) -> tuple[TaskCreate, list[Attachment]]:
    """The request as a `schema` and its attachments checked and decoded, or `InvalidRequest` with
    every problem found."""
    data = parse_json_object(body, max_body_bytes(settings))
    try:
        request = schema.model_validate(data)
    except ValidationError as error:
        raise InvalidRequest(validation_detail(error, "body")) from None
    if "model_name" not in request.model_fields_set:
        # The schema's default is the original API's documented one; this server's is the setting.
        request = request.model_copy(update={"model_name": settings.default_model_name})
    problems: list[dict[str, Any]] = []
    limit = settings.max_prompt_chars
    if len(request.prompt) > limit:
        problems.append(
            error_entry(("body", "prompt"), f"String should have at most {limit} characters", "string_too_long")
        )
    provider = settings.provider_problem(request.use_aoai)
    if provider:
        problems.append(error_entry(("body", "use_aoai"), provider, "provider_not_configured"))
    if not settings.model_allowed(request.model_name):
        # The caller's own string is not repeated back (it may be anything that matches the pattern).
        allowed = ", ".join(settings.allowed_models)
        problems.append(
            error_entry(
                ("body", "model_name"),
                f"This model is not allowed on this server (allowed: {allowed})",
                "model_not_allowed",
            )
        )
    if request.callback_url is not None:
        try:
            CallbackPolicy(settings.callback_allowed_hosts, settings.callback_allow_private_networks).check_url(
                request.callback_url
            )
            if settings.webhook_secret is None:
                raise CallbackRefused("callbacks are not enabled on this server (WEBHOOK_SECRET is not set)")
        except CallbackRefused as refused:
            problems.append(error_entry(("body", "callback_url"), str(refused), "callback_url_refused"))
    problems += team_problems(request, settings)
    attachments: list[Attachment] = []
    if request.files:
        limits = FileLimits(settings.files_max_count, settings.files_max_bytes, settings.files_inline_max_bytes)
        policy = url_policy(settings.files_url_allowed_hosts, settings.files_url_allow_private_networks)
        attachments, file_problems = check_uploads(request.files, limits, policy)
        problems += [error_entry(("body", *loc), msg, kind) for loc, msg, kind in file_problems]
    if problems:
        raise InvalidRequest(problems)
    return request, attachments
