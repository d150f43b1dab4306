"""Build hook for the optional C accelerator.

Everything is declared in pyproject.toml; this file only adds the C extension
``rtpstack.sframe._sframe`` (SFrame over OpenSSL libcrypto), which is optional: when no
compiler or no OpenSSL headers are present the package installs without it and the
pure-Python backend is used. Set ``RTPSTACK_NO_EXTENSIONS=1`` to skip it on purpose.
"""

import os

from setuptools import Extension, setup

ext_modules: list[Extension] = []
if os.environ.get("RTPSTACK_NO_EXTENSIONS", "") in ("", "0"):
    ext_modules.append(
        Extension(
            "rtpstack.sframe._sframe",
            sources=["rtpstack/sframe/_sframe.c"],
            libraries=["crypto"],
            extra_compile_args=["-O2"],
            optional=True,
        )
    )

setup(ext_modules=ext_modules)
