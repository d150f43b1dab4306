"""Choosing the SFrame backend: the C extension when built, else the pure-Python twin.

``RTPSTACK_SFRAME_BACKEND=python`` forces the Python backend; ``=c`` demands the C one (import
fails loudly if it is not built); unset or ``auto`` takes C when available.
"""

from __future__ import annotations

from rtpstack._backends import BackendChooser

__all__ = ["ENV_VAR", "available_backends", "load_backend", "select_backend"]

#: The environment variable that picks the backend.
ENV_VAR = "RTPSTACK_SFRAME_BACKEND"

_CHOOSER = BackendChooser("SFrame", ENV_VAR, "rtpstack.sframe._sframe",
                          "rtpstack.sframe._backend_py")
load_backend = _CHOOSER.load_backend
available_backends = _CHOOSER.available_backends
select_backend = _CHOOSER.select_backend
