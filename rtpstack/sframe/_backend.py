"""Choosing the SFrame backend: the C extension when built, else the pure-Python twin.

``RTPSTACK_SFRAME_BACKEND=python`` forces the Python backend; ``=c`` demands the C one (import
fails loudly if it is not built); unset or ``auto`` takes C when available.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

__all__ = ["ENV_VAR", "available_backends", "load_backend", "select_backend"]

#: The environment variable that picks the backend.
ENV_VAR = "RTPSTACK_SFRAME_BACKEND"

_MODULES = {"c": "rtpstack.sframe._sframe", "python": "rtpstack.sframe._backend_py"}


def load_backend(name: str) -> ModuleType:
    """The backend module called ``name`` ("c" or "python"); ImportError if not built."""
    try:
        module = _MODULES[name]
    except KeyError:
        raise ValueError(f"unknown SFrame backend {name!r}: use 'c' or 'python'") from None
    return importlib.import_module(module)


def available_backends() -> list[str]:
    """Names of the backends that import here, C first."""
    names = []
    for name in ("c", "python"):
        try:
            load_backend(name)
        except ImportError:
            continue
        names.append(name)
    return names


def select_backend() -> ModuleType:
    """The backend the environment asks for (see the module docstring)."""
    wanted = os.environ.get(ENV_VAR, "auto").strip().lower() or "auto"
    if wanted == "auto":
        try:
            return load_backend("c")
        except ImportError:
            return load_backend("python")
    return load_backend(wanted)
