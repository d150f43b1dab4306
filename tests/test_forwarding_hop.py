"""Hop crypto: the direct libsrtp path gives the same bytes as pylibsrtp's public API."""

from __future__ import annotations

import os
import random

import pylibsrtp
import pytest

from router.drops import DropReason
from router.forwarding import ForwardingCore, HopCrypto, HopKeys
from router.forwarding.hop import classify_srtp_error
from tests.test_forwarding_helpers import Endpoint, rtp_bytes


def test_fast_and_public_paths_give_identical_bytes() -> None:
    keys = HopKeys.generate()
    fast, slow = HopCrypto(keys), HopCrypto(keys, fast=False)
    assert fast.fast and not slow.fast
    client = Endpoint(keys, 1, ("127.0.0.1", 1))
    for i in range(50):
        plain = rtp_bytes(77, i, 3000 * i, os.urandom(random.Random(i).randrange(0, 1300)))
        wire = client.session.protect(plain)
        expected = slow.unprotect(wire)
        assert fast.unprotect(wire) == expected
        out_fast = fast.protect_rewritten(expected, 100 + i, 5 * i, 0xABCDEF)
        out_slow = slow.protect_rewritten(expected, 100 + i, 5 * i, 0xABCDEF)
        assert out_fast == out_slow
        got = client.open_rtp_raw(out_fast)
        assert got[12:] == expected[12:] and got[2:4] == (100 + i).to_bytes(2, "big")
    # A repeat of the same index is allowed (NACK answers) and byte-identical.
    again = fast.protect_rewritten(expected, 149, 245, 0xABCDEF)
    assert again == out_fast


def test_errors_are_libsrtp_errors_or_value_errors() -> None:
    crypto = HopCrypto(HopKeys.generate())
    with pytest.raises(pylibsrtp.Error) as info:
        crypto.unprotect(Endpoint(HopKeys.generate(), 1, ("h", 1)).rtp(1, 1, 1, b"x" * 20))
    assert classify_srtp_error(info.value) is DropReason.SRTP_AUTH_FAILED
    with pytest.raises(ValueError, match="too long") as too_long:
        crypto.unprotect(b"\x80" * 1600)
    assert classify_srtp_error(too_long.value) is DropReason.MALFORMED_RTP
    with pytest.raises(ValueError, match="too long"):
        crypto.protect_rewritten(b"\x80" * 1499, 1, 1, 1)


def test_oversized_datagrams_are_dropped_not_raised() -> None:
    core = ForwardingCore(rng=random.Random(1))
    a = core.add_participant("a")
    core.add_stream("a", 42, "audio", 48000)
    ep = Endpoint(a.keys, a.rtcp_ssrc, ("127.0.0.1", 9))
    core.handle_datagram(ep.rr(), ep.addr, 0.0)
    big = bytes([0x80, 96]) + (42).to_bytes(4, "big") * 500
    assert core.handle_datagram(big, ep.addr, 0.1) == []
    assert core.handle_datagram(bytes([0x80, 201]) + bytes(1700), ep.addr, 0.1) == []
    assert core.drops[DropReason.MALFORMED_RTP] == 2


@pytest.mark.parametrize("profile", ["AEAD_AES_256_GCM", "AES_CM_128_HMAC_SHA1_80",
                                     "AES_CM_128_HMAC_SHA1_32"])
def test_other_profiles_installed_later_as_a_dtls_transport_would(profile: str) -> None:
    core = ForwardingCore(rng=random.Random(2))
    core.add_participant("a")
    core.add_participant("b")
    ka, kb = HopKeys.generate(profile), HopKeys.generate(profile)
    core.rekey("a", ka)
    core.rekey("b", kb)
    core.bind_address("b", ("127.0.0.1", 2))
    core.add_stream("a", 42, "video", 90000)
    core.add_subscription("b", 42)
    ea = Endpoint(ka, core.participants["a"].rtcp_ssrc, ("127.0.0.1", 1))
    eb = Endpoint(kb, core.participants["b"].rtcp_ssrc, ("127.0.0.1", 2))
    (out, addr), = core.handle_datagram(ea.rtp(42, 7, 9, b"frame"), ea.addr, 0.0)
    assert addr == eb.addr
    assert eb.open_rtp(out).payload == b"frame"


def test_hop_keys_validate_profile_and_lengths() -> None:
    with pytest.raises(ValueError, match="unknown SRTP profile 'ROT13'"):
        HopKeys.generate("ROT13")
    with pytest.raises(ValueError, match="AEAD_AES_128_GCM client_key must be 28 bytes"):
        HopKeys(b"x" * 30, b"y" * 28)
    assert len(HopKeys.generate("AES_CM_128_HMAC_SHA1_80").client_key) == 30
