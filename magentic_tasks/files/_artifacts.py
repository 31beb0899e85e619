"""What the team leaves in its workspace, as the task's outputs: every regular file outside
`inputs/`, under its workspace path, hashed and typed, within the limits.

Symbolic links are never followed nor kept, and neither are sockets, pipes or devices; a name that
is not safe (`safe_path`) is not kept either. Each of those, and every file past `ARTIFACT_MAX_FILES`
or past `ARTIFACT_MAX_BYTES` in all, is listed as skipped with its reason. The code executor's own
scripts (`tmp_code_<sha256>.<ext>` at the top) are not outputs. The walk looks at
`MAX_SCANNED` entries at most.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from ..schemas import INPUTS_FOLDER, SkippedFile, TaskFile
from ._content_types import content_type_for
from ._names import NameRefused, safe_path
from ._staging import file_digest

MAX_SCANNED = 10_000
MAX_SKIPPED_LISTED = 50
_EXECUTOR_SCRIPT = re.compile(r"tmp_code_[0-9a-f]{64}\.[A-Za-z0-9]+")


@dataclass
class Collected:
    """The outputs to keep (each with its file) and what was skipped."""

    files: list[tuple[TaskFile, Path]] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    more_skipped: int = 0

    def skip(self, name: str, reason: str) -> None:
        if len(self.skipped) < MAX_SKIPPED_LISTED:
            self.skipped.append(SkippedFile(name=_printable(name), reason=reason))
        else:
            self.more_skipped += 1

    @property
    def skipped_listed(self) -> list[SkippedFile]:
        """The skipped files, with one closing entry for those past `MAX_SKIPPED_LISTED`."""
        if not self.more_skipped:
            return list(self.skipped)
        return [*self.skipped, SkippedFile(name="...", reason=f"and {self.more_skipped} more files not kept")]


def collect_outputs(workspace: Path, *, max_files: int, max_bytes: int) -> Collected:
    """The workspace's outputs (blocking: run it on a thread)."""
    found = Collected()
    if not workspace.is_dir():
        return found
    candidates: list[tuple[str, Path, int]] = []
    scanned = _walk(workspace, "", found, candidates, [0])
    if scanned >= MAX_SCANNED:
        found.skip("...", f"the workspace holds more than {MAX_SCANNED} entries; the rest were not looked at")
    total = 0
    for name, path, size in sorted(candidates):
        if len(found.files) >= max_files:
            found.skip(name, f"over ARTIFACT_MAX_FILES ({max_files} files)")
            continue
        if total + size > max_bytes:
            found.skip(name, f"over ARTIFACT_MAX_BYTES ({max_bytes} bytes in all)")
            continue
        try:
            real_size, sha256 = file_digest(path)
        except OSError:
            found.skip(name, "could not be read")
            continue
        total += real_size
        found.files.append((TaskFile(name=name, size=real_size, sha256=sha256, content_type=content_type_for(name)),
                            path))
    return found


def _walk(folder: Path, prefix: str, found: Collected, out: list[tuple[str, Path, int]], scanned: list[int]) -> int:
    try:
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
    except OSError:
        found.skip(prefix or ".", "the folder could not be read")
        return scanned[0]
    for entry in entries:
        scanned[0] += 1
        if scanned[0] > MAX_SCANNED:
            return scanned[0]
        name = f"{prefix}{entry.name}"
        if (not prefix and entry.name == INPUTS_FOLDER) or (not prefix and _EXECUTOR_SCRIPT.fullmatch(entry.name)):
            continue
        try:
            mode = entry.stat(follow_symlinks=False).st_mode
        except OSError:
            found.skip(name, "could not be read")
            continue
        if stat.S_ISLNK(mode):
            found.skip(name, "a symbolic link (never followed)")
        elif stat.S_ISDIR(mode):
            _walk(Path(entry.path), f"{name}/", found, out, scanned)
        elif not stat.S_ISREG(mode):
            found.skip(name, "not a regular file")
        else:
            try:
                safe_path(name)
            except NameRefused as refused:
                found.skip(name, f"unsafe name: {refused}")
                continue
            out.append((name, Path(entry.path), entry.stat(follow_symlinks=False).st_size))
    return scanned[0]


def _printable(name: str) -> str:
    """A name fit to show: control and format characters escaped, at most 300 characters."""
    shown = "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in name)
    return shown if len(shown) <= 300 else shown[:297] + "..."
