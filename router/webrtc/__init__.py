"""WebRTC on the router: ICE-lite, DTLS-SRTP and the SDP answerer (``docs/webrtc.md``)."""

from router.webrtc.answer import RecvSlot, SendSection, WebRtcAnswer, answer_offer, parse_offer
from router.webrtc.ice import CheckResult, IceCredentials, IceLiteAgent
from router.webrtc.transport import WebRtcPeer, WebRtcTransport

__all__ = [
    "CheckResult",
    "IceCredentials",
    "IceLiteAgent",
    "RecvSlot",
    "SendSection",
    "WebRtcAnswer",
    "WebRtcPeer",
    "WebRtcTransport",
    "answer_offer",
    "parse_offer",
]
