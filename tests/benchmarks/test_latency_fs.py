"""The share-like filesystem of the benchmarks says exactly what it lacks; with only fuse3 installed
that is FUSE 2's library, which fusepy loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import latency_fs


def test_without_libfuse2_the_missing_library_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    device = tmp_path / "fuse"
    device.touch()
    monkeypatch.setattr(latency_fs, "FUSE_DEVICE", device)
    monkeypatch.setattr(latency_fs, "libfuse2", lambda: None)  # as with fuse3 alone: libfuse.so.3 only

    why = latency_fs.available()

    assert why is not None and "libfuse.so.2" in why and "apt-get install libfuse2" in why
    assert "/dev/fuse" not in why


def test_fusepys_own_library_path_setting_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FUSE_LIBRARY_PATH", "/opt/fuse/libfuse.so.2")

    assert latency_fs.libfuse2() == "/opt/fuse/libfuse.so.2"
