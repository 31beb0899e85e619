"""The architecture's rules that import-linter (pyproject.toml, run by scripts/test.sh) cannot state.

- The domain (`magentic_tasks`) never imports the Functions SDKs, and the Durable seam (`durable`)
  never the Functions programming model: checked in the source and in a fresh interpreter.
- No module imports another package's private (`_underscore`) module: a package's public surface
  is what its `__init__` exports.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APP_PACKAGES = ("magentic_tasks", "durable", "starters", "orchestrators", "activities")


def modules_of(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(path: Path) -> list[str]:
    """Every module `path` imports, relative imports resolved; function-level imports included."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            names.append(target)
            names += [f"{target}.{alias.name}" for alias in node.names]
    return names


def refuses(names: list[str], forbidden: tuple[str, ...]) -> list[str]:
    return [name for name in names if any(name == f or name.startswith(f + ".") for f in forbidden)]


@pytest.mark.parametrize(("package", "forbidden"), [
    ("magentic_tasks", ("azure.functions", "azure.durable_functions")),
    ("durable", ("azure.functions",)),
])
def test_a_lower_layer_imports_no_functions_sdk_in_its_source(package: str, forbidden: tuple[str, ...]) -> None:
    found = {module_name(path): refuses(imported_names(path), forbidden) for path in modules_of(package)}
    assert {module: names for module, names in found.items() if names} == {}


def test_the_whole_domain_loads_without_the_functions_sdks() -> None:
    code = (
        "import importlib, pkgutil, sys\n"
        "import magentic_tasks\n"
        "for info in pkgutil.walk_packages(magentic_tasks.__path__, 'magentic_tasks.'):\n"
        "    if info.name != 'magentic_tasks.__main__':\n"
        "        importlib.import_module(info.name)\n"
        "print(sorted(m for m in sys.modules if m.startswith(('azure.functions', 'azure.durable_functions'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_no_module_imports_another_packages_private_module() -> None:
    """`from magentic_tasks.store._rows import x` outside `magentic_tasks.store` reaches past its surface."""
    offences = []
    for package in APP_PACKAGES:
        for path in modules_of(package):
            importer = module_name(path)
            for name in imported_names(path):
                parts = name.split(".")
                if parts[0] not in APP_PACKAGES:  # autogen's private modules: see magentic_tasks/resumable
                    continue
                for depth, part in enumerate(parts):
                    if part.startswith("_") and not part.startswith("__"):
                        owner = ".".join(parts[:depth])  # the package the private module belongs to
                        if not (importer == owner or importer.startswith(owner + ".")):
                            offences.append(f"{importer} imports {name}")
                        break
    assert offences == []
