"""The settings read once when the worker indexes the app: they decide which functions exist and
how the HTTP functions authenticate.

Invalid settings must not cost the host its functions: the defaults are used instead (function
keys required, optional starters off), the bad fields are logged (never their values), and every
call then reports the problem clearly.

Only `StartupSettings` (a few fields) is read for that. The whole `Settings` is validated too, but
only when the startup settings differ from their defaults: only then can an invalid setting
elsewhere change what is indexed (back to the defaults). Otherwise the defaults are indexed either
way, and `Settings`, whose validators are the larger part of the app's import cost, is first built
by the first call that needs it (which reports an invalid setting, as every call does).
"""

from __future__ import annotations

import logging
from functools import cache

from pydantic import ValidationError

from magentic_tasks.settings import Settings, StartupSettings, get_settings

logger = logging.getLogger(__name__)


def invalid_fields(error: ValidationError) -> str:
    """The settings a validation error is about, without their values."""
    return ", ".join(".".join(str(p) for p in item["loc"]) for item in error.errors(include_input=False))


@cache
def settings_at_indexing() -> Settings:
    """The settings, or the defaults (logged) when they are invalid; read once per process.

    While the startup settings are their defaults, only those are read and the other fields of the
    answer hold their defaults too: `get_settings()` reads them all."""
    try:
        startup = StartupSettings()
        if startup != StartupSettings.model_construct():
            return get_settings()  # anything invalid elsewhere means the defaults
    except ValidationError as error:
        logger.error(
            "settings are invalid (%s); indexing with the defaults: the HTTP functions require a function key "
            "and the optional starters stay off",
            invalid_fields(error),
        )
        return Settings.model_construct()
    return Settings.model_construct(_fields_set=startup.model_fields_set, **dict(startup))
