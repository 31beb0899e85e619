"""Benchmark task files against Azurite: upload and download throughput of the Blob Storage adapter
(`magentic_tasks.files`), the create path's decoding of inline attachments, and collecting outputs.

Starts Azurite's blob service from `.azurite/` (scripts/test.sh installs it; or pass
`--connection-string` for another account) on a free port with its data in a temporary folder,
then for each size uploads and downloads `--repeat` files through `AzureBlobStore` (one client, as
a request or a run uses it) and prints MiB/s (median of the repeats). Azurite keeps blobs on local
disk: these are the app's own costs plus the emulator's, not Azure's network.

    python benchmarks/task_files.py
    python benchmarks/task_files.py --sizes 1,8,25 --repeat 5
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from magentic_tasks.files import FileLimits, check_uploads, collect_outputs, url_policy  # noqa: E402
from magentic_tasks.files._azure_blobs import AzureBlobStore  # noqa: E402
from magentic_tasks.files._connection import resolve_connection  # noqa: E402
from magentic_tasks.schemas import FileUpload  # noqa: E402
from tests.support.azurite import Azurite, find_azurite  # noqa: E402

MIB = 1024 * 1024


def rate(size: int, seconds: list[float]) -> str:
    return f"{size / MIB / statistics.median(seconds):8.1f} MiB/s"


async def measure(store: AzureBlobStore, folder: Path, size_mib: int, repeat: int) -> tuple[str, str, str]:
    size = size_mib * MIB
    source = folder / f"{size_mib}.bin"
    source.write_bytes(os.urandom(size))
    ups, downs, file_ups = [], [], []
    data = source.read_bytes()
    for n in range(repeat):
        key = f"bench/{size_mib}/{n}"
        started = time.perf_counter()
        await store.upload(key, data, content_type="application/octet-stream")
        ups.append(time.perf_counter() - started)
        started = time.perf_counter()
        await store.upload_file(f"{key}.file", source, content_type="application/octet-stream")
        file_ups.append(time.perf_counter() - started)
        started = time.perf_counter()
        got = await store.download(key)
        downs.append(time.perf_counter() - started)
        assert got == data
    return rate(size, ups), rate(size, file_ups), rate(size, downs)


def decode_rate(size_mib: int, repeat: int) -> str:
    """`check_uploads` on one inline attachment: base64 decoding and the limits (the create path's CPU)."""
    text = base64.b64encode(os.urandom(size_mib * MIB)).decode()
    limits = FileLimits(max_count=20, max_bytes=64 * MIB, inline_max_bytes=64 * MIB)
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        attachments, problems = check_uploads([FileUpload(name="a.bin", content=text)], limits, url_policy((), False))
        times.append(time.perf_counter() - started)
        assert not problems and attachments
    return rate(size_mib * MIB, times)


def collect_rate(folder: Path, files: int, size_kib: int) -> str:
    """`collect_outputs` over a workspace of `files` files (walk, hash, types)."""
    workspace = folder / "ws"
    workspace.mkdir()
    for n in range(files):
        (workspace / f"out-{n}.bin").write_bytes(os.urandom(size_kib * 1024))
    started = time.perf_counter()
    collected = collect_outputs(workspace, max_files=files, max_bytes=files * size_kib * 1024)
    elapsed = time.perf_counter() - started
    assert len(collected.files) == files
    return f"{files} files of {size_kib} KiB in {elapsed * 1000:.0f} ms ({files * size_kib / 1024 / elapsed:.1f} MiB/s)"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,8,25", help="file sizes in MiB, comma-separated")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--connection-string", help="another account instead of a fresh Azurite")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as folder:
        azurite = None
        connection = args.connection_string
        if connection is None:
            launcher, why = find_azurite()
            if launcher is None:
                sys.exit(f"no Azurite: {why}")
            azurite = Azurite.start(launcher, Path(folder) / "azurite")
            connection = azurite.connection_string
        store = AzureBlobStore.connect(resolve_connection("C", {"C": connection}), f"bench{uuid.uuid4().hex[:16]}")
        try:
            print(f"{'size':>8}  {'upload (bytes)':>16}  {'upload (file)':>16}  {'download':>16}")
            for size in sizes:
                up, file_up, down = await measure(store, Path(folder), size, args.repeat)
                print(f"{size:>5} MiB  {up:>16}  {file_up:>16}  {down:>16}")
            await store.delete_prefix("bench/")
        finally:
            await store.close()
            if azurite is not None:
                azurite.stop()
        print(f"inline decode (check_uploads), 8 MiB: {decode_rate(8, args.repeat)}")
        print(f"collect_outputs: {collect_rate(Path(folder), 200, 256)}")


if __name__ == "__main__":
    asyncio.run(main())
