"""Shared test helpers: where the external corpus lives, and how to skip without it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CORPUS = PROJECT_ROOT / ".." / "shared" / "corpus"
PCAPS = PROJECT_ROOT / "pcaps"


def corpus_path(rel: str) -> Path:
    """Path of a file in the external corpus; skips the test when it is absent."""
    p = CORPUS / rel
    if not p.exists():
        pytest.skip(f"external corpus not available: {rel}")
    return p


def require_program(name: str) -> str:
    """Absolute path of a peer program; skips the test (saying which) when it is missing."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (tools/install-peers.sh installs it)")
    return path


@pytest.fixture
def corpus() -> Path:
    """The external corpus folder; skips when it is absent."""
    if not CORPUS.is_dir():
        pytest.skip("external corpus not available")
    return CORPUS
