"""Where the team's ComputerTerminal runs code: nowhere by default (`CODE_EXECUTOR=none`).

- `local`: on the Function host, in the task's workspace, with an environment stripped of the
  app's settings (no API keys, no storage connection strings);
- `docker`: in a container (needs a Docker engine, which Azure Functions does not offer);
- `aca`: in Azure Container Apps dynamic sessions, the Azure-native sandbox, with managed identity.
"""

from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

from autogen_core.code_executor import CodeExecutor

from ..settings import Settings

# The only variables code run by `local` gets.
SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"


def build_code_executor(settings: Settings, work_dir: Path, *, scratch: Path | None = None) -> CodeExecutor | None:
    """The executor for `work_dir`; `local` keeps its interpreter wrappers and the programs' HOME in
    `scratch` (default: `work_dir`)."""
    if settings.code_executor == "none":
        return None
    work_dir.mkdir(parents=True, exist_ok=True)
    if settings.code_executor == "local":
        from autogen_ext.code_executors.local import LocalCommandLineCodeExecutor

        home = scratch or work_dir
        return LocalCommandLineCodeExecutor(
            work_dir=work_dir, virtual_env_context=clean_environment(home / ".bin", home)
        )
    if settings.code_executor == "docker":
        from autogen_ext.code_executors.docker import DockerCommandLineCodeExecutor

        return DockerCommandLineCodeExecutor(work_dir=work_dir)
    from autogen_ext.code_executors.azure import ACADynamicSessionsCodeExecutor
    from azure.identity.aio import DefaultAzureCredential

    assert settings.aca_pool_management_endpoint is not None  # checked by Settings
    return ACADynamicSessionsCodeExecutor(
        pool_management_endpoint=settings.aca_pool_management_endpoint,
        credential=DefaultAzureCredential(),  # type: ignore[arg-type]
        work_dir=work_dir,
    )


def clean_environment(bin_dir: Path, home: Path) -> SimpleNamespace:
    """A virtual-env context whose interpreters run with an empty environment.

    `LocalCommandLineCodeExecutor` hands every program a copy of this process's environment, which
    holds the app's secrets. It also puts the context's `bin_path` first on PATH and runs Python
    through `env_exe`; so each interpreter there is a wrapper that `exec`s the real one under
    `env -i` with only PATH, HOME and LANG.
    """
    bin_dir.mkdir(parents=True, exist_ok=True)
    real = {"python": sys.executable, "python3": sys.executable}
    for shell in ("bash", "sh", "pwsh"):
        found = shutil.which(shell)
        if found:
            real[shell] = found
    env_prefix = f"exec /usr/bin/env -i PATH={SAFE_PATH} HOME={shlex.quote(str(home))} LANG=C.UTF-8"
    for name, target in real.items():
        wrapper = bin_dir / name
        wrapper.write_text(f'#!/bin/sh\n{env_prefix} {shlex.quote(target)} "$@"\n')
        wrapper.chmod(0o755)
    return SimpleNamespace(bin_path=str(bin_dir), env_exe=str(bin_dir / "python"), env_dir=str(bin_dir.parent))

