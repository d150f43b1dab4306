"""The router is payload-blind by construction: nothing under router/ imports the SFrame
module or the e2ee key schedule (DESIGN.md, "Layers")."""

from __future__ import annotations

import ast
import os
import pkgutil
import subprocess
import sys

from tests.conftest import PROJECT_ROOT

FORBIDDEN = ("rtpstack.sframe", "rtpstack.e2ee")


def test_no_router_source_names_sframe_or_e2ee() -> None:
    offenders = []
    for path in sorted((PROJECT_ROOT / "router").rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            for name in names:
                if name.startswith(FORBIDDEN):
                    offenders.append(f"{path.relative_to(PROJECT_ROOT)}:{node.lineno} {name}")
    assert offenders == []


def test_importing_every_router_module_loads_no_sframe_or_e2ee() -> None:
    import router

    modules = ["router"] + [
        m.name for m in pkgutil.walk_packages(router.__path__, "router.")
        if not m.name.endswith("__main__")
    ]
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}:\n"
        "    importlib.import_module(m)\n"
        f"print(sorted(n for n in sys.modules if n.startswith({FORBIDDEN!r})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, cwd=PROJECT_ROOT, env=dict(os.environ), check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"
