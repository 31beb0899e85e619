"""Secrets never survive into text this service writes anywhere, and nothing else is touched.

Two halves: a corpus of ordinary prose and code that must come back unchanged (and a property over
any text made of ordinary words), and secrets of every known shape in every position (start,
middle, end of a line, quoted, in JSON, in URLs, in headers, in exception texts).
"""

from __future__ import annotations

import json
import logging
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from magentic_tasks.redaction import REDACTED, RedactingFilter, Redactor, install_log_redaction

SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
COMMIT = "4a5cc7a8e1f0b2c3d4e5f60718293a4b5c6d7e8f"

# Ordinary text that merely resembles secrets: it must pass through unchanged.
ORDINARY = [
    "exit_code = 1",
    "exit_code = process.returncode",
    "code = compile(source, '<agent>', 'exec')",
    "task = asyncio.create_task(run(team))",
    "if exit_code != 0:\n    raise SystemExit(exit_code)",
    "max_tokens = 4096\ntoken_count = len(tokens)\nprompt_tokens = 5012",
    "token = tokenizer.encode(text)",
    "token = tokenizer_v2.encode(text)",
    "api_key = os.environ['OPENAI_API_KEY']",
    "api_key = settings.openai_api_key.get_secret_value()",
    "password = getpass.getpass()",
    "secret_santa = pick(names)",
    "key = (task_id, attempt, seq)",
    "monkey = 'banana'; turkey: 12",
    "a desk-lamp-and-chair-combination, a risk-assessment-framework-2024",
    "The skeleton in the closet; a desk-lamp; a risk-free, task-based plan; whisk-ready.",
    "He was the bearer of bad news, and the password is in the vault.",
    "Tokens are counted for every model call, the orchestrator's included.",
    "Secret Service, secretary, keynote, keyboard, tokenizer, passwordless sign-in.",
    "Use an API key or managed identity; set the Authorization header as the docs say.",
    "## Results\n\n| agent | prompt_tokens |\n|---|---|\n| Coder | 912 |\n\n- [x] done\n`exit_code = 1`",
    '{"prompt": "Write a haiku", "use_aoai": true, "model_name": "gpt-4o", "max_tokens": 1000}',
    '{"task_result": {"status": "completed", "stop_reason": "The request has been satisfied."}}',
    "See https://learn.microsoft.com/azure/azure-functions/durable/?tabs=python&pivots=v2 for details.",
    "GET https://example.com/search?q=api+key&page=2&sort=desc HTTP/1.1",
    "https://github.com/microsoft/autogen/blob/main/README.md#installation",
    f"commit {COMMIT} fixes the store; image sha256 {SHA256} (1234 bytes)",
    f'{{"type": "image_ref", "sha256": "{SHA256}", "bytes": 52311}}',
    "Error code: 404 - {'error': {'code': 'DeploymentNotFound', 'message': 'The deployment does not exist.'}}",
    "openai.AuthenticationError: Error code: 401 - Incorrect API key provided: sk-abc1*****wxyz.",
    "sklearn and sk-learn-compatible-estimators are fine; so is sk-1.",
    "uuid 2b0c1d2e-3f40-4a5b-8c6d-7e8f90a1b2c3 created at 2026-11-25T12:00:00.123456+00:00",
    "Traceback (most recent call last):\n  File \"runner.py\", line 81, in run_team\nTimeoutError: deadline",
    "def check(token: str) -> bool:\n    return token.startswith('Bearer ')",
    "x = {'secret': None, 'token': '', 'password': 'hunter'}",
]

AZURE_HEX_KEY = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
AZURE_B64_KEY = "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6QUJDREVGR0hJSktMTU5PUA=="
OPENAI_KEY = "sk-proj-Abc123def456GHI789jkl012MNO345pqr678STU901vwx234YZ_-abcdEFGH"
LEGACY_KEY = "sk-1a2B3c4D5e6F7g8H9i0JkLmNoPqRsTuVwXyZ012345678901"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkFsaWNlIn0"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
SAS_SIG = "r1Z2x%2BAbCdEf0123456789GhIjKlMnOpQrStUv%3D"

# (text, the secret it holds): every shape, in every position.
SECRETS = [
    (f"{OPENAI_KEY} was rejected", OPENAI_KEY),
    (f"using key {LEGACY_KEY}", LEGACY_KEY),
    (f"Incorrect API key provided: {OPENAI_KEY}.", OPENAI_KEY),
    (f'{{"api_key": "{OPENAI_KEY}"}}', OPENAI_KEY),
    (f"Authorization: Bearer {JWT}", JWT),
    (f"curl -H 'Authorization: Bearer abc123def456ghi789' {'https://x.test'}", "abc123def456ghi789"),
    (f"token {JWT} expired", JWT),
    (f"api-key: {AZURE_HEX_KEY}", AZURE_HEX_KEY),
    (f"{{'api-key': '{AZURE_HEX_KEY}', 'User-Agent': 'AsyncAzureOpenAI/Python 1.93.0'}}", AZURE_HEX_KEY),
    (f"AZURE_OPENAI_API_KEY={AZURE_B64_KEY}", AZURE_B64_KEY),
    (f'"x-functions-key": "{AZURE_B64_KEY}"', AZURE_B64_KEY),
    (f"Ocp-Apim-Subscription-Key: {AZURE_HEX_KEY}", AZURE_HEX_KEY),
    (f"client_secret = '{AZURE_HEX_KEY}'", AZURE_HEX_KEY),
    ("Authorization: Basic dXNlcjpwYXNzd29yZDEyMw==", "dXNlcjpwYXNzd29yZDEyMw=="),
    (
        f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={AZURE_B64_KEY};EndpointSuffix=core.windows.net",
        AZURE_B64_KEY,
    ),
    (
        "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=root;SharedAccessKey=AbC123xyz+/=;",
        "AbC123xyz+/=",
    ),
    (f"BlobEndpoint=https://a.blob.core.windows.net/;SharedAccessSignature=sv=2022-11-02&sig={SAS_SIG}", SAS_SIG),
    (f"GET https://a.blob.core.windows.net/c/b.txt?sv=2022-11-02&se=2026-01-01&sig={SAS_SIG} 403", SAS_SIG),
    ("POST https://app.azurewebsites.net/tasks?code=Q1w2E3r4T5y6==&x=1 failed", "Q1w2E3r4T5y6=="),
    ("redirect to https://login.test/cb?state=abc&access_token=tok-9f8e7d6c5b4a#frag", "tok-9f8e7d6c5b4a"),
    ("https://maps.test/api?key=AIzaSyA1b2C3d4E5f6G7h8I9j0", "AIzaSyA1b2C3d4E5f6G7h8I9j0"),
    ("https://idp.test/token?client_secret=s3cr3t&grant_type=client_credentials", "s3cr3t"),
    ("ghp_0123456789abcdefghijklmnopqrstuvwxyzAB pushed", "ghp_0123456789abcdefghijklmnopqrstuvwxyzAB"),
    ("aws AKIAIOSFODNN7EXAMPLE configured", "AKIAIOSFODNN7EXAMPLE"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----", "MIIEpAIBAAKCAQEA"),
    (
        f"openai.AuthenticationError: Error code: 401 - {{'error': {{'message': 'Incorrect API key provided: "
        f"{LEGACY_KEY}. You can find your API key at https://platform.openai.com/account/api-keys.'}}}}",
        LEGACY_KEY,
    ),
]


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_prose_and_code_pass_unchanged(text: str) -> None:
    assert Redactor(["canary-key-123456"])(text) == text


@pytest.mark.parametrize(("text", "secret"), SECRETS)
@pytest.mark.parametrize("position", ["alone", "start", "middle", "end", "quoted", "json"])
def test_secrets_of_every_shape_are_removed_in_every_position(text: str, secret: str, position: str) -> None:
    placed = {
        "alone": text,
        "start": f"{text}\nand then the run went on",
        "middle": f"before it\n{text}\nafter it",
        "end": f"the upstream said: {text}",
        "quoted": f"'{text}'",
        "json": json.dumps({"error": text}),
    }[position]
    redacted = Redactor()(placed)
    assert secret not in redacted and json.dumps(secret)[1:-1] not in redacted
    assert REDACTED in redacted


def test_names_that_introduced_a_secret_are_kept() -> None:
    redact = Redactor()
    assert redact(f"api-key: {AZURE_HEX_KEY}") == f"api-key: {REDACTED}"
    assert redact(f"https://a.test/b?sv=2022&sig={SAS_SIG}&sp=r") == f"https://a.test/b?sv=2022&sig={REDACTED}&sp=r"
    assert redact(f"AccountName=a;AccountKey={AZURE_B64_KEY};x=y") == f"AccountName=a;AccountKey={REDACTED};x=y"
    assert redact(f"Bearer {JWT}") == f"Bearer {REDACTED}"


def test_known_secrets_are_replaced_wherever_they_appear() -> None:
    redact = Redactor(["canary-key-123456"])
    assert redact("Incorrect API key provided: canary-key-123456.") == f"Incorrect API key provided: {REDACTED}."
    assert redact("xxcanary-key-123456yy") == f"xx{REDACTED}yy"


def test_a_bare_azure_key_is_removed_when_known_and_kept_like_a_digest_when_not() -> None:
    text = f"the key is {AZURE_HEX_KEY} and the digest {SHA256}"
    assert Redactor([AZURE_HEX_KEY])(text) == f"the key is {REDACTED} and the digest {SHA256}"
    assert Redactor()(text) == text


def test_very_short_values_are_not_treated_as_secrets() -> None:
    assert Redactor(["ab"])("abc") == "abc"


# ---- the whole class -----------------------------------------------------------------------------

# Ordinary words, including the ones key-like names are made of, and numbers.
_words = st.text(alphabet=string.ascii_letters, min_size=1, max_size=14) | st.sampled_from(
    ["key", "token", "secret", "password", "bearer", "Bearer", "code", "exit_code", "sk", "desk-lamp", "risk-free",
     "api_key", "Authorization", "max_tokens", "https://example.com/a/b", "sig", "AccountKey"]
) | st.integers(min_value=0, max_value=10**6).map(str)
_separators = st.sampled_from([" ", "  ", "\n", ", ", ". ", ": ", " = ", "; ", " (", ") ", " - ", "\t", " '", "' "])
ordinary_text = st.lists(st.tuples(_words, _separators), max_size=40).map(
    lambda pairs: "".join(word + sep for word, sep in pairs)
)


@settings(max_examples=500, deadline=None)
@given(text=ordinary_text)
def test_any_text_of_ordinary_words_passes_unchanged(text: str) -> None:
    assert Redactor(["canary-key-123456"])(text) == text


_base62 = string.ascii_letters + string.digits
known_secrets = st.text(alphabet=_base62 + "-_+/=", min_size=8, max_size=90).filter(lambda s: s.strip("-_+/="))
shaped_secrets = st.one_of(
    st.tuples(st.sampled_from(["sk-", "sk-proj-", "sk-svcacct-"]), st.text(alphabet=_base62, min_size=24, max_size=80))
    .map(lambda p: p[0] + p[1] + "7"),
    st.text(alphabet=_base62, min_size=16, max_size=60).map(lambda s: f"Bearer a1{s}"),
    st.tuples(st.sampled_from(["api-key: ", "api_key=", '"x-functions-key": "', "AccountKey=", "password: "]),
              st.text(alphabet="0123456789abcdef", min_size=32, max_size=32))
    .map(lambda p: p[0] + "a1" + p[1]),
)


@settings(max_examples=300, deadline=None)
@given(before=ordinary_text, secret=known_secrets, after=ordinary_text)
def test_any_known_secret_embedded_anywhere_is_removed(before: str, secret: str, after: str) -> None:
    assert secret not in Redactor([secret])(before + secret + after)


@settings(max_examples=300, deadline=None)
@given(before=ordinary_text, secret=shaped_secrets, after=ordinary_text)
def test_any_secret_of_a_known_shape_embedded_anywhere_is_removed(before: str, secret: str, after: str) -> None:
    value = secret.split()[-1].split("=", 1)[-1].split('"')[-1]
    redacted = Redactor()(f"{before} {secret} {after}")
    assert value not in redacted


# ---- logs --------------------------------------------------------------------------------------


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
