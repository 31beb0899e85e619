"""How a failed run is described, and which failures are worth another attempt."""

from __future__ import annotations

from magentic_tasks.run import TRANSIENT_ERRORS, describe


def test_an_agents_error_reraised_by_autogen_keeps_its_own_type_and_loses_the_traceback() -> None:
    error = RuntimeError("RateLimitError: Error code: 429 - slow down\nTraceback:\n  File x.py, line 1")
    assert describe(error) == ("RateLimitError", "RateLimitError: Error code: 429 - slow down")
    assert describe(error)[0] in TRANSIENT_ERRORS


def test_any_other_error_is_named_by_its_type() -> None:
    assert describe(ValueError("bad ledger")) == ("ValueError", "ValueError: bad ledger")
    assert describe(TimeoutError()) == ("TimeoutError", "TimeoutError")
    assert "ValueError" not in TRANSIENT_ERRORS
