"""Both SRTP engines: the Python twin is byte-identical to libsrtp; ROC, replay, SSRC, rekey.

The twin property test drives a libsrtp context and a Python context with the same random
operations (RTP and RTCP, protect and unprotect, reordering, duplicates, tampering) and
requires identical bytes out, or the same error class and message, at every step.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rtpstack.seqnum import seq_add
from rtpstack.srtp import (
    SrtpAuthError,
    SrtpError,
    SrtpKeyingMaterial,
    SrtpKeyLengthError,
    SrtpMalformedError,
    SrtpProfile,
    SrtpReplayError,
    SrtpSession,
    SrtpUnknownSsrcError,
)
from rtpstack.srtp.engine_libsrtp import LibsrtpEngine
from rtpstack.srtp.engine_python import PythonSrtpEngine, SrtpTransform
from rtpstack.srtp.kdf import derive_session_keys
from rtpstack.srtp.session import SrtpEngine

ENGINES = ["libsrtp", "python"]
PROFILES = list(SrtpProfile)


def rtp(seq: int, ssrc: int = 0x11223344, payload: bytes = b"payload!", *, ts: int = 0) -> bytes:
    """A plain RTP packet (V=2, PT 96)."""
    return struct.pack("!BBHII", 0x80, 96, seq, ts, ssrc) + payload


def rtcp(ssrc: int = 0x11223344, body: bytes = bytes(20)) -> bytes:
    """A plain RTCP SR-like packet."""
    return struct.pack("!BBHI", 0x80, 200, len(body) // 4 + 1, ssrc) + body


def outcome(f: Callable[[bytes], bytes], data: bytes) -> tuple[str, object]:
    """Bytes on success, (class name, message) on SrtpError."""
    try:
        return ("ok", f(data))
    except SrtpError as exc:
        return (type(exc).__name__, str(exc))


# -- the twin property test -----------------------------------------------------------------

csrcs = st.lists(st.integers(0, 0xFFFFFFFF), max_size=3)
extension = st.one_of(
    st.none(),
    st.tuples(
        st.integers(0, 0xFFFF),
        st.binary(max_size=12).map(lambda b: b.ljust(-(-len(b) // 4) * 4, b"\0")),
    ),
)
rtp_body = st.tuples(
    st.booleans(),  # marker
    st.integers(0, 127),  # payload type
    st.integers(0, 0xFFFFFFFF),  # timestamp
    csrcs,
    extension,
    st.binary(max_size=200),  # payload
)


def build_rtp(
    seq: int, ssrc: int, body: tuple[bool, int, int, list[int], tuple[int, bytes] | None, bytes]
) -> bytes:
    marker, pt, ts, cs, ext, payload = body
    b0 = 0x80 | len(cs) | (0x10 if ext is not None else 0)
    out = struct.pack("!BBHII", b0, (0x80 if marker else 0) | pt, seq, ts, ssrc)
    out += b"".join(struct.pack("!I", c) for c in cs)
    if ext is not None:
        out += struct.pack("!HH", ext[0], len(ext[1]) // 4) + ext[1]
    return out + payload


# one operation: (kind, step or index, body, tamper)
ops = st.lists(
    st.tuples(
        st.sampled_from(["rtp", "rtp", "rtp", "rtcp", "dup", "tamper"]),
        st.integers(-40, 3000),  # sequence step (negative = reordered)
        rtp_body,
        st.integers(0, 0xFFFF),  # which byte to tamper with
    ),
    min_size=1,
    max_size=25,
)


@pytest.mark.parametrize("profile", PROFILES, ids=[p.name for p in PROFILES])
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    key=st.binary(min_size=32, max_size=32),
    salt=st.binary(min_size=14, max_size=14),
    ssrcs=st.lists(st.integers(0, 0xFFFFFFFF), min_size=1, max_size=3, unique=True),
    start=st.integers(0, 0xFFFF),
    operations=ops,
    window=st.sampled_from([64, 100, 128, 1024]),
)
def test_python_twin_is_byte_identical_to_libsrtp(
    profile: SrtpProfile,
    key: bytes,
    salt: bytes,
    ssrcs: list[int],
    start: int,
    operations: list[
        tuple[str, int, tuple[bool, int, int, list[int], tuple[int, bytes] | None, bytes], int]
    ],
    window: int,
) -> None:
    keys = SrtpKeyingMaterial(profile, key[: profile.key_length], salt[: profile.salt_length])
    tx: list[SrtpEngine] = [
        LibsrtpEngine(keys, replay_window=window),
        PythonSrtpEngine(keys, replay_window=window),
    ]
    rx_py = PythonSrtpEngine(keys, outbound=False, replay_window=window)
    rx: list[SrtpEngine] = [
        LibsrtpEngine(keys, outbound=False, replay_window=window),
        rx_py,
    ]
    seqs = {s: start for s in ssrcs}
    sent: list[tuple[bool, bytes]] = []
    max_roc = 0
    # three forward jumps of 30,000 first: every example reaches ROC >= 1
    prologue = [("rtp", 30000 if i else 0, operations[0][2], 0) for i in range(4)]
    for n, (kind, step, body, where) in enumerate(prologue + operations):
        ssrc = ssrcs[0] if n < len(prologue) else ssrcs[n % len(ssrcs)]
        if kind in ("rtp", "rtcp"):
            if kind == "rtp":
                seqs[ssrc] = seq_add(seqs[ssrc], step)
                plain = build_rtp(seqs[ssrc], ssrc, body)
                a, b = (outcome(t.protect, plain) for t in tx)
            else:
                plain = rtcp(ssrc, body[5][: len(body[5]) // 4 * 4])
                a, b = (outcome(t.protect_rtcp, plain) for t in tx)
            assert a == b, f"protect differs at op {n}"
            if a[0] == "ok":
                assert isinstance(a[1], bytes)
                sent.append((kind == "rtcp", a[1]))
            continue
        if not sent:
            continue
        is_rtcp, packet = sent[where % len(sent)]
        if kind == "tamper":
            mutable = bytearray(packet)
            mutable[where % len(mutable)] ^= 1 << (where % 8)
            packet = bytes(mutable)
        a, b = (outcome(r.unprotect_rtcp if is_rtcp else r.unprotect, packet) for r in rx)
        assert a == b, f"unprotect differs at op {n} ({kind})"
    # finally deliver everything sent, in order, twice (the second time: replays)
    for is_rtcp, packet in sent * 2:
        a, b = (outcome(r.unprotect_rtcp if is_rtcp else r.unprotect, packet) for r in rx)
        assert a == b
    for s in rx_py._streams.values():
        max_roc = max(max_roc, s.index >> 16)
    assert max_roc >= 1  # the property covered ROC > 0


# -- ROC across more than 65,536 packets, reordering around the wrap ------------------------


@pytest.mark.parametrize(
    "profile", [SrtpProfile.AEAD_AES_128_GCM, SrtpProfile.AES_CM_128_HMAC_SHA1_80]
)
def test_roc_follows_more_than_65536_packets_on_both_engines(profile: SrtpProfile) -> None:
    keys = SrtpKeyingMaterial.generate(profile)
    tx_lib = SrtpSession(keys, engine="libsrtp")
    tx_py = SrtpSession(keys, engine="python")
    rx_lib = SrtpSession(keys, engine="libsrtp")
    rx_py = SrtpSession(keys, engine="python")
    start = 65000
    total = 66_000  # ROC 0 -> 1 -> 2 (wraps after 536 and 66,072 packets)
    payload = b"\x00" * 4
    for i in range(total):
        seq = seq_add(start, i)
        p = rtp(seq, payload=payload)
        a = tx_lib.protect(p)
        if i % 997 == 0 or i > total - 5:
            assert tx_py.protect(p) == a
            assert rx_py.unprotect(a) == p
        else:
            tx_py.protect(p)  # keep the twin's state in step
        assert rx_lib.unprotect(a) == p
    # the last packet was protected with ROC 1: check it independently of any engine state
    sk = derive_session_keys(keys)
    last_index = start + total - 1
    assert last_index >> 16 == 1
    t = SrtpTransform(profile, sk.rtp_key, sk.rtp_salt, sk.rtp_auth_key)
    last = rtp(seq_add(start, total - 1), payload=payload)
    assert a == t.protect_rtp(last, 12, 0x11223344, last_index)
    assert a != t.protect_rtp(last, 12, 0x11223344, last_index & 0xFFFF)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("profile", PROFILES, ids=[p.name for p in PROFILES])
def test_reordering_around_the_wrap_decrypts_every_packet(
    engine: str, profile: SrtpProfile
) -> None:
    keys = SrtpKeyingMaterial.generate(profile)
    tx = SrtpSession(keys, engine="libsrtp")
    rx = SrtpSession(keys, engine=engine)  # type: ignore[arg-type]
    # climb to ROC 0 / seq 65,000 with large forward steps, then straddle the wrap
    for seq in (0, 30000, 60000, 65000):
        assert rx.unprotect(tx.protect(rtp(seq))) == rtp(seq)
    seqs = [seq_add(65530, i) for i in range(14)]  # 65530..65535, 0..7
    protected = {s: tx.protect(rtp(s, payload=s.to_bytes(2, "big"))) for s in seqs}
    order = [65533, 1, 65535, 0, 65530, 3, 65534, 2, 65531, 7, 65532, 4, 6, 5]
    assert sorted(order) == sorted(seqs)
    for s in order:
        assert rx.unprotect(protected[s]) == rtp(s, payload=s.to_bytes(2, "big"))
    # and every one of them is now a replay
    for s in order:
        with pytest.raises(SrtpReplayError):
            rx.unprotect(protected[s])


# -- replay window --------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("window", [64, 128, 1024])
def test_replay_window_is_configurable(engine: str, window: int) -> None:
    keys = SrtpKeyingMaterial.generate()
    tx = SrtpSession(keys, engine="libsrtp", replay_window=window)
    rx = SrtpSession(keys, engine=engine, replay_window=window)  # type: ignore[arg-type]
    packets = [tx.protect(rtp(s)) for s in range(2000)]
    top = 1500
    rx.unprotect(packets[top])
    # the oldest index inside the window is accepted, the one before it is too old
    assert rx.unprotect(packets[top - (window - 1)]) == rtp(top - (window - 1))
    with pytest.raises(
        SrtpReplayError, match=r"^SRTP replay: packet index older than the replay window$"
    ):
        rx.unprotect(packets[top - window])
    with pytest.raises(SrtpReplayError, match=r"^SRTP replay: packet index already received$"):
        rx.unprotect(packets[top])


@pytest.mark.parametrize("engine", ENGINES)
def test_srtcp_replay_and_index(engine: str) -> None:
    keys = SrtpKeyingMaterial.generate(SrtpProfile.AES_CM_128_HMAC_SHA1_80)
    tx = SrtpSession(keys, engine=engine)  # type: ignore[arg-type]
    rx = SrtpSession(keys, engine=engine)  # type: ignore[arg-type]
    packets = [tx.protect_rtcp(rtcp()) for _ in range(200)]
    # the E||index word: E set, indexes 1, 2, 3, ...
    words = [struct.unpack_from("!I", p, len(p) - 14)[0] for p in packets[:3]]
    assert words == [0x80000001, 0x80000002, 0x80000003]
    assert rx.unprotect_rtcp(packets[150]) == rtcp()
    assert rx.unprotect_rtcp(packets[30]) == rtcp()  # within the 128-index window
    with pytest.raises(SrtpReplayError, match=r"^SRTCP replay: packet index older"):
        rx.unprotect_rtcp(packets[10])
    with pytest.raises(SrtpReplayError, match=r"^SRTCP replay: packet index already received$"):
        rx.unprotect_rtcp(packets[150])


def test_replay_window_bounds_are_checked() -> None:
    keys = SrtpKeyingMaterial.generate()
    with pytest.raises(ValueError, match=r"^replay_window must be within 64\.\.32767, got 63$"):
        SrtpSession(keys, replay_window=63)


# -- SSRC binding ---------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_keys_bound_to_one_ssrc_refuse_others(engine: str) -> None:
    keys = SrtpKeyingMaterial.generate()
    tx_any = SrtpSession(keys, engine=engine)  # type: ignore[arg-type]
    bound = SrtpSession(keys, engine=engine, ssrc=0xAAAA0001)  # type: ignore[arg-type]
    ok = tx_any.protect(rtp(1, ssrc=0xAAAA0001))
    other = tx_any.protect(rtp(1, ssrc=0xBBBB0002))
    assert bound.unprotect(ok) == rtp(1, ssrc=0xAAAA0001)
    with pytest.raises(SrtpUnknownSsrcError, match=r"^SRTP: no context for SSRC 0xbbbb0002$"):
        bound.unprotect(other)
    with pytest.raises(SrtpUnknownSsrcError, match=r"^SRTP: no context for SSRC 0xbbbb0002$"):
        bound.protect(rtp(1, ssrc=0xBBBB0002))
    with pytest.raises(SrtpUnknownSsrcError, match=r"^SRTCP: no context for SSRC 0xbbbb0002$"):
        bound.unprotect_rtcp(tx_any.protect_rtcp(rtcp(0xBBBB0002)))


@pytest.mark.parametrize("engine", ENGINES)
def test_any_ssrc_keeps_independent_streams(engine: str) -> None:
    keys = SrtpKeyingMaterial.generate()
    tx = SrtpSession(keys, engine=engine)  # type: ignore[arg-type]
    rx = SrtpSession(keys, engine=engine)  # type: ignore[arg-type]
    for ssrc in (1, 2, 3):
        for seq in (100, 101):
            assert rx.unprotect(tx.protect(rtp(seq, ssrc=ssrc))) == rtp(seq, ssrc=ssrc)


# -- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("profile", PROFILES, ids=[p.name for p in PROFILES])
def test_tampering_is_an_authentication_error(engine: str, profile: SrtpProfile) -> None:
    keys = SrtpKeyingMaterial.generate(profile)
    tx = SrtpSession(keys, engine=engine)  # type: ignore[arg-type]
    rx = SrtpSession(keys, engine=engine)  # type: ignore[arg-type]
    good = tx.protect(rtp(7))
    bad = good[:-1] + bytes([good[-1] ^ 1])
    with pytest.raises(SrtpAuthError, match=r"^SRTP authentication failed$"):
        rx.unprotect(bad)
    assert rx.unprotect(good) == rtp(7)  # the failure changed no state
    good_c = tx.protect_rtcp(rtcp())
    bad_c = good_c[:9] + bytes([good_c[9] ^ 0x40]) + good_c[10:]
    with pytest.raises(SrtpAuthError, match=r"^SRTCP authentication failed$"):
        rx.unprotect_rtcp(bad_c)
    assert rx.unprotect_rtcp(good_c) == rtcp()
    other = SrtpSession(SrtpKeyingMaterial.generate(profile), engine=engine)  # type: ignore[arg-type]
    with pytest.raises(SrtpAuthError):
        other.unprotect(good)


@pytest.mark.parametrize("engine", ENGINES)
def test_unencrypted_srtcp_is_refused_under_aes_cm(engine: str) -> None:
    keys = SrtpKeyingMaterial.generate(SrtpProfile.AES_CM_128_HMAC_SHA1_80)
    p = SrtpSession(keys, engine="python").protect_rtcp(rtcp())
    e_cleared = bytearray(p)
    e_cleared[-14] &= 0x7F
    rx = SrtpSession(keys, engine=engine)  # type: ignore[arg-type]
    with pytest.raises(SrtpAuthError, match=r"^SRTCP packet not encrypted \(E flag 0\)"):
        rx.unprotect_rtcp(bytes(e_cleared))


MALFORMED = [
    ("protect", b"", "RTP packet shorter than an RTP header (0 < 12 bytes)"),
    ("protect", bytes(11), "RTP packet shorter than an RTP header (11 < 12 bytes)"),
    ("protect", b"\x8f" + bytes(20), "RTP packet shorter than its RTP header (21 < 72 bytes)"),
    (
        "unprotect",
        b"\x90" + bytes(13),
        "SRTP packet shorter than its CSRC list and extension header (14 < 16 bytes)",
    ),
    (
        "unprotect",
        b"\x90" + bytes(13) + b"\x00\x05" + bytes(4),
        "SRTP packet shorter than its RTP header (20 < 36 bytes)",
    ),
    ("unprotect", b"\x80" + bytes(14), "SRTP packet too short for its trailer (15 < 28 bytes)"),
    ("protect_rtcp", bytes(4), "RTCP packet shorter than an RTCP header (4 < 8 bytes)"),
    ("unprotect_rtcp", bytes(8), "SRTCP packet too short for its trailer (8 < 12 bytes)"),
    ("unprotect_rtcp", bytes(20), "SRTCP packet too short for its trailer (20 < 28 bytes)"),
]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("op", "data", "message"), MALFORMED)
def test_malformed_packets_raise_exact_messages(
    engine: str, op: str, data: bytes, message: str
) -> None:
    session = SrtpSession(SrtpKeyingMaterial.generate(), engine=engine)  # type: ignore[arg-type]
    with pytest.raises(SrtpMalformedError) as info:
        getattr(session, op)(data)
    assert str(info.value) == message


def test_libsrtp_buffer_limit_is_a_malformed_error_and_python_has_none() -> None:
    keys = SrtpKeyingMaterial.generate()
    big = rtp(1, payload=bytes(1400))
    with pytest.raises(SrtpMalformedError, match=r"^RTP packet too long for libsrtp"):
        SrtpSession(keys, engine="libsrtp").protect(big)
    assert (
        SrtpSession(keys, engine="python").unprotect(
            SrtpSession(keys, engine="python").protect(big)
        )
        == big
    )


@pytest.mark.parametrize(
    ("profile", "key_len", "salt_len", "message"),
    [
        (
            SrtpProfile.AEAD_AES_128_GCM,
            15,
            12,
            "AEAD_AES_128_GCM needs a 16-byte master key, got 15",
        ),
        (
            SrtpProfile.AEAD_AES_256_GCM,
            32,
            14,
            "AEAD_AES_256_GCM needs a 12-byte master salt, got 14",
        ),
        (
            SrtpProfile.AES_CM_128_HMAC_SHA1_80,
            16,
            12,
            "AES_CM_128_HMAC_SHA1_80 needs a 14-byte master salt, got 12",
        ),
    ],
)
def test_bad_key_length(profile: SrtpProfile, key_len: int, salt_len: int, message: str) -> None:
    with pytest.raises(SrtpKeyLengthError) as info:
        SrtpKeyingMaterial(profile, bytes(key_len), bytes(salt_len))
    assert str(info.value) == message


def test_error_classes_are_distinct_srtp_errors() -> None:
    from rtpstack.errors import SrtpError as BaseSrtpError

    classes = {
        SrtpAuthError,
        SrtpReplayError,
        SrtpUnknownSsrcError,
        SrtpKeyLengthError,
        SrtpMalformedError,
    }
    assert len(classes) == 5
    for cls in classes:
        assert issubclass(cls, BaseSrtpError) and issubclass(cls, ValueError)
        assert not any(issubclass(cls, other) for other in classes - {cls})


# -- rekeying -------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_rekey_keeps_packets_in_flight(engine: str) -> None:
    old, new = SrtpKeyingMaterial.generate(), SrtpKeyingMaterial.generate()
    tx = SrtpSession(old, engine=engine)  # type: ignore[arg-type]
    rx = SrtpSession(old, engine=engine, grace_packets=3)  # type: ignore[arg-type]
    in_flight = [tx.protect(rtp(s)) for s in range(1, 6)]
    tx.rekey(new)
    fresh = [tx.protect(rtp(s)) for s in range(6, 12)]
    assert rx.unprotect(in_flight[0]) == rtp(1)
    rx.rekey(new)
    assert rx.in_grace
    # new and old packets interleaved: all decrypt
    for p, s in [(fresh[0], 6), (in_flight[1], 2), (fresh[1], 7), (in_flight[2], 3)]:
        assert rx.unprotect(p) == rtp(s)
    assert rx.unprotect(fresh[2]) == rtp(8)  # third packet under the new keys ends the grace
    assert not rx.in_grace
    with pytest.raises(SrtpAuthError):
        rx.unprotect(in_flight[3])
    assert rx.unprotect(fresh[3]) == rtp(9)


@pytest.mark.parametrize("engine", ENGINES)
def test_rekey_drop_previous_and_rtcp(engine: str) -> None:
    old, new = SrtpKeyingMaterial.generate(), SrtpKeyingMaterial.generate()
    tx = SrtpSession(old, engine=engine)  # type: ignore[arg-type]
    rx = SrtpSession(old, engine=engine)  # type: ignore[arg-type]
    late = tx.protect_rtcp(rtcp())
    tx.rekey(new)
    rx.rekey(new)
    assert rx.unprotect_rtcp(tx.protect_rtcp(rtcp())) == rtcp()
    assert rx.unprotect_rtcp(late) == rtcp()  # old key still accepted during the grace
    rx.drop_previous()
    with pytest.raises(SrtpReplayError):  # what the new keys say about it: index 1 again
        rx.unprotect_rtcp(late)


def test_inbound_and_outbound_keys_can_differ() -> None:
    a_keys, b_keys = SrtpKeyingMaterial.generate(), SrtpKeyingMaterial.generate()
    a = SrtpSession(a_keys, inbound_keys=b_keys)
    b = SrtpSession(b_keys, inbound_keys=a_keys, engine="python")
    assert b.unprotect(a.protect(rtp(1))) == rtp(1)
    assert a.unprotect(b.protect(rtp(1))) == rtp(1)
    with pytest.raises(SrtpAuthError):
        a.unprotect(a.protect(rtp(2)))


def test_default_profile_is_aead_aes_128_gcm() -> None:
    assert SrtpKeyingMaterial.generate().profile is SrtpProfile.AEAD_AES_128_GCM
    assert SrtpSession(SrtpKeyingMaterial.generate()).engine == "libsrtp"


def test_random_streams_decrypt_across_engines() -> None:
    """Cross-engine smoke: libsrtp sender, Python receiver and back, all profiles."""
    rnd = random.Random(4)
    for profile in PROFILES:
        keys = SrtpKeyingMaterial.generate(profile)
        for sender, receiver in (("libsrtp", "python"), ("python", "libsrtp")):
            tx = SrtpSession(keys, engine=sender)  # type: ignore[arg-type]
            rx = SrtpSession(keys, engine=receiver)  # type: ignore[arg-type]
            for seq in range(50):
                p = rtp(seq, payload=rnd.randbytes(rnd.randint(0, 300)))
                assert rx.unprotect(tx.protect(p)) == p


# -- drop, don't crash ----------------------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES, ids=[p.name for p in PROFILES])
@settings(max_examples=150, deadline=None)
@given(
    data=st.one_of(
        st.binary(max_size=80),
        # plausible headers: version 2, RTCP-like or RTP-like second octet
        st.tuples(st.sampled_from([0x80, 0x81, 0x90, 0x92, 0xA0]), st.binary(max_size=80)).map(
            lambda t: bytes([t[0]]) + t[1]
        ),
    )
)
def test_arbitrary_bytes_raise_only_srtp_errors_and_engines_agree(
    profile: SrtpProfile, data: bytes
) -> None:
    keys = SrtpKeyingMaterial(profile, bytes(profile.key_length), bytes(profile.salt_length))
    for op in ("unprotect", "unprotect_rtcp", "protect", "protect_rtcp"):
        results = []
        for engine in ENGINES:
            session = SrtpSession(keys, engine=engine)  # type: ignore[arg-type]
            results.append(outcome(getattr(session, op), data))  # anything else propagates
        assert results[0] == results[1], op


def test_package_and_python_engine_work_without_pylibsrtp() -> None:
    """In a fresh interpreter where pylibsrtp cannot be imported, 'auto' picks Python."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['pylibsrtp'] = None\n"
        "from rtpstack.srtp import SrtpKeyingMaterial, SrtpSession, libsrtp_available\n"
        "assert not libsrtp_available()\n"
        "k = SrtpKeyingMaterial.generate()\n"
        "s = SrtpSession(k, engine='auto')\n"
        "assert s.engine == 'python'\n"
        "p = bytes.fromhex('80600001000000010000abcd') + b'x'\n"
        "assert s.unprotect(s.protect(p)) == p\n"
        "try:\n"
        "    SrtpSession(k, engine='libsrtp')\n"
        "except ImportError:\n"
        "    print('libsrtp engine: ImportError')\n"
    )
    done = subprocess.run(
        ["timeout", "-k", "2", "60", sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=70,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "libsrtp engine: ImportError"


def test_auto_engine_prefers_libsrtp_when_installed() -> None:
    assert SrtpSession(SrtpKeyingMaterial.generate(), engine="auto").engine == "libsrtp"
    with pytest.raises(ValueError, match=r"^unknown SRTP engine 'c' \(libsrtp, python or auto\)$"):
        SrtpSession(SrtpKeyingMaterial.generate(), engine="c")  # type: ignore[arg-type]


@pytest.mark.parametrize("engine", ENGINES)
def test_repeat_tx_is_refused_unless_allowed(engine: str) -> None:
    keys = SrtpKeyingMaterial.generate()
    strict = SrtpSession(keys, engine=engine)  # type: ignore[arg-type]
    first = strict.protect(rtp(10))
    with pytest.raises(SrtpReplayError, match=r"^SRTP replay: packet index already received$"):
        strict.protect(rtp(10))
    lenient = SrtpSession(keys, engine=engine, allow_repeat_tx=True)  # type: ignore[arg-type]
    assert lenient.protect(rtp(10)) == first == lenient.protect(rtp(10))
