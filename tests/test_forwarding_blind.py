"""The router is payload-blind by construction: nothing under ``router/`` can reach the frame
cipher or the e2ee key schedule, and the forwarding path never touches payload bytes."""

from __future__ import annotations

import ast
import os
import random
from pathlib import Path

import pytest

from router.forwarding import ForwardingCore
from tests.test_forwarding_helpers import Endpoint

ROUTER = Path(__file__).resolve().parents[1] / "router"
FORBIDDEN = ("rtpstack.sframe", "rtpstack.e2ee")


def _forbidden(name: str) -> bool:
    return any(name == f or name.startswith(f + ".") for f in FORBIDDEN)


def imported_names(tree: ast.AST) -> list[str]:
    """Every module a file imports, statically or through importlib/__import__ with a literal."""
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names += [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Call):
            func = node.func
            fname = (func.attr if isinstance(func, ast.Attribute)
                     else func.id if isinstance(func, ast.Name) else "")
            if fname in ("import_module", "__import__") and node.args:
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    names.append(arg.value)
    return names


def test_scanner_catches_every_import_form() -> None:
    src = (
        "import rtpstack.sframe\n"
        "from rtpstack.e2ee import keys\n"
        "from rtpstack import sframe\n"
        "importlib.import_module('rtpstack.sframe.context')\n"
        "import rtpstack.rtp\n"
    )
    found = [n for n in imported_names(ast.parse(src)) if _forbidden(n)]
    assert found == ["rtpstack.sframe", "rtpstack.e2ee", "rtpstack.e2ee.keys",
                     "rtpstack.sframe", "rtpstack.sframe.context"]


def test_no_router_module_imports_the_frame_cipher_or_e2ee_keys() -> None:
    files = sorted(ROUTER.rglob("*.py"))
    assert len(files) >= 10  # the scan really covers the package
    bad = {
        str(f.relative_to(ROUTER)): names
        for f in files
        if (names := [n for n in imported_names(ast.parse(f.read_text(), str(f)))
                      if _forbidden(n)])
    }
    assert bad == {}


@pytest.mark.parametrize("size", [0, 1, 17, 1200, 1300])
def test_payload_bytes_are_carried_unchanged(size: int) -> None:
    core = ForwardingCore(rng=random.Random(size))
    a, b = core.add_participant("a"), core.add_participant("b")
    ea = Endpoint(a.keys, a.rtcp_ssrc, ("127.0.0.1", 1))
    eb = Endpoint(b.keys, b.rtcp_ssrc, ("127.0.0.1", 2))
    core.add_stream("a", 42, "video", 90000)
    core.add_subscription("b", 42)
    core.handle_datagram(eb.rr(), eb.addr, 0.0)
    # Payloads that look like headers, extensions or padding must not fool the router.
    payload = bytes([0x90, 0xBE, 0xDE, 0x00]) * (size // 4) + os.urandom(size % 4)
    (out, _), = core.handle_datagram(ea.rtp(42, 1, 2, payload), ea.addr, 0.1)
    assert eb.open_rtp_raw(out)[12:] == payload
