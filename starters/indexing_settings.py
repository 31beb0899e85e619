"""The settings read once when the worker indexes the app: they decide which functions exist and
how the HTTP functions authenticate.

Invalid settings must not cost the host its functions: the defaults are used instead (function
keys required, optional starters off), the bad fields are logged (never their values), and every
call then reports the problem clearly.
"""

from __future__ import annotations

import logging
from functools import cache

from pydantic import ValidationError

from magentic_tasks.settings import Settings

logger = logging.getLogger(__name__)


@cache
def settings_at_indexing() -> Settings:
    """The settings, or the defaults (logged) when they are invalid; read once per process."""
    try:
        return Settings()
    except ValidationError as error:
        fields = ", ".join(".".join(str(p) for p in item["loc"]) for item in error.errors(include_input=False))
        logger.error(
            "settings are invalid (%s); indexing with the defaults: the HTTP functions require a function key "
            "and the optional starters stay off",
            fields,
        )
        return Settings.model_construct()
