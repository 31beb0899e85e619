"""Secrets never survive into text this service writes anywhere."""

from __future__ import annotations

import logging

import pytest

from magentic_tasks.redaction import REDACTED, RedactingFilter, Redactor, install_log_redaction


def test_known_secrets_are_replaced_wherever_they_appear() -> None:
    redact = Redactor(["canary-key-123456"])
    assert redact("Incorrect API key provided: canary-key-123456.") == f"Incorrect API key provided: {REDACTED}."


def test_things_shaped_like_keys_are_replaced_even_when_unknown() -> None:
    redact = Redactor()
    text = redact(
        "key sk-proj-abcdefghijklmnop1234 header Authorization: Bearer abc.def.ghijklmnopqrs api-key=zzzzzzzzz"
    )
    assert "sk-proj-abcdefghijklmnop1234" not in text
    assert "abc.def.ghijklmnopqrs" not in text
    assert "zzzzzzzzz" not in text


def test_ordinary_text_is_left_alone() -> None:
    assert Redactor(["s3cret-value"])("The answer is 42.") == "The answer is 42."


def test_very_short_values_are_not_treated_as_secrets() -> None:
    assert Redactor(["ab"])("abc") == "abc"


def test_the_logging_filter_scrubs_messages_arguments_and_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.redaction")
    logger.addFilter(RedactingFilter(Redactor(["canary-key-123456"])))
    with caplog.at_level(logging.INFO, logger="test.redaction"):
        logger.info("calling with %s", "canary-key-123456")
        try:
            raise RuntimeError("upstream said canary-key-123456")
        except RuntimeError:
            logger.exception("failed")
    assert "canary-key-123456" not in caplog.text
    assert f"calling with {REDACTED}" in caplog.text
    assert f"RuntimeError: upstream said {REDACTED}" in caplog.text


def test_installed_redaction_scrubs_records_from_any_logger(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    original = logging.getLogRecordFactory()
    monkeypatch.setenv("OPENAI_API_KEY", "canary-env-key-987654")
    try:
        install_log_redaction()
        install_log_redaction()  # once: installing again refreshes the secrets
        with caplog.at_level(logging.INFO):
            logging.getLogger("openai._base_client").info("sending key %s", "canary-env-key-987654")
        assert "canary-env-key-987654" not in caplog.text
        assert REDACTED in caplog.text
    finally:
        logging.setLogRecordFactory(original)
