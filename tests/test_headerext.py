"""HeaderExtension (RFC 8285 one-/two-byte forms, raw profiles) and ExtensionMap."""

from __future__ import annotations

import pytest

from rtpstack.errors import RtpParseError, SdpParseError
from rtpstack.extensions import AUDIO_LEVEL, MID, TRANSPORT_CC, AudioLevel
from rtpstack.headerext import ExtensionMap, ExtmapLine, HeaderExtension, parse_extmap_line


@pytest.mark.parametrize(
    ("block_hex", "profile", "elements"),
    [
        # one-byte form: padding octets between elements and at the end
        ("bede0003 10aa 00 21bbbb 00 33cccccccc", 0xBEDE,
         [(1, "aa"), (2, "bbbb"), (3, "cccccccc")]),
        # one-byte form: a 16-octet value (L=15)
        ("bede0005 4f" + "11" * 16 + "000000", 0xBEDE, [(4, "11" * 16)]),
        # two-byte form: zero-length value, padding, appbits in the profile
        ("10030002 0100 00 0201bb 0000", 0x1003, [(1, ""), (2, "bb")]),
        # two-byte form: id above 14 and a value longer than 16 octets
        ("10000006 c814" + "ab" * 20 + "0000", 0x1000, [(200, "ab" * 20)]),
        # ID 0 with a non-zero length stops processing (not padding)
        ("bede0002 10aa 05 ff 20bb 0000", 0xBEDE, [(1, "aa")]),
        # ID 15 stops processing; what follows is kept but not parsed
        ("bede0001 f0 21aabb", 0xBEDE, []),
        # a profile that is not RFC 8285: opaque data
        ("abcd0001 01020304", 0xABCD, []),
    ],
)
def test_parse_blocks(block_hex: str, profile: int, elements: list[tuple[int, str]]) -> None:
    raw = bytes.fromhex(block_hex.replace(" ", ""))
    ext = HeaderExtension.parse(raw)
    assert ext.profile == profile
    assert [(i, v.hex()) for i, v in ext.elements] == elements
    assert bytes(ext) == raw
    assert ext.data == raw[4:]


def test_accessors() -> None:
    ext = HeaderExtension.parse(bytes.fromhex("bede0003 10aa 21bbbb 12010203 000000"))
    assert ext.get(2) == b"\xbb\xbb"
    assert ext.get(9) is None
    assert 1 in ext and 9 not in ext
    assert ext.ids() == (1, 2, 1)
    assert ext.as_dict() == {1: b"\xaa", 2: b"\xbb\xbb"}  # first of a repeated id wins
    assert ext.is_one_byte and not ext.is_two_byte
    assert len(ext) == 3
    empty = HeaderExtension.parse(bytes.fromhex("bede0000"))
    assert len(empty) == 0 and bool(empty)  # present even without elements


@pytest.mark.parametrize(
    ("block_hex", "message"),
    [
        ("bede", "RTP header extension block too short: 2 octets, need 4"),
        ("bede0001 10aa", "RTP header extension length 1 words does not match 2 data octets"),
        ("bede0001 3faabbcc", "one-byte header extension element 3 runs past the end of the block"),
        ("10000001 000000 09", "two-byte header extension element 9 has no length octet"),
        ("10000001 0905aabb", "two-byte header extension element 9 runs past the end of the block"),
    ],
)
def test_parse_errors(block_hex: str, message: str) -> None:
    with pytest.raises(RtpParseError) as exc:
        HeaderExtension.parse(bytes.fromhex(block_hex.replace(" ", "")))
    assert str(exc.value) == message


def test_from_data_needs_whole_words() -> None:
    with pytest.raises(RtpParseError) as exc:
        HeaderExtension.from_data(0xBEDE, b"\x10\xaa")
    assert str(exc.value) == "RTP header extension data is 2 octets, not a multiple of 4"


def test_build_chooses_the_form() -> None:
    one = HeaderExtension.build({1: AUDIO_LEVEL.encode(AudioLevel(True, 30))})
    assert bytes(one) == bytes.fromhex("bede0001 109e0000")
    two = HeaderExtension.build([(1, b""), (20, b"\x01")])
    assert bytes(two) == bytes.fromhex("10000002 0100 140101 000000")
    forced = HeaderExtension.build([(1, b"\xaa")], two_byte=True, appbits=5)
    assert bytes(forced) == bytes.fromhex("10050001 0101aa00")
    assert HeaderExtension.parse(bytes(two)) == two
    with pytest.raises(ValueError, match="do not fit the one-byte form"):
        HeaderExtension.build([(15, b"\x01")], two_byte=False)
    with pytest.raises(ValueError, match="does not fit the two-byte form"):
        HeaderExtension.build([(1, b"x" * 256)])


def test_build_with_typed_codecs() -> None:
    ext = HeaderExtension.build([(1, MID.encode("a0")), (3, TRANSPORT_CC.encode(513))])
    assert bytes(ext) == bytes.fromhex("bede0002 116130 310201 0000")
    assert MID.decode(ext.get(1) or b"") == "a0"
    assert TRANSPORT_CC.decode(ext.get(3) or b"") == 513


SDP = """v=0\r
m=audio 9 UDP/TLS/RTP/SAVPF 111\r
a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r
a=extmap:3/sendrecv http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r
a=extmap:20 urn:ietf:params:rtp-hdrext:sdes:mid some=attr\r
"""


def test_extension_map_from_sdp() -> None:
    m = ExtensionMap.from_sdp(SDP)
    assert len(m) == 3
    assert m.uri(1) == "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
    assert m.id("urn:ietf:params:rtp-hdrext:sdes:mid") == 20
    assert m.id(TRANSPORT_CC.uri) == 3
    assert m.uri(2) is None and m.id("urn:x") is None
    assert m.extmap_lines()[0] == "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level"
    assert ExtensionMap(m.items()) == m


def test_extmap_line() -> None:
    line = parse_extmap_line("a=extmap:4/recvonly urn:3gpp:video-orientation x y")
    assert line == ExtmapLine(4, "urn:3gpp:video-orientation", "recvonly", "x y")
    assert str(line) == "a=extmap:4/recvonly urn:3gpp:video-orientation x y"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("a=rtpmap:111 opus/48000/2", "not an extmap line: 'a=rtpmap:111 opus/48000/2'"),
        ("a=extmap:3", "extmap line without a URI: 'a=extmap:3'"),
        ("a=extmap:15 urn:x", "extmap id '15' is not in 1-14 or 16-255"),
        ("a=extmap:0 urn:x", "extmap id '0' is not in 1-14 or 16-255"),
        ("a=extmap:x urn:x", "extmap id 'x' is not in 1-14 or 16-255"),
        ("a=extmap:2/both urn:x", "extmap direction 'both' is not valid"),
    ],
)
def test_extmap_errors(line: str, message: str) -> None:
    with pytest.raises(SdpParseError) as exc:
        parse_extmap_line(line)
    assert str(exc.value) == message


def test_extension_map_conflicts() -> None:
    m = ExtensionMap({1: "urn:a"})
    m.add(1, "urn:a")  # the same mapping again is fine
    with pytest.raises(ValueError, match="already mapped"):
        m.add(1, "urn:b")
    with pytest.raises(ValueError, match="already mapped"):
        m.add(2, "urn:a")
    with pytest.raises(ValueError, match="not in 1-14 or 16-255"):
        m.add(15, "urn:c")
