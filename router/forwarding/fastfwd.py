"""Which forwarding backend runs: the optional C path (``_fastfwd``) or pure Python.

The C extension ``router.forwarding._fastfwd`` (built from ``_fastfwd.c`` when a compiler and
OpenSSL headers are present) provides

* ``RtpContext``: SRTP for RTP with AEAD_AES_128_GCM (RFC 7714) or AES_CM_128_HMAC_SHA1_80/32
  (RFC 3711) over OpenSSL, with libsrtp's replay database and index estimation,
  byte-identical to libsrtp;
* ``Forwarder``: the per-packet path over one UDP socket (``recvmmsg``, unprotect, SSRC
  check, per-subscription rewrite and protect, ``sendmmsg``) working on the core's own Python
  objects, so RTCP termination, NACK answers and the Python path see the same state.

:data:`fastfwd_backend` is ``"c"`` when the extension is importable and not disabled with
``RTPSTACK_FASTFWD=0`` (read at import), else ``"python"``; the forwarding behaviour (bytes
out, drops, statistics) is the same on both.
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import Any

from rtpstack.srtp.kdf import LABEL_RTP_AUTH, LABEL_RTP_ENCRYPTION, LABEL_RTP_SALT, srtp_kdf

__all__ = ["C_PROFILES", "fastfwd_backend", "native", "rtp_context"]

#: SRTP profiles the C path does (name -> RTP auth tag length; 0: AEAD). Hops with another
#: profile (AEAD_AES_256_GCM) stay on libsrtp.
C_PROFILES: dict[str, int] = {
    "AEAD_AES_128_GCM": 0,
    "AES_CM_128_HMAC_SHA1_80": 10,
    "AES_CM_128_HMAC_SHA1_32": 4,
}


def _load() -> ModuleType | None:
    if os.environ.get("RTPSTACK_FASTFWD", "1").strip() in ("0", "false", "no", "off"):
        return None
    try:
        from router.forwarding import _fastfwd
    except ImportError:
        return None
    mod: ModuleType = _fastfwd
    return mod


#: The extension module, or None (not built, or disabled with ``RTPSTACK_FASTFWD=0``).
native: ModuleType | None = _load()
#: ``"c"`` or ``"python"``: which forwarding path this process runs.
fastfwd_backend: str = "c" if native is not None else "python"


def rtp_context(master: bytes, profile: str) -> Any | None:
    """A C RTP context for one master key || salt, or None when the C path cannot do it.

    The session keys are derived here with :func:`rtpstack.srtp.kdf.srtp_kdf` (key derivation
    rate 0, as libsrtp does).
    """
    tag = C_PROFILES.get(profile)
    if native is None or tag is None or len(master) != (28 if tag == 0 else 30):
        return None
    key, salt = master[:16], master[16:]
    if tag == 0:
        return native.RtpContext(
            srtp_kdf(key, salt, LABEL_RTP_ENCRYPTION, 16), srtp_kdf(key, salt, LABEL_RTP_SALT, 12)
        )
    return native.RtpContext(
        srtp_kdf(key, salt, LABEL_RTP_ENCRYPTION, 16),
        srtp_kdf(key, salt, LABEL_RTP_SALT, 14),
        srtp_kdf(key, salt, LABEL_RTP_AUTH, 20),
        tag,
    )
