"""SDP (RFC 8866) as WebRTC uses it (JSEP, RFC 8829), parsed and written from the wire up.

:meth:`SessionDescription.parse` reads a whole description into frozen values: the session
lines, and one :class:`MediaDescription` per ``m=`` section. Every attribute is kept, in order,
as an :class:`Attribute` (name and raw value), so a description survives a round trip through
:meth:`SessionDescription.__str__` line for line (with CRLF line ends). The attributes WebRTC
needs are validated while parsing and read through typed properties:

* session: ``a=group:BUNDLE``, ``a=ice-lite``, ``a=ice-options``, ``a=msid-semantic``;
* media: ``a=mid``, direction, ``a=rtcp-mux``, ``a=rtcp-rsize``, ``a=ice-ufrag`` /
  ``a=ice-pwd`` / ``a=ice-options``, ``a=candidate``, ``a=end-of-candidates``,
  ``a=fingerprint``, ``a=setup``, ``a=rtpmap`` / ``a=fmtp`` / ``a=rtcp-fb``, ``a=extmap``,
  ``a=msid``, ``a=ssrc`` / ``a=ssrc-group``, ``a=rid`` / ``a=simulcast``.

Anything else (``b=``, ``a=sctp-port``, vendor attributes...) is kept untouched. Malformed
input raises :class:`SdpError` (an :class:`~rtpstack.errors.SdpParseError`) whose message
names the line number and what is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from rtpstack.errors import SdpParseError

__all__ = [
    "Attribute",
    "Candidate",
    "ExtMap",
    "Fingerprint",
    "MediaDescription",
    "RtcpFb",
    "RtpMap",
    "SdpError",
    "SessionDescription",
    "SsrcAttribute",
    "SsrcGroup",
]

_DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
_SETUPS = ("active", "passive", "actpass", "holdconn")
_TOKEN = re.compile(r"^[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+$")
_HEX_FP = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2})+$")
_RTPMAP = re.compile(r"(\d{1,3}) ([^/\s]+)/(\d+)(?:/(\d+))?")
_EXTMAP = re.compile(r"(\d+)(?:/(\w+))? (\S+)(?: (.*))?")
_SSRC = re.compile(r"(\d+) ([^:\s]+)(?::(.*))?")
_FMTP = re.compile(r"\d{1,3} \S.*")
_RID = re.compile(r"[\w-]+ (send|recv)( .*)?")
_MLINE = re.compile(r"(\w+) (\d+)(?:/(\d+))? (\S+)((?: \S+)*)")
_CLINE = re.compile(r"IN IP[46] \S+")


class SdpError(SdpParseError):
    """A session description is malformed (the message says which line and why)."""


def _int(text: str, lo: int, hi: int) -> int | None:
    if not text.isdigit():
        return None
    value = int(text)
    return value if lo <= value <= hi else None


@dataclass(frozen=True, slots=True)
class Attribute:
    """One ``a=`` line: ``name`` and the raw text after the first colon (None: a flag)."""

    name: str
    value: str | None = None

    def __str__(self) -> str:
        return f"a={self.name}" if self.value is None else f"a={self.name}:{self.value}"


@dataclass(frozen=True, slots=True)
class RtpMap:
    """``a=rtpmap:<pt> <name>/<clock rate>[/<channels>]``."""

    payload_type: int
    encoding: str
    clock_rate: int
    channels: int | None = None

    @classmethod
    def parse(cls, value: str) -> RtpMap:
        """Parse the attribute value; raise :class:`SdpError` (without a line number)."""
        m = _RTPMAP.fullmatch(value)
        pt = _int(m.group(1), 0, 127) if m else None
        if m is None or pt is None:
            raise SdpError(f"malformed a=rtpmap value {value!r}")
        return cls(pt, m.group(2), int(m.group(3)), int(m.group(4)) if m.group(4) else None)

    def __str__(self) -> str:
        tail = f"/{self.channels}" if self.channels is not None else ""
        return f"{self.payload_type} {self.encoding}/{self.clock_rate}{tail}"


@dataclass(frozen=True, slots=True)
class RtcpFb:
    """``a=rtcp-fb:<pt|*> <type>[ <parameter>]``; ``payload_type`` None means ``*``."""

    payload_type: int | None
    type: str
    parameter: str | None = None

    @classmethod
    def parse(cls, value: str) -> RtcpFb:
        """Parse the attribute value."""
        parts = value.split(" ", 2)
        pt = None if parts[0] == "*" else _int(parts[0], 0, 127)
        if len(parts) < 2 or not parts[1] or (parts[0] != "*" and pt is None):
            raise SdpError(f"malformed a=rtcp-fb value {value!r}")
        return cls(pt, parts[1], parts[2] if len(parts) == 3 else None)

    def __str__(self) -> str:
        pt = "*" if self.payload_type is None else str(self.payload_type)
        tail = f" {self.parameter}" if self.parameter is not None else ""
        return f"{pt} {self.type}{tail}"


@dataclass(frozen=True, slots=True)
class ExtMap:
    """``a=extmap:<id>[/<direction>] <uri>[ <attributes>]`` (RFC 8285)."""

    id: int
    uri: str
    direction: str | None = None
    attributes: str | None = None

    @classmethod
    def parse(cls, value: str) -> ExtMap:
        """Parse the attribute value."""
        m = _EXTMAP.fullmatch(value)
        ext_id = _int(m.group(1), 1, 255) if m else None
        if m is None or ext_id is None or (m.group(2) and m.group(2) not in _DIRECTIONS):
            raise SdpError(f"malformed a=extmap value {value!r}")
        return cls(ext_id, m.group(3), m.group(2), m.group(4))

    def __str__(self) -> str:
        direction = f"/{self.direction}" if self.direction else ""
        tail = f" {self.attributes}" if self.attributes is not None else ""
        return f"{self.id}{direction} {self.uri}{tail}"


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """``a=fingerprint:<hash function> <AB:CD:...>`` (RFC 8122)."""

    algorithm: str
    value: str

    @classmethod
    def parse(cls, value: str) -> Fingerprint:
        """Parse the attribute value (the hash function name is lower-cased)."""
        parts = value.split(" ")
        if len(parts) != 2 or not _TOKEN.match(parts[0]) or not _HEX_FP.match(parts[1]):
            raise SdpError(f"malformed a=fingerprint value {value!r}")
        return cls(parts[0].lower(), parts[1].upper())

    def __str__(self) -> str:
        return f"{self.algorithm} {self.value}"


@dataclass(frozen=True, slots=True)
class Candidate:
    """``a=candidate`` (RFC 8839 §5.1): an ICE candidate; extension pairs are kept."""

    foundation: str
    component: int
    transport: str
    priority: int
    host: str
    port: int
    type: str
    related_address: str | None = None
    related_port: int | None = None
    extensions: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, value: str) -> Candidate:
        """Parse the attribute value (``candidate:`` prefix allowed, as in trickle JSON)."""
        text = value[len("candidate:"):] if value.startswith("candidate:") else value
        parts = text.split()
        bad = SdpError(f"malformed a=candidate value {value!r}")
        if len(parts) < 8 or parts[6] != "typ":
            raise bad
        component = _int(parts[1], 1, 256)
        priority = _int(parts[3], 0, 2**32 - 1)
        port = _int(parts[5], 0, 65535)
        if component is None or priority is None or port is None:
            raise bad
        rest = parts[8:]
        if len(rest) % 2:
            raise bad
        pairs = list(zip(rest[::2], rest[1::2], strict=True))
        raddr = rport = None
        ext: list[tuple[str, str]] = []
        for k, v in pairs:
            if k == "raddr":
                raddr = v
            elif k == "rport":
                rport = _int(v, 0, 65535)
                if rport is None:
                    raise bad
            else:
                ext.append((k, v))
        return cls(parts[0], component, parts[2], priority, parts[4], port, parts[7],
                   raddr, rport, tuple(ext))

    def __str__(self) -> str:
        out = (f"{self.foundation} {self.component} {self.transport} {self.priority} "
               f"{self.host} {self.port} typ {self.type}")
        if self.related_address is not None:
            out += f" raddr {self.related_address}"
        if self.related_port is not None:
            out += f" rport {self.related_port}"
        for k, v in self.extensions:
            out += f" {k} {v}"
        return out


@dataclass(frozen=True, slots=True)
class SsrcAttribute:
    """``a=ssrc:<ssrc> <attribute>[:<value>]`` (RFC 5576), e.g. ``cname`` or ``msid``."""

    ssrc: int
    attribute: str
    value: str | None = None

    @classmethod
    def parse(cls, value: str) -> SsrcAttribute:
        """Parse the attribute value."""
        m = _SSRC.fullmatch(value)
        ssrc = _int(m.group(1), 0, 2**32 - 1) if m else None
        if m is None or ssrc is None:
            raise SdpError(f"malformed a=ssrc value {value!r}")
        return cls(ssrc, m.group(2), m.group(3))

    def __str__(self) -> str:
        tail = f":{self.value}" if self.value is not None else ""
        return f"{self.ssrc} {self.attribute}{tail}"


@dataclass(frozen=True, slots=True)
class SsrcGroup:
    """``a=ssrc-group:<semantics> <ssrc> ...`` (e.g. FID: media then RTX; SIM: layers)."""

    semantics: str
    ssrcs: tuple[int, ...]

    @classmethod
    def parse(cls, value: str) -> SsrcGroup:
        """Parse the attribute value."""
        parts = value.split(" ")
        ssrcs = [_int(p, 0, 2**32 - 1) for p in parts[1:]]
        if len(parts) < 2 or not _TOKEN.match(parts[0]) or None in ssrcs:
            raise SdpError(f"malformed a=ssrc-group value {value!r}")
        return cls(parts[0], tuple(s for s in ssrcs if s is not None))

    def __str__(self) -> str:
        return " ".join([self.semantics, *map(str, self.ssrcs)])


_PARSERS: dict[str, Callable[[str], object]] = {
    "rtpmap": RtpMap.parse, "rtcp-fb": RtcpFb.parse, "extmap": ExtMap.parse,
    "fingerprint": Fingerprint.parse, "candidate": Candidate.parse,
    "ssrc": SsrcAttribute.parse, "ssrc-group": SsrcGroup.parse,
}


def _check_attribute(attr: Attribute) -> None:
    """Validate the attributes this module types (raises SdpError without a line number)."""
    name, value = attr.name, attr.value
    parser = _PARSERS.get(name)
    if parser is not None:
        if value is None:
            raise SdpError(f"a={name} needs a value")
        parser(value)
    elif name == "fmtp":
        if value is None or not _FMTP.fullmatch(value):
            raise SdpError(f"malformed a=fmtp value {value!r}")
    elif name == "setup":
        if value not in _SETUPS:
            raise SdpError(f"a=setup must be one of {', '.join(_SETUPS)}, got {value!r}")
    elif name in ("mid", "ice-ufrag", "ice-pwd") and not value:
        raise SdpError(f"a={name} needs a value")
    elif name == "group" and (value is None or not _TOKEN.match(value.split(" ")[0])):
        raise SdpError(f"malformed a=group value {value!r}")
    elif name == "rid" and (value is None or not _RID.fullmatch(value)):
        raise SdpError(f"malformed a=rid value {value!r}")


class _Attributes:
    """Lookups shared by the session and media levels over an ``attributes`` tuple."""

    __slots__ = ()
    attributes: tuple[Attribute, ...]

    def values(self, name: str) -> list[str]:
        """Values of every ``a=<name>`` line (flags give ``''``)."""
        return [a.value or "" for a in self.attributes if a.name == name]

    def value(self, name: str) -> str | None:
        """The first ``a=<name>`` value, or None when absent (flags give ``''``)."""
        for a in self.attributes:
            if a.name == name:
                return a.value or ""
        return None

    def has(self, name: str) -> bool:
        """Whether an ``a=<name>`` line is present."""
        return any(a.name == name for a in self.attributes)

    @property
    def ice_ufrag(self) -> str | None:
        """``a=ice-ufrag``."""
        return self.value("ice-ufrag")

    @property
    def ice_pwd(self) -> str | None:
        """``a=ice-pwd``."""
        return self.value("ice-pwd")

    @property
    def ice_options(self) -> tuple[str, ...]:
        """``a=ice-options`` tokens (e.g. ``trickle``, ``ice2``)."""
        return tuple(t for v in self.values("ice-options") for t in v.split())

    @property
    def fingerprints(self) -> tuple[Fingerprint, ...]:
        """Every ``a=fingerprint``."""
        return tuple(Fingerprint.parse(v) for v in self.values("fingerprint"))

    @property
    def setup(self) -> str | None:
        """``a=setup`` (active, passive, actpass, holdconn)."""
        return self.value("setup")


@dataclass(frozen=True, slots=True)
class MediaDescription(_Attributes):
    """One ``m=`` section with its ``c=``, ``b=`` and other lines, and its attributes."""

    kind: str
    port: int
    proto: str
    formats: tuple[str, ...]
    connection: str | None = None
    attributes: tuple[Attribute, ...] = ()
    #: Other lines of the section (``i=``, ``b=``, ``k=``) as ``(type, value)``, in order.
    other_lines: tuple[tuple[str, str], ...] = ()
    port_count: int | None = None

    @property
    def mid(self) -> str | None:
        """``a=mid``."""
        return self.value("mid")

    @property
    def direction(self) -> str:
        """The direction attribute (``sendrecv`` when none is given)."""
        for a in self.attributes:
            if a.name in _DIRECTIONS:
                return a.name
        return "sendrecv"

    @property
    def rtcp_mux(self) -> bool:
        """``a=rtcp-mux``."""
        return self.has("rtcp-mux")

    @property
    def rtcp_rsize(self) -> bool:
        """``a=rtcp-rsize``."""
        return self.has("rtcp-rsize")

    @property
    def candidates(self) -> tuple[Candidate, ...]:
        """Every ``a=candidate``."""
        return tuple(Candidate.parse(v) for v in self.values("candidate"))

    @property
    def end_of_candidates(self) -> bool:
        """``a=end-of-candidates``."""
        return self.has("end-of-candidates")

    @property
    def rtpmaps(self) -> dict[int, RtpMap]:
        """``a=rtpmap`` by payload type."""
        return {r.payload_type: r for r in map(RtpMap.parse, self.values("rtpmap"))}

    @property
    def fmtps(self) -> dict[int, str]:
        """``a=fmtp`` parameters (the text after the payload type) by payload type."""
        out: dict[int, str] = {}
        for v in self.values("fmtp"):
            pt, _, params = v.partition(" ")
            out[int(pt)] = params
        return out

    @property
    def rtcp_fbs(self) -> tuple[RtcpFb, ...]:
        """Every ``a=rtcp-fb``."""
        return tuple(RtcpFb.parse(v) for v in self.values("rtcp-fb"))

    @property
    def extmaps(self) -> tuple[ExtMap, ...]:
        """Every ``a=extmap``."""
        return tuple(ExtMap.parse(v) for v in self.values("extmap"))

    @property
    def msid(self) -> tuple[str, str | None] | None:
        """``a=msid:<stream id> [<track id>]`` (RFC 8830), or None."""
        v = self.value("msid")
        if v is None:
            return None
        stream, _, track = v.partition(" ")
        return stream, track or None

    @property
    def ssrc_attributes(self) -> tuple[SsrcAttribute, ...]:
        """Every ``a=ssrc``."""
        return tuple(SsrcAttribute.parse(v) for v in self.values("ssrc"))

    @property
    def ssrcs(self) -> tuple[int, ...]:
        """The distinct SSRCs of ``a=ssrc`` lines, in order of appearance."""
        return tuple(dict.fromkeys(s.ssrc for s in self.ssrc_attributes))

    @property
    def ssrc_groups(self) -> tuple[SsrcGroup, ...]:
        """Every ``a=ssrc-group``."""
        return tuple(SsrcGroup.parse(v) for v in self.values("ssrc-group"))

    @property
    def rids(self) -> tuple[tuple[str, str, str | None], ...]:
        """``a=rid`` as ``(id, send|recv, restrictions)`` (RFC 8851)."""
        out = []
        for v in self.values("rid"):
            parts = v.split(" ", 2)
            out.append((parts[0], parts[1], parts[2] if len(parts) == 3 else None))
        return tuple(out)

    @property
    def simulcast(self) -> str | None:
        """The raw ``a=simulcast`` value (RFC 8853), or None."""
        return self.value("simulcast")

    def lines(self) -> list[str]:
        """The section's lines, without line ends."""
        port = f"{self.port}/{self.port_count}" if self.port_count is not None else str(self.port)
        out = [f"m={' '.join([self.kind, port, self.proto, *self.formats])}"]
        out += [f"{t}={v}" for t, v in self.other_lines if t == "i"]
        if self.connection is not None:
            out.append(f"c={self.connection}")
        out += [f"{t}={v}" for t, v in self.other_lines if t != "i"]
        out += [str(a) for a in self.attributes]
        return out


class _Section:
    """A media section being parsed."""

    def __init__(self, kind: str, port: int, proto: str, formats: list[str],
                 count: int | None) -> None:
        self.kind, self.port, self.proto, self.formats, self.count = (
            kind, port, proto, formats, count)
        self.conn: str | None = None
        self.attrs: list[Attribute] = []
        self.others: list[tuple[str, str]] = []

    def build(self) -> MediaDescription:
        return MediaDescription(self.kind, self.port, self.proto, tuple(self.formats),
                                self.conn, tuple(self.attrs), tuple(self.others), self.count)


@dataclass(frozen=True, slots=True)
class SessionDescription(_Attributes):
    """A whole session description: session lines, session attributes and media sections."""

    origin: str = "- 0 0 IN IP4 127.0.0.1"
    session_name: str = "-"
    timing: str = "0 0"
    connection: str | None = None
    attributes: tuple[Attribute, ...] = ()
    media: tuple[MediaDescription, ...] = ()
    #: Other session-level lines (``i=``, ``u=``, ``e=``, ``p=``, ``b=``, ``r=``, ``z=``...).
    other_lines: tuple[tuple[str, str], ...] = field(default=())

    @classmethod
    def parse(cls, text: str) -> SessionDescription:
        """Parse a description (CRLF or LF line ends); raise :class:`SdpError`."""
        raw_lines = text.replace("\r\n", "\n").split("\n")
        while raw_lines and raw_lines[-1] == "":
            raw_lines.pop()
        if not raw_lines:
            raise SdpError("empty session description")
        if raw_lines[0] != "v=0":
            raise SdpError(f"line 1: a session description starts with 'v=0', "
                           f"got {raw_lines[0]!r}")
        origin = name = timing = conn = None
        attrs: list[Attribute] = []
        others: list[tuple[str, str]] = []
        media: list[MediaDescription] = []
        current: _Section | None = None

        def close() -> None:
            if current is not None:
                media.append(current.build())

        for n, line in enumerate(raw_lines[1:], start=2):
            if len(line) < 2 or line[1] != "=" or not ("a" <= line[0] <= "z"):
                raise SdpError(f"line {n}: expected '<letter>=<value>', got {line!r}")
            kind, value = line[0], line[2:]
            if kind == "m":
                close()
                m = _MLINE.fullmatch(value)
                port = _int(m.group(2), 0, 65535) if m else None
                if m is None or port is None:
                    raise SdpError(f"line {n}: malformed m= line {value!r}")
                current = _Section(m.group(1), port, m.group(4), m.group(5).split(),
                                   int(m.group(3)) if m.group(3) else None)
                continue
            if kind == "a":
                aname, sep, aval = value.partition(":")
                if not aname or not _TOKEN.match(aname):
                    raise SdpError(f"line {n}: malformed attribute {line!r}")
                attr = Attribute(aname, aval if sep else None)
                try:
                    _check_attribute(attr)
                except SdpError as exc:
                    raise SdpError(f"line {n}: {exc}") from None
                (attrs if current is None else current.attrs).append(attr)
                continue
            if kind == "c":
                if not _CLINE.fullmatch(value):
                    raise SdpError(f"line {n}: malformed c= line {value!r}")
                if current is None:
                    conn = value
                else:
                    current.conn = value
                continue
            if current is not None:
                current.others.append((kind, value))
            elif kind == "o":
                if origin is not None:
                    raise SdpError(f"line {n}: a second o= line")
                if len(value.split()) != 6:
                    raise SdpError(f"line {n}: malformed o= line {value!r}")
                origin = value
            elif kind == "s":
                name = value
            elif kind == "t" and timing is None:
                timing = value
            else:
                others.append((kind, value))
        close()
        if origin is None:
            raise SdpError("the session description has no o= line")
        if name is None:
            raise SdpError("the session description has no s= line")
        desc = cls(origin, name, timing if timing is not None else "0 0", conn, tuple(attrs),
                   tuple(media), tuple(others))
        desc._check_bundle()
        return desc

    def _check_bundle(self) -> None:
        mids = [m.mid for m in self.media]
        seen = [x for x in mids if x is not None]
        if len(seen) != len(set(seen)):
            raise SdpError("two media sections have the same a=mid")
        for group in self.groups:
            for mid in group[1:]:
                if mid not in seen:
                    raise SdpError(f"a=group:{group[0]} names mid {mid!r}, "
                                   "which no media section has")

    @property
    def groups(self) -> tuple[tuple[str, ...], ...]:
        """``a=group`` lines as ``(semantics, mid, ...)``."""
        return tuple(tuple(v.split()) for v in self.values("group"))

    @property
    def bundle(self) -> tuple[str, ...]:
        """The mids of the first ``a=group:BUNDLE`` (empty without one)."""
        for g in self.groups:
            if g[0] == "BUNDLE":
                return g[1:]
        return ()

    @property
    def ice_lite(self) -> bool:
        """``a=ice-lite`` at session level."""
        return self.has("ice-lite")

    def media_by_mid(self, mid: str) -> MediaDescription | None:
        """The media section with ``a=mid:<mid>``."""
        return next((m for m in self.media if m.mid == mid), None)

    def lines(self) -> list[str]:
        """Every line in RFC 8866 order, without line ends."""
        out = ["v=0", f"o={self.origin}", f"s={self.session_name}"]
        out += [f"{t}={v}" for t, v in self.other_lines if t in "iuep"]
        if self.connection is not None:
            out.append(f"c={self.connection}")
        out += [f"{t}={v}" for t, v in self.other_lines if t == "b"]
        out.append(f"t={self.timing}")
        out += [f"{t}={v}" for t, v in self.other_lines if t not in "iuepb"]
        out += [str(a) for a in self.attributes]
        for m in self.media:
            out += m.lines()
        return out

    def __str__(self) -> str:
        return "\r\n".join(self.lines()) + "\r\n"
