"""Azurite's blob service for tests: the npm package `scripts/test.sh` installs into `.azurite/`,
started on a free port of 127.0.0.1 with its data in a temporary folder, ready once the port answers.

Without node, or without the package installed, `find_azurite()` says why and the tests that need
it skip with that reason.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
AZURITE_BLOB = ROOT / ".azurite" / "node_modules" / ".bin" / "azurite-blob"
ACCOUNT = "devstoreaccount1"
# Azurite's well-known development key (public, the same for every installation).
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
READY_SECONDS = 60.0


def find_azurite() -> tuple[Path | None, str]:
    """The azurite-blob launcher, or None and why it is missing."""
    if shutil.which("node") is None:
        return None, "node is not installed (Azurite runs on node; scripts/test.sh installs it from npm)"
    if not AZURITE_BLOB.exists():
        return None, (f"Azurite is not installed in {AZURITE_BLOB.parents[2]} "
                      "(scripts/test.sh runs npm install --prefix .azurite)")
    return AZURITE_BLOB, ""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def connection_string(port: int) -> str:
    return (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{port}/{ACCOUNT};")


@dataclass
class Azurite:
    """A running Azurite blob service."""

    process: subprocess.Popen[bytes]
    port: int

    @property
    def connection_string(self) -> str:
        return connection_string(self.port)

    @classmethod
    def start(cls, launcher: Path, location: Path) -> Azurite:
        port = free_port()
        process = subprocess.Popen(
            [str(launcher), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location", str(location),
             "--skipApiVersionCheck", "--silent", "--loose"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        azurite = cls(process, port)
        azurite.wait_ready()
        return azurite

    def wait_ready(self) -> None:
        """Until the port accepts a connection (or the process died: its stderr says why)."""
        deadline = time.monotonic() + READY_SECONDS
        while True:
            if self.process.poll() is not None:
                error = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
                raise RuntimeError(f"Azurite exited with {self.process.returncode}: {error[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise TimeoutError(f"Azurite did not listen on {self.port} within {READY_SECONDS} s") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()  # its data is a temporary folder: nothing to flush
            self.process.wait()
