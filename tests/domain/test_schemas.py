"""The schemas package: every public name of its modules is importable from `magentic_tasks.schemas`
(and from `magentic_tasks`, the few it re-exports), loaded when first asked for."""

from __future__ import annotations

import ast
import subprocess
import sys
from importlib import import_module
from pathlib import Path
from types import ModuleType

import pytest

from magentic_tasks import schemas

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "magentic_tasks" / "schemas"


def public_names_defined_in(path: Path) -> set[str]:
    """Classes, functions and module-level names a module defines (not those it imports)."""
    names: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(target.id for target in node.targets if isinstance(target, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {name for name in names if not name.startswith("_")}


def type_checking_imports(module: ModuleType) -> set[str]:
    """The names an `__init__` imports under `if TYPE_CHECKING:` (what mypy sees it export)."""
    tree = ast.parse(Path(str(module.__file__)).read_text())
    block = next(node for node in tree.body if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING")
    return {alias.name for node in block.body if isinstance(node, ast.ImportFrom) for alias in node.names}


MODULES = sorted(path for path in SCHEMAS.glob("_*.py") if path.name != "__init__.py")


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.stem)
def test_every_public_name_of_a_schemas_module_is_exported_by_the_package(path: Path) -> None:
    defined = public_names_defined_in(path)
    assert defined, path
    assert defined <= set(schemas.__all__), f"{path.name}: add {sorted(defined - set(schemas.__all__))} to __init__"
    module = import_module(f"magentic_tasks.schemas.{path.stem}")
    for name in defined:
        assert getattr(schemas, name) is getattr(module, name)


def test_the_lazy_table_the_type_checking_imports_and_all_name_the_same_things() -> None:
    package = schemas
    lazy = {name for names in package._MODULES.values() for name in names}  # type: ignore[attr-defined]
    assert lazy == set(package.__all__) == type_checking_imports(package)
    for name in package.__all__:
        assert getattr(package, name) is not None
    with pytest.raises(AttributeError):
        package.NoSuchSchema  # noqa: B018
    with pytest.raises(ImportError):
        from magentic_tasks.schemas import NoSuchSchema  # type: ignore[attr-defined]  # noqa: F401


def test_a_name_loads_only_its_own_module() -> None:
    code = (
        "import sys\n"
        "from magentic_tasks.schemas import TaskInput\n"
        "print(sorted(m for m in sys.modules if m.startswith('magentic_tasks')))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(sorted([
        "magentic_tasks", "magentic_tasks._lazy", "magentic_tasks.clock", "magentic_tasks.schemas",
        "magentic_tasks.schemas._files",  # the input carries its attachments' references
        "magentic_tasks.schemas._runs",
        "magentic_tasks.schemas._team",
        "magentic_tasks.schemas._types",
    ]))
