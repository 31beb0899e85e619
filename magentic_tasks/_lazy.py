"""Packages whose public names are imported when first asked for (a module `__getattr__`, PEP 562)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_names(package: str, modules: Mapping[str, tuple[str, ...]]) -> Callable[[str], Any]:
    """`__getattr__` for `package`: each name of `modules` (module → the names it defines) is
    imported from its module the first time it is asked for, then kept in the package."""
    module_of = {name: module for module, names in modules.items() for name in names}
    namespace = sys.modules[package].__dict__

    def __getattr__(name: str) -> Any:
        module = module_of.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        # __import__ rather than importlib.import_module: the same import, but `python -X importtime`
        # times it on its own line instead of adding it to the importing module's (benchmarks/import_cost.py).
        value = getattr(__import__(f"{package}.{module}", fromlist=[name]), name)
        namespace[name] = value  # found directly from now on
        return value

    return __getattr__
