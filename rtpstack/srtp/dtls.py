"""DTLS-SRTP keying (RFC 5764 section 4.2): split the exported keying material.

The TLS exporter with label ``EXTRACTOR-dtls_srtp`` (no context) yields
``2 * (key + salt)`` bytes laid out as::

    client_write_key | server_write_key | client_write_salt | server_write_salt

The client protects with the client key and salt and unprotects with the server's; the server
does the opposite. The DTLS handshake itself lives elsewhere; this module only splits bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rtpstack.srtp.errors import SrtpKeyLengthError
from rtpstack.srtp.profiles import SrtpKeyingMaterial, SrtpProfile
from rtpstack.srtp.session import SrtpSession

__all__ = ["EXPORTER_LABEL", "DtlsSrtpKeys", "export_length", "keying_from_dtls_export"]

EXPORTER_LABEL = b"EXTRACTOR-dtls_srtp"


def export_length(profile: SrtpProfile) -> int:
    """How many bytes to export for ``profile``: ``2 * (key + salt)``."""
    return 2 * (profile.key_length + profile.salt_length)


@dataclass(frozen=True, slots=True)
class DtlsSrtpKeys:
    """The two keys of one DTLS-SRTP association, from this endpoint's point of view."""

    outbound: SrtpKeyingMaterial
    inbound: SrtpKeyingMaterial

    def session(self, **kwargs: Any) -> SrtpSession:
        """An :class:`SrtpSession` protecting with ``outbound`` and unprotecting with ``inbound``.

        Keyword arguments (``engine``, ``ssrc``, ``replay_window``, ...) go to the session.
        """
        return SrtpSession(self.outbound, inbound_keys=self.inbound, **kwargs)


def keying_from_dtls_export(material: bytes, profile: SrtpProfile, is_client: bool) -> DtlsSrtpKeys:
    """Split RFC 5764 exported keying material into this endpoint's outbound/inbound keys."""
    k, s = profile.key_length, profile.salt_length
    if len(material) != 2 * (k + s):
        raise SrtpKeyLengthError(
            f"{profile.value} needs {2 * (k + s)} bytes of DTLS-SRTP keying material, "
            f"got {len(material)}"
        )
    client = SrtpKeyingMaterial(profile, material[:k], material[2 * k : 2 * k + s])
    server = SrtpKeyingMaterial(profile, material[k : 2 * k], material[2 * k + s :])
    if is_client:
        return DtlsSrtpKeys(outbound=client, inbound=server)
    return DtlsSrtpKeys(outbound=server, inbound=client)
