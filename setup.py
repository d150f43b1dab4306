"""Build hook for the optional C accelerators.

Everything else is declared in pyproject.toml. Each extension here is optional: when no
compiler or no OpenSSL headers are present (or its source is absent) the package installs
without it and the pure-Python twin with the same API runs instead. Set
``RTPSTACK_NO_EXTENSIONS=1`` to skip all of them on purpose.

* ``rtpstack.sframe._sframe``: SFrame (RFC 9605) per-frame operation over OpenSSL libcrypto.
* ``rtpstack._fastpath``: the RTP header fast path (``rtpstack.fastpath``).
* ``router.forwarding._fastfwd``: the router's per-packet forwarding path (SRTP + rewrite +
  fan-out) over OpenSSL libcrypto.
"""

import os

from setuptools import Extension, setup

_EXTENSIONS = [
    ("rtpstack.sframe._sframe", "rtpstack/sframe/_sframe.c", ["crypto"]),
    ("rtpstack._fastpath", "rtpstack/_fastpath.c", []),
    ("router.forwarding._fastfwd", "router/forwarding/_fastfwd.c", ["crypto"]),
]

ext_modules: list[Extension] = []
if os.environ.get("RTPSTACK_NO_EXTENSIONS", "") in ("", "0"):
    for name, source, libraries in _EXTENSIONS:
        if os.path.exists(source):
            ext_modules.append(
                Extension(
                    name,
                    sources=[source],
                    libraries=libraries,
                    extra_compile_args=["-O2"],
                    optional=True,
                )
            )

setup(ext_modules=ext_modules)
