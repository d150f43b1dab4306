"""Choosing between an optional C accelerator and its pure-Python twin.

Each accelerated module names its two backends and an environment variable; the variable set
to ``python`` forces the twin, ``c`` demands the extension (the import fails loudly when it was
not built), unset or ``auto`` takes C when it imports.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

__all__ = ["BackendChooser"]


class BackendChooser:
    """The C/Python backend choice of one accelerated module."""

    __slots__ = ("env_var", "modules", "what")

    def __init__(self, what: str, env_var: str, c_module: str, python_module: str) -> None:
        self.what = what
        self.env_var = env_var
        self.modules = {"c": c_module, "python": python_module}

    def load_backend(self, name: str) -> ModuleType:
        """The backend module called ``name`` ("c" or "python"); ImportError if not built."""
        try:
            module = self.modules[name]
        except KeyError:
            raise ValueError(
                f"unknown {self.what} backend {name!r}: use 'c' or 'python'") from None
        return importlib.import_module(module)

    def available_backends(self) -> list[str]:
        """Names of the backends that import here, C first."""
        names = []
        for name in ("c", "python"):
            try:
                self.load_backend(name)
            except ImportError:
                continue
            names.append(name)
        return names

    def select_backend(self) -> ModuleType:
        """The backend the environment variable asks for (see the module docstring)."""
        wanted = os.environ.get(self.env_var, "auto").strip().lower() or "auto"
        if wanted == "auto":
            try:
                return self.load_backend("c")
            except ImportError:
                return self.load_backend("python")
        return self.load_backend(wanted)
