"""Collecting outputs (no symlinks followed, no special files, limits listed as skipped, inputs and
the executor's scripts left out) and fetching attachments by URL (a local HTTPS server with its own
CA: trusted only through the bundle, capped while streaming, private addresses refused)."""

from __future__ import annotations

import hashlib
import os
import socket
from pathlib import Path

import pytest

from magentic_tasks.files import FetchFailed, collect_outputs, fetch_to_file, url_policy
from tests.support.https_server import HttpsFileServer


def test_outputs_are_regular_files_outside_inputs_with_hashes_and_reasons_for_the_rest(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    (ws / "inputs").mkdir(parents=True)
    (ws / "inputs" / "given.txt").write_text("input")
    (ws / "report.csv").write_text("a,b\n1,2\n")
    (ws / "charts").mkdir()
    (ws / "charts" / "fig.png").write_bytes(b"\x89PNG....")
    (ws / ("tmp_code_" + "a" * 64 + ".py")).write_text("print(1)")
    secret = tmp_path / "secret.txt"
    secret.write_text("never read")
    (ws / "link.txt").symlink_to(secret)
    (ws / "linked_dir").symlink_to(tmp_path)
    os.mkfifo(ws / "pipe")
    listening = socket.socket(socket.AF_UNIX)
    listening.bind(str(ws / "sock"))
    (ws / "page.html").write_text("<script>alert(1)</script>")
    (ws / "CON").write_text("device")  # a name not kept as is
    collected = collect_outputs(ws, max_files=10, max_bytes=10_000)
    listening.close()
    kept = {f.name: f for f, _ in collected.files}
    assert set(kept) == {"charts/fig.png", "page.html", "report.csv"}
    assert kept["report.csv"].sha256 == hashlib.sha256(b"a,b\n1,2\n").hexdigest()
    assert kept["page.html"].content_type == "application/octet-stream"
    reasons = {s.name: s.reason for s in collected.skipped_listed}
    assert reasons["link.txt"].startswith("a symbolic link") and reasons["linked_dir"].startswith("a symbolic link")
    assert reasons["pipe"] == reasons["sock"] == "not a regular file"
    assert reasons["CON"].startswith("unsafe name")


def test_what_is_over_the_limits_is_listed_as_skipped(tmp_path: Path) -> None:
    for n, size in enumerate((40, 40, 30, 10, 10)):
        (tmp_path / f"f{n}.txt").write_bytes(b"x" * size)
    collected = collect_outputs(tmp_path, max_files=3, max_bytes=100)
    assert [f.name for f, _ in collected.files] == ["f0.txt", "f1.txt", "f3.txt"]
    assert [(s.name, s.reason.split(" (")[0]) for s in collected.skipped_listed] == [
        ("f2.txt", "over ARTIFACT_MAX_BYTES"), ("f4.txt", "over ARTIFACT_MAX_FILES")]


@pytest.fixture
def https(tmp_path: Path) -> HttpsFileServer:
    with HttpsFileServer(tmp_path / "tls", {"/data.bin": os.urandom(300_000), "/small.txt": b"hello"}) as server:
        yield server  # type: ignore[misc]


PRIVATE_OK = url_policy(("127.0.0.1",), True)


async def test_a_url_is_fetched_byte_for_byte_with_the_ca_bundle(https: HttpsFileServer, tmp_path: Path) -> None:
    target = tmp_path / "data.bin"
    fetched = await fetch_to_file(https.url("/data.bin"), target, policy=PRIVATE_OK, max_bytes=1_000_000,
                                  ca_bundle=https.ca_bundle)
    assert target.read_bytes() == https.files["/data.bin"]
    assert (fetched.size, fetched.sha256) == (300_000, hashlib.sha256(https.files["/data.bin"]).hexdigest())


async def test_a_certificate_the_system_does_not_trust_is_refused(https: HttpsFileServer, tmp_path: Path) -> None:
    with pytest.raises(FetchFailed, match="TLS") as failed:
        await fetch_to_file(https.url("/small.txt"), tmp_path / "x", policy=PRIVATE_OK, max_bytes=100)
    assert not failed.value.retryable and not (tmp_path / "x").exists()


async def test_the_size_cap_holds_while_streaming_and_leaves_nothing(https: HttpsFileServer, tmp_path: Path) -> None:
    with pytest.raises(FetchFailed, match="FILES_MAX_BYTES"):
        await fetch_to_file(https.url("/data.bin"), tmp_path / "big", policy=PRIVATE_OK, max_bytes=100_000,
                            ca_bundle=https.ca_bundle)
    assert not any(p.is_file() for p in os.scandir(tmp_path))


async def test_private_addresses_and_unlisted_hosts_are_refused_before_connecting(
    https: HttpsFileServer, tmp_path: Path
) -> None:
    for policy, expected in ((url_policy(("127.0.0.1",), False), "private, loopback"),
                             (url_policy(("example.com",), True), "FILES_URL_ALLOWED_HOSTS")):
        with pytest.raises(FetchFailed, match=expected) as failed:
            await fetch_to_file(https.url("/small.txt"), tmp_path / "x", policy=policy, max_bytes=100,
                                ca_bundle=https.ca_bundle)
        assert not failed.value.retryable
    # A name that resolves to loopback is refused at the connection (the address that was checked).
    with pytest.raises(FetchFailed, match="refused"):
        await fetch_to_file(https.url("/small.txt").replace("127.0.0.1", "localhost"), tmp_path / "x",
                            policy=url_policy(("localhost",), False), max_bytes=100, ca_bundle=https.ca_bundle)
    assert https.requests == []


async def test_a_missing_file_is_not_retried_and_a_server_error_is(https: HttpsFileServer, tmp_path: Path) -> None:
    with pytest.raises(FetchFailed, match="HTTP 404") as failed:
        await fetch_to_file(https.url("/nope"), tmp_path / "x", policy=PRIVATE_OK, max_bytes=100,
                            ca_bundle=https.ca_bundle)
    assert not failed.value.retryable
