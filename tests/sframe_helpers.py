"""Shared helpers for the SFrame tests: the backends, parametrized, and the RFC vectors."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import pytest

from rtpstack.sframe import load_backend
from tests.conftest import corpus_path

__all__ = ["BACKENDS", "backend_module", "rfc_vectors"]

BACKENDS = ["c", "python"]


def backend_module(name: str) -> ModuleType:
    """The backend called ``name``; skips (saying why) when the C extension is not built."""
    try:
        return load_backend(name)
    except ImportError as exc:
        pytest.skip(f"C backend rtpstack.sframe._sframe is not built ({exc}); "
                    "build it with: python setup.py build_ext --inplace")


def rfc_vectors() -> dict[str, Any]:
    """The RFC 9605 test vectors (JSON) of the SFrame working group, from the corpus."""
    path = corpus_path("vectors/sframe-wg__rfc9605_test-vectors.json")
    data: dict[str, Any] = json.loads(path.read_text())
    return data
