"""SFrame (RFC 9605): end-to-end encryption of media frames.

Public API:

* :class:`SFrameSender` / :class:`SFrameReceiver` - the sender and receiver contexts
  (:mod:`rtpstack.sframe.context`);
* :class:`SFrameHeader`, :func:`encode_header`, :func:`decode_header` - the header codec;
* :data:`SUITES`, :func:`derive_key_salt`, :func:`ratchet_base_key` - the five cipher suites
  and the key schedule of sections 4.4.2 and 5.1;
* the error classes of :mod:`rtpstack.sframe.errors`.

The per-frame work runs in a backend: the C extension ``_sframe`` (OpenSSL libcrypto) when it
was built, else the pure-Python twin over ``cryptography``. :data:`backend` names the active
one; ``RTPSTACK_SFRAME_BACKEND=python`` forces Python.
"""

from __future__ import annotations

from rtpstack.sframe._backend import ENV_VAR, available_backends, load_backend, select_backend
from rtpstack.sframe.context import (
    DEFAULT_SUITE,
    MAX_COUNTER,
    OpenedFrame,
    ReplayWindow,
    SFrameReceiver,
    SFrameSender,
)
from rtpstack.sframe.errors import (
    AuthenticationError,
    CounterExhaustedError,
    MalformedHeaderError,
    ReplayError,
    SFrameError,
    UnknownCipherSuiteError,
    UnknownKeyIdError,
)
from rtpstack.sframe.header import SFrameHeader, decode_header, encode_header
from rtpstack.sframe.suites import SUITES, CipherSuite, derive_key_salt, ratchet_base_key

__all__ = [
    "DEFAULT_SUITE",
    "ENV_VAR",
    "MAX_COUNTER",
    "SUITES",
    "AuthenticationError",
    "CipherSuite",
    "CounterExhaustedError",
    "MalformedHeaderError",
    "OpenedFrame",
    "ReplayError",
    "ReplayWindow",
    "SFrameError",
    "SFrameHeader",
    "SFrameReceiver",
    "SFrameSender",
    "UnknownCipherSuiteError",
    "UnknownKeyIdError",
    "available_backends",
    "backend",
    "decode_header",
    "derive_key_salt",
    "encode_header",
    "load_backend",
    "ratchet_base_key",
    "select_backend",
]

#: The name of the active backend: "c" or "python".
backend: str = select_backend().NAME
