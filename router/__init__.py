"""router: a payload-blind selective forwarding unit (SFU) built on rtpstack.

The router forwards RTP between participants of a session, rewriting only headers; in an
end-to-end encrypted session the payloads are SFrame ciphertext that it cannot and does not
read. Nothing in this package imports ``rtpstack.sframe`` or the e2ee key schedule.
"""

from __future__ import annotations

__all__: list[str] = []
