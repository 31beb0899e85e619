"""A share-like filesystem for benchmarks: a FUSE passthrough that adds a round trip to every call.

On an Azure Files (SMB) mount every open, lock-file create/remove, read, write and fsync is a
network round trip. This passthrough of a local folder sleeps `rtt` seconds in each such call
(fsync twice: the server flushes too), so SQLite's dot-file locking and journal pay what they
would pay on a share. Needs /dev/fuse, FUSE 2's library `libfuse.so.2` (fusepy loads it; Debian:
libfuse2, which fuse3 does not install), `fusermount` (Debian: fuse3) and fusepy (requirements-bench.txt).

    python benchmarks/latency_fs.py BACKING MOUNTPOINT --rtt-ms 2    # foreground, until unmounted
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes.util
import errno
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

COUNTER = ".round-trips"
_STAT_FIELDS = ("st_atime", "st_ctime", "st_gid", "st_mode", "st_mtime", "st_nlink", "st_size", "st_uid")


FUSE_DEVICE = Path("/dev/fuse")


def libfuse2() -> str | None:
    """Where FUSE 2's library is (fusepy's own lookup: `FUSE_LIBRARY_PATH`, else `libfuse.so.2`), or None."""
    return os.environ.get("FUSE_LIBRARY_PATH") or ctypes.util.find_library("fuse")


def available() -> str | None:
    """Why a share-like mount cannot be made here (everything that is missing), or None when it can."""
    missing = []
    if not FUSE_DEVICE.exists():
        missing.append(f"no {FUSE_DEVICE}")
    if libfuse2() is None:
        missing.append("no libfuse.so.2, the FUSE 2 library fusepy loads (fuse3 does not install it; "
                       "Debian: apt-get install libfuse2)")
    if shutil.which("fusermount") is None and shutil.which("fusermount3") is None:
        missing.append("no fusermount (Debian: apt-get install fuse3)")
    if importlib.util.find_spec("fuse") is None:
        missing.append("no fusepy (pip install -r requirements-bench.txt)")
    if missing:
        return "; ".join(missing)
    try:
        import fuse  # type: ignore[import-untyped]  # noqa: F401
    except OSError as error:
        return f"fusepy cannot load libfuse ({error})"
    return None


def serve(backing: str, mountpoint: str, rtt: float, parent: int | None = None, stats: str | None = None) -> None:
    """Serve until unmounted. With `stats`, that file gets the number of round trips paid so far
    whenever `MOUNTPOINT/.round-trips` is looked up (which itself costs none and does not exist)."""
    from fuse import FUSE, FuseOSError, Operations  # type: ignore[import-untyped]

    if parent is not None:  # a benchmark killed without cleaning up must not leave the mount behind
        threading.Thread(target=_unmount_when_orphaned, args=(parent, mountpoint), daemon=True).start()
    paid = [0]
    counting = threading.Lock()

    def slow(calls: int = 1) -> None:
        with counting:
            paid[0] += calls
        time.sleep(rtt * calls)

    class LatencyPassthrough(Operations):  # type: ignore[misc]
        def _path(self, path: str) -> str:
            return os.path.join(backing, path.lstrip("/"))

        def __call__(self, op: str, *args: Any) -> Any:
            try:
                return super().__call__(op, *args)
            except OSError as error:
                raise FuseOSError(error.errno or errno.EIO) from error

        def getattr(self, path: str, fh: int | None = None) -> dict[str, Any]:
            if path == "/" + COUNTER and stats is not None:
                Path(stats).write_text(f"{paid[0]}\n")
                raise FuseOSError(errno.ENOENT)
            slow()
            st = os.lstat(self._path(path))
            return {key: getattr(st, key) for key in _STAT_FIELDS}

        def readdir(self, path: str, fh: int) -> list[str]:
            slow()
            return [".", "..", *os.listdir(self._path(path))]

        def open(self, path: str, flags: int) -> int:
            slow()
            return os.open(self._path(path), flags)

        def create(self, path: str, mode: int, fi: Any = None) -> int:
            slow()
            return os.open(self._path(path), os.O_RDWR | os.O_CREAT | os.O_EXCL, mode)

        def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
            slow()
            return os.pread(fh, size, offset)

        def write(self, path: str, data: bytes, offset: int, fh: int) -> int:
            slow()
            return os.pwrite(fh, data, offset)

        def truncate(self, path: str, length: int, fh: int | None = None) -> None:
            slow()
            os.truncate(self._path(path), length)

        def fsync(self, path: str, datasync: int, fh: int) -> None:
            slow(2)
            os.fsync(fh)

        def flush(self, path: str, fh: int) -> None:
            return None

        def release(self, path: str, fh: int) -> None:
            os.close(fh)

        def unlink(self, path: str) -> None:
            slow()
            os.unlink(self._path(path))

        def mkdir(self, path: str, mode: int) -> None:
            slow()
            os.mkdir(self._path(path), mode)

        def rmdir(self, path: str) -> None:
            slow()
            os.rmdir(self._path(path))

        def rename(self, old: str, new: str) -> None:
            slow()
            os.rename(self._path(old), self._path(new))

        def utimens(self, path: str, times: tuple[float, float] | None = None) -> None:
            os.utime(self._path(path), times)

        def chmod(self, path: str, mode: int) -> None:
            os.chmod(self._path(path), mode)

    FUSE(LatencyPassthrough(), mountpoint, foreground=True, nothreads=False, direct_io=True)
    if stats is not None:
        Path(stats).write_text(f"{paid[0]}\n")


def _unmount_when_orphaned(parent: int, mountpoint: str) -> None:
    while os.getppid() == parent:
        time.sleep(1)
    unmount = shutil.which("fusermount") or shutil.which("fusermount3") or "fusermount"
    for _ in range(60):  # the benchmark's own processes may still hold files open for a while
        if subprocess.run([unmount, "-u", mountpoint], check=False, capture_output=True).returncode == 0:
            return
        time.sleep(1)
    subprocess.run([unmount, "-uz", mountpoint], check=False, capture_output=True)


def round_trips(mountpoint: Path) -> int:
    """Round trips the mount has paid since it was mounted (every process's file calls)."""
    with contextlib.suppress(FileNotFoundError):
        os.stat(mountpoint / COUNTER)
    return int(_stats[mountpoint].read_text())


_stats: dict[Path, Path] = {}


@contextlib.contextmanager
def mounted(rtt: float) -> Iterator[Path]:
    """A fresh share-like folder (a FUSE mount with `rtt` seconds per call) for the block."""
    backing = Path(tempfile.mkdtemp(prefix="latency-backing-"))
    mountpoint = Path(tempfile.mkdtemp(prefix="latency-mount-"))
    stats = Path(tempfile.mkdtemp(prefix="latency-stats-")) / "round-trips"
    _stats[mountpoint] = stats
    server = subprocess.Popen([sys.executable, __file__, str(backing), str(mountpoint), "--rtt-ms", str(rtt * 1000),
                               "--parent", str(os.getpid()), "--stats", str(stats)], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not os.path.ismount(mountpoint):
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the latency filesystem did not mount")
            time.sleep(0.05)
        yield mountpoint
    finally:
        unmount = shutil.which("fusermount") or shutil.which("fusermount3") or "fusermount"
        subprocess.run([unmount, "-u", str(mountpoint)], check=False, capture_output=True)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:  # a file still open in it: detach it lazily, stop the server
            subprocess.run([unmount, "-uz", str(mountpoint)], check=False, capture_output=True)
            server.kill()
            server.wait(timeout=10)
        shutil.rmtree(backing, ignore_errors=True)
        shutil.rmtree(mountpoint, ignore_errors=True)
        shutil.rmtree(stats.parent, ignore_errors=True)
        _stats.pop(mountpoint, None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("backing")
    parser.add_argument("mountpoint")
    parser.add_argument("--rtt-ms", type=float, default=2.0, help="added per call (default 2 ms)")
    parser.add_argument("--parent", type=int, help="unmount when this process is gone")
    parser.add_argument("--stats", help="where to write the round trips paid (see `round_trips`)")
    args = parser.parse_args()
    serve(args.backing, args.mountpoint, args.rtt_ms / 1000, args.parent, args.stats)


if __name__ == "__main__":
    main()
