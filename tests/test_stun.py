"""STUN codec: RFC 5769 test vectors, integrity and fingerprint, exact parse errors."""

from __future__ import annotations

import contextlib

import pytest

from rtpstack.errors import StunParseError
from rtpstack.stun import (
    ATTR_PRIORITY,
    ATTR_SOFTWARE,
    ATTR_USE_CANDIDATE,
    ATTR_USERNAME,
    ATTR_XOR_MAPPED_ADDRESS,
    BINDING,
    CLASS_REQUEST,
    CLASS_SUCCESS,
    StunMessage,
    StunMessageError,
    check_fingerprint,
    check_integrity,
    decode_error_code,
    encode_error_code,
    encode_xor_address,
    is_stun,
)

# RFC 5769 §2: short-term credential password of every sample message.
PASSWORD = b"VOkJxbRl1RmTxUk/WvJxBt"
TID = bytes.fromhex("b7e7a701bc34d686fa87dfae")

# RFC 5769 §2.1 sample request (SOFTWARE, PRIORITY, ICE-CONTROLLED, USERNAME, MI, FINGERPRINT).
REQUEST = bytes.fromhex(
    "000100582112a442b7e7a701bc34d686fa87dfae"
    "802200105354554e207465737420636c69656e74"
    "002400046e0001ff"
    "80290008932ff9b151263b36"
    "000600096576746a3a68367659202020"
    "000800149aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a2"
    "80280004e57a3bcf"
)
# RFC 5769 §2.2 sample IPv4 response (192.0.2.1:32853).
RESPONSE_V4 = bytes.fromhex(
    "0101003c2112a442b7e7a701bc34d686fa87dfae"
    "8022000b7465737420766563746f7220"
    "002000080001a147e112a643"
    "000800142b91f599fd9e90c38c7489f92af9ba53f06be7d7"
    "80280004c07d4c96"
)
# RFC 5769 §2.3 sample IPv6 response ([2001:db8:1234:5678:11:2233:4455:6677]:32853).
RESPONSE_V6 = bytes.fromhex(
    "010100482112a442b7e7a701bc34d686fa87dfae"
    "8022000b7465737420766563746f7220"
    "002000140002a1470113a9faa5d3f179bc25f4b5bed2b9d9"
    "00080014a382954e4be67bf11784c97c8292c275bfe3ed41"
    "80280004c8fb0b4c"
)


def test_rfc5769_request_parses_and_verifies() -> None:
    msg = StunMessage.parse(REQUEST)
    assert (msg.method, msg.cls, msg.transaction_id) == (BINDING, CLASS_REQUEST, TID)
    assert msg.username == "evtj:h6vY"
    assert msg.priority == 0x6E0001FF
    assert msg.ice_controlled == 0x932FF9B151263B36
    assert msg.ice_controlling is None
    assert msg.get(ATTR_SOFTWARE) == b"STUN test client"
    assert check_integrity(REQUEST, PASSWORD)
    assert check_fingerprint(REQUEST)
    assert is_stun(REQUEST)


@pytest.mark.parametrize(
    ("data", "addr"),
    [
        (RESPONSE_V4, ("192.0.2.1", 32853)),
        (RESPONSE_V6, ("2001:db8:1234:5678:11:2233:4455:6677", 32853)),
    ],
)
def test_rfc5769_responses(data: bytes, addr: tuple[str, int]) -> None:
    msg = StunMessage.parse(data)
    assert (msg.method, msg.cls) == (BINDING, CLASS_SUCCESS)
    assert msg.xor_mapped_address == addr
    assert check_integrity(data, PASSWORD)
    assert check_fingerprint(data)
    assert msg.get(ATTR_XOR_MAPPED_ADDRESS) == encode_xor_address(*addr, TID)


@pytest.mark.parametrize("data", [REQUEST, RESPONSE_V4, RESPONSE_V6])
def test_encode_reproduces_rfc5769_bytes(data: bytes) -> None:
    # The samples pad with spaces; with the same padding our MESSAGE-INTEGRITY and FINGERPRINT
    # must come out byte-identical.
    msg = StunMessage.parse(data)
    assert msg.encode(PASSWORD, pad_byte=0x20) == data
    zero_padded = msg.encode(PASSWORD)
    assert check_integrity(zero_padded, PASSWORD) and check_fingerprint(zero_padded)
    assert zero_padded != data  # different padding, so different MI and FINGERPRINT values
    plain = [a for a in msg.attributes if a[0] not in (0x0008, 0x8028)]
    assert [a for a in StunMessage.parse(zero_padded).attributes
            if a[0] not in (0x0008, 0x8028)] == plain


def test_integrity_failure_rejected() -> None:
    assert not check_integrity(REQUEST, b"wrong password")
    tampered = bytearray(REQUEST)
    tampered[40] ^= 1  # inside PRIORITY
    assert not check_integrity(bytes(tampered), PASSWORD)
    assert not check_fingerprint(bytes(tampered))
    no_mi = StunMessage.parse(REQUEST).encode(None)
    assert not check_integrity(no_mi, PASSWORD)
    assert check_fingerprint(no_mi)


def test_round_trip_ice_check() -> None:
    msg = StunMessage(BINDING, CLASS_REQUEST, bytes(range(12)), (
        (ATTR_USERNAME, b"rtr1:cli1"),
        (ATTR_PRIORITY, (1853824767).to_bytes(4, "big")),
        (ATTR_USE_CANDIDATE, b""),
        (0x802A, (7).to_bytes(8, "big")),
        (0xC057, b"\x00\x01\x00\x0a"),  # an unknown attribute is kept
    ))
    data = msg.encode(b"secretpassword0123456789")
    back = StunMessage.parse(data)
    assert back.use_candidate and back.ice_controlling == 7 and back.priority == 1853824767
    assert back.get(0xC057) == b"\x00\x01\x00\x0a"
    assert back.encode(b"secretpassword0123456789") == data


def test_error_code_round_trip() -> None:
    assert decode_error_code(encode_error_code(487, "Role Conflict")) == (487, "Role Conflict")
    assert decode_error_code(encode_error_code(401, "Unauthorized")) == (401, "Unauthorized")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x00\x01\x00", "STUN message too short: 3 bytes, need 20"),
        (b"\xc0\x01\x00\x00" + REQUEST[4:20], "STUN message type must start with two zero bits"),
        (b"\x00\x01\x00\x00\x21\x12\xa4\x43" + TID,
         "STUN magic cookie is 0x2112a443, expected 0x2112a442"),
        (b"\x00\x01\x00\x02" + REQUEST[4:20] + b"\x00\x00",
         "STUN message length 2 is not a multiple of 4"),
        (b"\x00\x01\x00\x08" + REQUEST[4:20] + b"\x00\x06\x00\x00",
         "STUN message length 8 does not match the 4 bytes after the header"),
        (b"\x00\x01\x00\x08" + REQUEST[4:20] + b"\x00\x06\x00\x09abcd",
         "STUN attribute 0x0006 at offset 20 has length 9, only 4 bytes remain"),
    ],
)
def test_parse_errors(data: bytes, message: str) -> None:
    with pytest.raises(StunMessageError) as info:
        StunMessage.parse(data)
    assert str(info.value) == message
    assert isinstance(info.value, StunParseError)


@pytest.mark.parametrize(
    ("attrs", "prop", "message"),
    [
        (((ATTR_PRIORITY, b"\x00\x01"),), "priority", "STUN PRIORITY must be 4 bytes, got 2"),
        (((0x802A, b"\x00"),), "ice_controlling", "STUN ICE-CONTROLLING must be 8 bytes, got 1"),
        (((ATTR_XOR_MAPPED_ADDRESS, b"\x00\x03\x00\x00\x00\x00\x00\x00"),),
         "xor_mapped_address", "STUN address family 3 is neither 1 (IPv4) nor 2 (IPv6)"),
        (((ATTR_USERNAME, b"\xff"),), "username", "STUN USERNAME is not valid UTF-8"),
    ],
)
def test_attribute_errors(attrs: tuple[tuple[int, bytes], ...], prop: str, message: str) -> None:
    msg = StunMessage.parse(StunMessage(BINDING, CLASS_REQUEST, TID, attrs).encode())
    with pytest.raises(StunMessageError) as info:
        getattr(msg, prop)
    assert str(info.value) == message


def test_parser_raises_only_stun_errors() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=400, deadline=None)
    @given(st.binary(max_size=120), st.integers(0, len(REQUEST)), st.binary(max_size=8))
    def check(junk: bytes, cut: int, tail: bytes) -> None:
        for data in (junk, REQUEST[:cut] + tail, REQUEST[:cut]):
            try:
                msg = StunMessage.parse(data)
            except StunParseError:
                continue
            check_integrity(data, PASSWORD)
            check_fingerprint(data)
            for prop in ("username", "priority", "ice_controlling", "ice_controlled",
                         "xor_mapped_address"):
                with contextlib.suppress(StunParseError):
                    getattr(msg, prop)

    check()
