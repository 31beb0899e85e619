"""Safe names, content types and the request's limits: traversal and odd names refused or made safe,
duplicates renamed, oversized and malformed content refused without being decoded or echoed."""

from __future__ import annotations

import base64

import pytest

from magentic_tasks.files import (
    OCTET_STREAM,
    FileLimits,
    NameRefused,
    check_uploads,
    content_type_for,
    safe_name,
    safe_path,
    unique_names,
    url_policy,
)
from magentic_tasks.schemas import FileUpload


@pytest.mark.parametrize("raw", [
    "../etc/passwd", "/etc/passwd", "a/b.txt", "a\\b.txt", "..", ".", "", "   ", "x\x00y", "tab\there",
    "rtl\u202etxt.exe", "line\nbreak", "x" * 201, "é" * 150,
])
def test_names_that_cannot_be_made_safe_are_refused(raw: str) -> None:
    with pytest.raises(NameRefused) as refused:
        safe_name(raw)
    assert len(raw.strip()) < 3 or raw not in str(refused.value)  # the message never repeats the name


@pytest.mark.parametrize(("raw", "safe"), [
    ("notes.txt", "notes.txt"), ("  spaced.md ", "spaced.md"), ("C:evil.txt", "C_evil.txt"),
    ("CON", "_CON"), ("nul.txt", "_nul.txt"), ("com1.log", "_com1.log"), ("trailing. . ", "trailing"),
    ("what?.csv", "what_.csv"), ("e\u0301t\u00e9.txt", "\u00e9t\u00e9.txt"), (".hidden", ".hidden"),
])
def test_names_are_normalised(raw: str, safe: str) -> None:
    assert safe_name(raw) == safe


def test_output_paths_are_kept_only_as_given() -> None:
    assert safe_path("out/report.csv") == "out/report.csv"
    for bad in ("out/CON", "a:b/x", "../x", "dir//x", "x" * 513):
        with pytest.raises(NameRefused):
            safe_path(bad)


def test_duplicates_are_renamed_case_insensitively() -> None:
    assert unique_names(["a.txt", "A.TXT", "a.txt", "README", "readme"]) == [
        "a.txt", "A (2).TXT", "a (3).txt", "README", "readme (2)"]


@pytest.mark.parametrize(("name", "kind"), [
    ("page.html", OCTET_STREAM), ("x.svg", OCTET_STREAM), ("x.js", OCTET_STREAM), ("x.xml", OCTET_STREAM),
    ("x.xhtml", OCTET_STREAM), ("noext", OCTET_STREAM), ("x.exe", OCTET_STREAM), ("x.csv", "text/csv"),
    ("x.txt", "text/plain"), ("x.png", "image/png"), ("x.pdf", "application/pdf"), ("x.JSON", "application/json"),
])
def test_a_download_is_never_served_as_something_a_browser_runs(name: str, kind: str) -> None:
    assert content_type_for(name) == kind


LIMITS = FileLimits(max_count=3, max_bytes=100, inline_max_bytes=150)
POLICY = url_policy(("files.example.com",), False)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_attachments_within_the_limits_are_decoded_and_named() -> None:
    uploads = [FileUpload(name="a.txt", content=b64(b"x" * 100)), FileUpload(name="A.txt", content=b64(b"y" * 50)),
               FileUpload(name="c.pdf", url="https://files.example.com/c.pdf")]
    attachments, problems = check_uploads(uploads, LIMITS, POLICY)
    assert problems == []
    assert [(a.name, a.content_type, a.content and len(a.content), a.url) for a in attachments] == [
        ("a.txt", "text/plain", 100, None), ("A (2).txt", "text/plain", 50, None),
        ("c.pdf", "application/pdf", None, "https://files.example.com/c.pdf")]


@pytest.mark.parametrize(("uploads", "loc", "kind"), [
    ([FileUpload(name=f"{n}.txt", content="") for n in range(4)], ("files",), "too_many_files"),
    ([FileUpload(name="a", content=b64(b"x" * 101))], ("files", 0, "content"), "file_too_large"),
    ([FileUpload(name="a", content=b64(b"x" * 10_000))], ("files", 0, "content"), "file_too_large"),
    ([FileUpload(name="a", content=b64(b"x" * 100)), FileUpload(name="b", content=b64(b"x" * 60))],
     ("files", 1, "content"), "files_too_large"),
    ([FileUpload(name="a", content="not base64!")], ("files", 0, "content"), "base64_invalid"),
    ([FileUpload(name="../a", content="")], ("files", 0, "name"), "file_name_refused"),
    ([FileUpload(name="a", url="http://files.example.com/a")], ("files", 0, "url"), "url_refused"),
    ([FileUpload(name="a", url="https://elsewhere.example.org/a")], ("files", 0, "url"), "url_refused"),
    ([FileUpload(name="a", url="https://10.0.0.1/a")], ("files", 0, "url"), "url_refused"),
])
def test_each_limit_and_rule_is_a_problem_that_names_where(uploads: list[FileUpload], loc: tuple[object, ...],
                                                           kind: str) -> None:
    attachments, problems = check_uploads(uploads, LIMITS, POLICY)
    assert attachments == []
    assert [(p[0], p[2]) for p in problems] == [(loc, kind)]


def test_content_and_url_together_or_neither_are_refused_by_the_schema() -> None:
    with pytest.raises(ValueError, match="either content"):
        FileUpload(name="a", content="", url="https://x")
    with pytest.raises(ValueError, match="either content"):
        FileUpload(name="a")
