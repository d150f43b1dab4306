"""The router's SDP answerer: a browser's offer in, an ICE-lite DTLS-SRTP answer out.

Model (``docs/webrtc.md``): one BUNDLE transport per participant, on the UDP port the media
plane gave it. Every offered m-line the client **sends** on (``sendrecv``/``sendonly`` with
``a=ssrc`` lines) becomes a publication: the answer makes it ``recvonly`` with one codec (the
client's first choice among the ones the router knows, plus its RTX). Every ``recvonly``
m-line is a **slot**: the answer makes it ``sendonly`` with a router-chosen SSRC announced in
``a=ssrc``/``a=msid``, and lists every offered codec of its kind the router can forward. A
subscription is later mapped onto a free slot of its kind (no renegotiation); the forwarding
core rewrites the SSRC to the slot's and the payload type to the one the slot negotiated.

Nothing here touches a socket; :func:`answer_offer` is a pure function of the offer and the
router's parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from router.errors import BadRequest
from router.webrtc.ice import IceCredentials
from rtpstack.sdp import Attribute, MediaDescription, RtpMap, SdpError, SessionDescription

__all__ = [
    "AUDIO_CODECS",
    "AUDIO_LEVEL_URI",
    "VIDEO_CODECS",
    "RecvSlot",
    "SendSection",
    "WebRtcAnswer",
    "answer_offer",
    "parse_offer",
]

#: Codecs the router forwards, by kind (names compared case-insensitively).
AUDIO_CODECS = ("opus", "pcmu", "pcma", "g722")
VIDEO_CODECS = ("vp8", "vp9", "h264", "av1")
#: The only header extension negotiated (speaker detection reads it). Others (mid, rid,
#: transport-cc...) are left out: the router forwards extensions unchanged and subscribers'
#: id maps differ from the publisher's.
AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
_FEEDBACK = (("nack", None), ("nack", "pli"), ("ccm", "fir"))
_PROTO = "UDP/TLS/RTP/SAVPF"


def _invalid(message: str) -> BadRequest:
    return BadRequest(message, code="invalid_offer")


@dataclass(frozen=True, slots=True)
class SendSection:
    """An offered m-line the client sends on: what becomes a publication."""

    mid: str
    kind: str
    ssrcs: tuple[int, ...]
    rtx_ssrcs: tuple[int, ...]
    codec: RtpMap
    fmtp: str
    rtx_payload_type: int | None
    header_extensions: tuple[tuple[int, str], ...]
    track_id: str

    def to_track(self, *, encrypted: bool) -> dict[str, Any]:
        """The ``publish`` message's track JSON for this section (plus its ``mid``)."""
        return {
            "kind": self.kind,
            "ssrcs": list(self.ssrcs),
            "rtx_ssrcs": list(self.rtx_ssrcs),
            "name": self.track_id,
            "encrypted": encrypted,
            "codec": {
                "name": self.codec.encoding,
                "payload_type": self.codec.payload_type,
                "clock_rate": self.codec.clock_rate,
                "channels": self.codec.channels or 1,
                "rtx_payload_type": self.rtx_payload_type if self.rtx_ssrcs else None,
                "fmtp": self.fmtp,
            },
            "header_extensions": {str(i): uri for i, uri in self.header_extensions},
        }


@dataclass(frozen=True, slots=True)
class RecvSlot:
    """An offered ``recvonly`` m-line the router sends one subscription on."""

    mid: str
    kind: str
    ssrc: int
    #: Lower-case codec name -> the payload type this slot negotiated for it.
    payload_types: tuple[tuple[str, int], ...]

    def payload_type_for(self, codec_name: str) -> int | None:
        """The slot's payload type for ``codec_name``, or None if it cannot carry it."""
        name = codec_name.lower()
        return next((pt for n, pt in self.payload_types if n == name), None)

    def to_json(self) -> dict[str, Any]:
        """As told to the client in the ``answer`` message."""
        return {"mid": self.mid, "kind": self.kind, "ssrc": self.ssrc}


@dataclass(frozen=True, slots=True)
class WebRtcAnswer:
    """The answer SDP and what it set up."""

    sdp: str
    sends: tuple[SendSection, ...]
    slots: tuple[RecvSlot, ...]
    remote_ufrag: str
    remote_pwd: str
    remote_fingerprint: str
    rejected: tuple[tuple[str, str], ...] = ()


def parse_offer(text: object) -> SessionDescription:
    """Parse an offer's SDP text; malformed SDP becomes ``invalid_offer`` with the reason."""
    if not isinstance(text, str) or not text:
        raise _invalid("offer needs 'sdp': the offer's SDP text")
    try:
        return SessionDescription.parse(text)
    except SdpError as exc:
        raise _invalid(f"malformed SDP: {exc}") from None


def _session_or_media(offer: SessionDescription, m: MediaDescription, name: str) -> str | None:
    value = m.value(name)
    return value if value is not None else offer.value(name)


def _pick_codec(m: MediaDescription, names: tuple[str, ...]) -> RtpMap | None:
    maps = m.rtpmaps
    for fmt in m.formats:
        r = maps.get(int(fmt)) if fmt.isdigit() else None
        if r is not None and r.encoding.lower() in names:
            return r
    return None


def _rtx_for(m: MediaDescription, pt: int) -> int | None:
    fmtps = m.fmtps
    for r in m.rtpmaps.values():
        if r.encoding.lower() == "rtx" and fmtps.get(r.payload_type, "") == f"apt={pt}":
            return r.payload_type
    return None


def _codec_lines(m: MediaDescription, r: RtpMap) -> list[Attribute]:
    out = [Attribute("rtpmap", str(r))]
    fb = {(f.type, f.parameter) for f in m.rtcp_fbs if f.payload_type in (None, r.payload_type)}
    if r.encoding.lower() not in ("rtx",) and m.kind == "video":
        out += [Attribute("rtcp-fb", f"{r.payload_type} {t}" + (f" {p}" if p else ""))
                for t, p in _FEEDBACK if (t, p) in fb]
    fmtp = m.fmtps.get(r.payload_type)
    if fmtp is not None:
        out.append(Attribute("fmtp", f"{r.payload_type} {fmtp}"))
    return out


def _send_section(m: MediaDescription, mid: str) -> SendSection | str:
    """The publication an offered sending m-line describes, or why it is rejected."""
    names = AUDIO_CODECS if m.kind == "audio" else VIDEO_CODECS
    codec = _pick_codec(m, names)
    if codec is None:
        return f"no codec the router forwards (it knows {', '.join(names)})"
    ssrcs = m.ssrcs
    if not ssrcs:
        return "no a=ssrc lines (rid-only simulcast is not supported)"
    fid = [g.ssrcs for g in m.ssrc_groups if g.semantics == "FID" and len(g.ssrcs) == 2]
    sim = next((g.ssrcs for g in m.ssrc_groups if g.semantics == "SIM"), None)
    media = sim if sim is not None else (fid[0][:1] if fid else ssrcs[:1])
    rtx_of = {a: b for a, b in fid}
    rtx_pt = _rtx_for(m, codec.payload_type)
    rtx = tuple(rtx_of[s] for s in media if s in rtx_of)
    if len(rtx) != len(media) or rtx_pt is None:
        rtx = ()
    exts = tuple((e.id, e.uri) for e in m.extmaps if e.uri == AUDIO_LEVEL_URI)
    msid = m.msid
    track = msid[1] if msid is not None and msid[1] else mid
    return SendSection(mid, m.kind, tuple(media), rtx, codec, m.fmtps.get(codec.payload_type, ""),
                       rtx_pt, exts, track)


def answer_offer(
    offer: SessionDescription,
    *,
    ice: IceCredentials,
    fingerprint: str,
    host: str,
    port: int,
    new_ssrc: Callable[[], int],
    session_id: int = 1,
) -> WebRtcAnswer:
    """Answer ``offer`` (see the module docstring); raise ``invalid_offer`` when impossible.

    ``fingerprint`` is the router certificate's SHA-256 fingerprint (``AB:CD:...``);
    ``new_ssrc`` reserves a fresh SSRC for each slot.
    """
    if not offer.media:
        raise _invalid("the offer has no media sections")
    family = "IP6" if ":" in host else "IP4"
    bundle = offer.bundle
    sections: list[MediaDescription] = []
    sends: list[SendSection] = []
    slots: list[RecvSlot] = []
    rejected: list[tuple[str, str]] = []
    accepted: list[str] = []
    remote: tuple[str, str, str] | None = None
    for index, m in enumerate(offer.media):
        mid = m.mid if m.mid is not None else str(index)
        reason = None
        if m.kind not in ("audio", "video") or m.port == 0:
            reason = "only audio and video are supported" if m.port else "rejected in the offer"
        elif "RTP/SAVPF" not in m.proto:
            reason = f"protocol {m.proto} is not {_PROTO}"
        elif not m.rtcp_mux:
            reason = "a=rtcp-mux is required"
        elif (len(offer.media) > 1 or bundle) and mid not in bundle:
            reason = "not in the a=group:BUNDLE group (the router offers one transport)"
        if reason is None:
            ufrag = _session_or_media(offer, m, "ice-ufrag")
            pwd = _session_or_media(offer, m, "ice-pwd")
            if not ufrag or not pwd:
                raise _invalid(f"media section {mid!r} has no a=ice-ufrag/a=ice-pwd")
            fps = [f for f in (*m.fingerprints, *offer.fingerprints) if f.algorithm == "sha-256"]
            if not fps:
                raise _invalid(f"media section {mid!r} has no a=fingerprint:sha-256")
            setup = _session_or_media(offer, m, "setup") or "actpass"
            if setup not in ("actpass", "active"):
                raise _invalid(f"media section {mid!r} has a=setup:{setup}; the router is "
                               "the DTLS server and needs actpass or active")
            if remote is None:
                remote = (ufrag, pwd, fps[0].value)
            elif remote[:2] != (ufrag, pwd):
                raise _invalid("bundled media sections must share ICE credentials")
        common = [Attribute("ice-ufrag", ice.ufrag), Attribute("ice-pwd", ice.pwd),
                  Attribute("fingerprint", f"sha-256 {fingerprint}"),
                  Attribute("setup", "passive"), Attribute("mid", mid)]
        if reason is None and m.direction in ("sendrecv", "sendonly"):
            section = _send_section(m, mid)
            if isinstance(section, str):
                reason = section
            else:
                sends.append(section)
                attrs = [*common, Attribute("recvonly"), Attribute("rtcp-mux")]
                if m.rtcp_rsize:
                    attrs.append(Attribute("rtcp-rsize"))
                attrs += [Attribute("extmap", f"{i} {uri}")
                          for i, uri in section.header_extensions]
                pts = [section.codec.payload_type]
                attrs += _codec_lines(m, section.codec)
                if section.rtx_payload_type is not None:
                    pts.append(section.rtx_payload_type)
                    attrs += _codec_lines(m, m.rtpmaps[section.rtx_payload_type])
                attrs += [Attribute("candidate", f"1 1 udp 2130706431 {host} {port} typ host"),
                          Attribute("end-of-candidates")]
                sections.append(MediaDescription(m.kind, port, _PROTO, tuple(map(str, pts)),
                                                 f"IN {family} {host}", tuple(attrs)))
                accepted.append(mid)
                continue
        elif reason is None and m.direction == "recvonly":
            names = AUDIO_CODECS if m.kind == "audio" else VIDEO_CODECS
            maps = m.rtpmaps
            chosen = [maps[int(f)] for f in m.formats
                      if f.isdigit() and int(f) in maps and maps[int(f)].encoding.lower() in names]
            if not chosen:
                reason = f"no codec the router forwards (it knows {', '.join(names)})"
            else:
                ssrc = new_ssrc()
                first: dict[str, int] = {}
                for r in chosen:
                    first.setdefault(r.encoding.lower(), r.payload_type)
                slot = RecvSlot(mid, m.kind, ssrc, tuple(first.items()))
                slots.append(slot)
                stream, track = f"rtp-router-{mid}", f"slot-{mid}"
                attrs = [*common, Attribute("sendonly"), Attribute("msid", f"{stream} {track}"),
                         Attribute("rtcp-mux")]
                if m.rtcp_rsize:
                    attrs.append(Attribute("rtcp-rsize"))
                attrs += [Attribute("extmap", str(e)) for e in m.extmaps
                          if e.uri == AUDIO_LEVEL_URI]
                for r in chosen:
                    attrs += _codec_lines(m, r)
                attrs += [Attribute("ssrc", f"{ssrc} cname:rtp-router"),
                          Attribute("ssrc", f"{ssrc} msid:{stream} {track}"),
                          Attribute("candidate", f"1 1 udp 2130706431 {host} {port} typ host"),
                          Attribute("end-of-candidates")]
                sections.append(MediaDescription(
                    m.kind, port, _PROTO, tuple(str(r.payload_type) for r in chosen),
                    f"IN {family} {host}", tuple(attrs)))
                accepted.append(mid)
                continue
        elif reason is None:
            reason = "inactive"
        rejected.append((mid, reason))
        sections.append(MediaDescription(m.kind, 0, m.proto, m.formats or ("0",),
                                         "IN IP4 0.0.0.0",
                                         (Attribute("mid", mid), Attribute("inactive"))))
    if remote is None or not accepted:
        why = "; ".join(f"{mid}: {r}" for mid, r in rejected)
        raise _invalid(f"no media section of the offer can be accepted ({why})")
    session_attrs = [Attribute("ice-lite"), Attribute("group", " ".join(["BUNDLE", *accepted])),
                     Attribute("msid-semantic", "WMS *")]
    desc = SessionDescription(
        origin=f"rtp-router {session_id} 1 IN {family} {host}",
        attributes=tuple(session_attrs),
        media=tuple(sections),
    )
    return WebRtcAnswer(str(desc), tuple(sends), tuple(slots), remote[0], remote[1], remote[2],
                        tuple(rejected))
