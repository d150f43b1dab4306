"""SFrame sender/receiver contexts: distinct receiver errors, replay window, counter hard stop,
ratcheting (RFC 9605 5.1), and the same behaviour (and messages) on both backends."""

from __future__ import annotations

from types import ModuleType

import pytest

from rtpstack.errors import ParseError, SFrameError
from rtpstack.sframe import (
    AuthenticationError,
    CounterExhaustedError,
    MalformedHeaderError,
    ReplayError,
    ReplayWindow,
    SFrameReceiver,
    SFrameSender,
    UnknownCipherSuiteError,
    UnknownKeyIdError,
    encode_header,
)
from tests.sframe_helpers import BACKENDS, backend_module

BASE = bytes(range(16))
OTHER = bytes(range(1, 17))


@pytest.fixture(params=BACKENDS)
def be(request: pytest.FixtureRequest) -> ModuleType:
    return backend_module(request.param)


def pair(be: ModuleType, suite: int = 4, kid: int = 7) -> tuple[SFrameSender, SFrameReceiver]:
    tx = SFrameSender(suite, backend=be)
    tx.set_key(kid, BASE)
    rx = SFrameReceiver(suite, backend=be)
    rx.add_key(kid, BASE)
    return tx, rx


def test_error_classes_are_distinct_and_rooted() -> None:
    classes = [UnknownKeyIdError, AuthenticationError, ReplayError, MalformedHeaderError,
               CounterExhaustedError]
    assert len(set(classes)) == 5
    for cls in classes:
        assert issubclass(cls, SFrameError) and issubclass(cls, ValueError)
    assert issubclass(MalformedHeaderError, ParseError)
    for a in classes:
        for b in classes:
            assert a is b or not issubclass(a, b)


@pytest.mark.parametrize("suite", [1, 2, 3, 4, 5])
def test_round_trip_each_suite(be: ModuleType, suite: int) -> None:
    tx, rx = pair(be, suite, kid=1000)
    for i in range(20):
        frame = tx.encrypt(b"frame %d" % i * (i + 1), metadata=b"md")
        opened = rx.open(frame, b"md")
        assert (opened.kid, opened.ctr, opened.plaintext) == (1000, i, b"frame %d" % i * (i + 1))
    assert tx.counter == 20


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (b"", "SFrame header: empty frame"),
        (b"\x90", "SFrame header: KID needs 2 bytes, 0 present"),
        (b"\x9b\x01\x02\x00", "SFrame header: CTR needs 4 bytes, 1 present"),
        (b"\x70" + bytes(15), "SFrame frame too short: 15 bytes after the header, tag needs 16"),
    ],
)
def test_malformed_frames(be: ModuleType, frame: bytes, message: str) -> None:
    _, rx = pair(be)
    with pytest.raises(MalformedHeaderError) as info:
        rx.decrypt(frame)
    assert str(info.value) == message


def test_unknown_kid(be: ModuleType) -> None:
    tx, _ = pair(be, kid=7)
    rx = SFrameReceiver(4, backend=be)
    rx.add_key(8, BASE)
    with pytest.raises(UnknownKeyIdError, match=r"^SFrame KID 7 is unknown$"):
        rx.decrypt(tx.encrypt(b"x"))
    rx.remove_key(8)
    assert not rx.has_key(8)


def test_key_object_refuses_other_kid(be: ModuleType) -> None:
    from rtpstack.sframe.context import make_key

    k = make_key(4, 9, BASE, be)
    other = make_key(4, 10, BASE, be).encrypt(0, b"", b"abc")
    with pytest.raises(UnknownKeyIdError, match=r"^SFrame KID 10 does not match this key's KID 9$"):
        k.decrypt(other, b"")


@pytest.mark.parametrize("suite", [1, 2, 3, 4, 5])
def test_authentication_failure(be: ModuleType, suite: int) -> None:
    tx, rx = pair(be, suite)
    frame = bytearray(tx.encrypt(b"hello world"))
    for pos in (0, len(frame) // 2, len(frame) - 1):
        bad = bytearray(frame)
        bad[pos] ^= 0x01 if pos else 0x00  # header byte 0 flip would change the KID
        if pos == 0:
            bad = bytearray(encode_header(7, 5)) + frame[1:]  # header says another counter
        with pytest.raises(AuthenticationError, match=r"^SFrame authentication failed$"):
            rx.decrypt(bytes(bad))
    wrong = SFrameReceiver(suite, backend=be)
    wrong.add_key(7, OTHER)
    with pytest.raises(AuthenticationError):
        wrong.decrypt(bytes(frame))
    assert rx.decrypt(bytes(frame)) == b"hello world"  # the failures did not burn the counter


def test_replay_and_reordering(be: ModuleType) -> None:
    tx, rx = pair(be)
    frames = [tx.encrypt(b"%d" % i) for i in range(200)]
    assert rx.decrypt(frames[5]) == b"5"
    assert rx.decrypt(frames[3]) == b"3"  # late but inside the window
    with pytest.raises(ReplayError, match=r"^SFrame counter 5 was already received$"):
        rx.decrypt(frames[5])
    assert rx.decrypt(frames[199]) == b"199"
    with pytest.raises(ReplayError, match=r"^SFrame counter 4 is older than the replay window$"):
        rx.decrypt(frames[4])
    assert rx.decrypt(frames[100]) == b"100"


def test_replay_window_per_kid(be: ModuleType) -> None:
    a = SFrameSender(4, backend=be)
    a.set_key(1, BASE)
    b = SFrameSender(4, backend=be)
    b.set_key(2, BASE)
    rx = SFrameReceiver(4, backend=be)
    rx.add_key(1, BASE)
    rx.add_key(2, BASE)
    fa, fb = a.encrypt(b"a"), b.encrypt(b"b")  # both counter 0
    assert rx.decrypt(fa) == b"a" and rx.decrypt(fb) == b"b"
    with pytest.raises(ReplayError):
        rx.decrypt(fb)


def test_replay_window_unit() -> None:
    w = ReplayWindow(4)
    for c in (10, 8, 11):
        w.check(c)
        w.update(c)
    for c in (10, 8, 11, 7):
        with pytest.raises(ReplayError):
            w.check(c)
    w.check(9)


def test_sender_hard_stop(be: ModuleType) -> None:
    tx = SFrameSender(4, max_counter=2, backend=be)
    tx.set_key(3, BASE)
    for _ in range(3):
        tx.encrypt(b"x")
    with pytest.raises(CounterExhaustedError, match=r"^SFrame counter exhausted for KID 3"):
        tx.encrypt(b"x")
    tx.set_key(4, BASE)  # a new key gives a fresh counter space
    assert tx.encrypt(b"x")[0] == 0x40


def test_sender_default_limit_is_end_of_counter_space(be: ModuleType) -> None:
    tx = SFrameSender(4, backend=be)
    tx.set_key(3, BASE)
    tx._ctr = 2**64 - 1  # jump to the last counter without 2**64 encryptions
    frame = tx.encrypt(b"last")
    rx = SFrameReceiver(4, backend=be)
    rx.add_key(3, BASE)
    assert rx.open(frame).ctr == 2**64 - 1
    with pytest.raises(CounterExhaustedError):
        tx.encrypt(b"one too many")


def test_sender_never_restarts_a_counter_for_the_same_key(be: ModuleType) -> None:
    tx = SFrameSender(4, backend=be)
    tx.set_key(3, BASE)
    tx.encrypt(b"a")
    tx.encrypt(b"b")
    tx.set_key(4, BASE)
    tx.set_key(3, BASE)
    assert tx.counter == 2
    tx.set_key(3, OTHER)
    assert tx.counter == 0


def test_ratchet(be: ModuleType) -> None:
    tx = SFrameSender(4, ratchet_bits=4, backend=be)
    tx.set_key(0x50, BASE)  # generation 5, step 0
    rx = SFrameReceiver(4, ratchet_bits=4, backend=be)
    rx.add_key(0x50, BASE)
    before = tx.encrypt(b"step0")
    assert tx.ratchet() == 0x51
    after1 = tx.encrypt(b"step1")
    assert tx.ratchet() == 0x52
    after2 = tx.encrypt(b"step2")
    assert rx.decrypt(after2) == b"step2"  # skipped a step: receiver ratchets twice
    assert rx.has_key(0x52)
    with pytest.raises(UnknownKeyIdError):
        rx.decrypt(after1)  # ratcheting forward is one-way: the older step is gone
    assert not rx.has_key(0x51)
    assert rx.has_key(0x50)  # the previous installed key is kept for late frames
    assert rx.decrypt(before) == b"step0"
    other_gen = SFrameSender(4, ratchet_bits=4, backend=be)
    other_gen.set_key(0x61, BASE)
    with pytest.raises(UnknownKeyIdError):
        rx.decrypt(other_gen.encrypt(b"x"))
    forged = SFrameSender(4, ratchet_bits=4, backend=be)
    forged.set_key(0x53, OTHER)
    with pytest.raises(AuthenticationError):
        rx.decrypt(forged.encrypt(b"x"))
    assert not rx.has_key(0x53)  # a frame that fails does not move the ratchet


def test_ratchet_wraps_step_bits(be: ModuleType) -> None:
    tx = SFrameSender(4, ratchet_bits=2, backend=be)
    tx.set_key(0b1011, BASE)
    assert tx.ratchet() == 0b1000


def test_unknown_suite() -> None:
    with pytest.raises(UnknownCipherSuiteError, match=r"^unknown SFrame cipher suite: 9$"):
        SFrameSender(9)


@pytest.mark.parametrize("bad", [-1, 2**64])
def test_out_of_range_kid(be: ModuleType, bad: int) -> None:
    tx = SFrameSender(4, backend=be)
    with pytest.raises(ValueError, match="KID out of range"):
        tx.set_key(bad, BASE)


def test_removed_ratchet_key_is_not_followed(be: ModuleType) -> None:
    tx = SFrameSender(4, ratchet_bits=4, backend=be)
    tx.set_key(0x50, BASE)
    rx = SFrameReceiver(4, ratchet_bits=4, backend=be)
    rx.add_key(0x50, BASE)
    rx.remove_key(0x50)
    tx.ratchet()
    with pytest.raises(UnknownKeyIdError):
        rx.decrypt(tx.encrypt(b"x"))
