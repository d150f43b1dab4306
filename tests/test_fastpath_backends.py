"""The C fast path (``rtpstack._fastpath``) and its Python twin are twins.

On random bytes, on valid packets and on mutated ones, every read function returns the same
value or raises the same exception type with the same message on both backends, for
``bytes``, ``bytearray`` and ``memoryview`` input; every rewrite leaves the same bytes and
raises the same errors. Also: how the backend is chosen, and (in CI) that the extension was
built at all.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rtpstack import _fastpath_py as py
from rtpstack import fastpath
from rtpstack.errors import RtpParseError
from rtpstack.rtp import RtpPacket
from tests.test_fastpath import backend_module
from tests.test_rtp import packets

READERS = ("parse_header", "header_length", "read_packet", "extension_elements")


def outcome(fn: Callable[..., Any], *args: Any) -> tuple[Any, ...]:
    """``("ok", result)`` or ``("raise", exception type, message)``."""
    try:
        return ("ok", fn(*args))
    except Exception as exc:  # the point is to compare whatever is raised
        return ("raise", type(exc), str(exc))


def c_module() -> ModuleType:
    return backend_module("c")


@st.composite
def mutated_packets(draw: st.DrawFn) -> bytes:
    """A valid packet with a few octets overwritten, bits flipped or its tail cut."""
    raw = bytearray(bytes(draw(packets())))
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["set", "flip", "cut", "first"]))
        if not raw:
            break
        i = draw(st.integers(0, len(raw) - 1))
        if kind == "set":
            raw[i] = draw(st.integers(0, 255))
        elif kind == "flip":
            raw[i] ^= 1 << draw(st.integers(0, 7))
        elif kind == "cut":
            del raw[i:]
        else:  # the first octet decides the path through read_packet
            raw[0] = draw(st.sampled_from([0x80, 0x90, 0xA0, 0xB0, 0x91, 0xB1, 0x10, 0xD0]))
    return bytes(raw)


@st.composite
def webrtc_shaped(draw: st.DrawFn) -> bytes:
    """v2, X=1, CC=0, one-byte form: read_packet's inlined path, with random element bytes."""
    b0 = draw(st.sampled_from([0x90, 0xB0]))
    words = draw(st.integers(0, 6))
    block = draw(st.binary(min_size=0, max_size=4 * words + 6))
    tail = draw(st.binary(max_size=12))
    head = bytes([b0]) + draw(st.binary(min_size=11, max_size=11))
    return head + b"\xbe\xde" + words.to_bytes(2, "big") + block + tail


raw_packets = st.one_of(st.binary(max_size=80), mutated_packets(), webrtc_shaped())


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw_packets, st.integers(0, 256))
def test_readers_agree(raw: bytes, ext_id: int) -> None:
    c = c_module()
    for data in (raw, bytearray(raw), memoryview(raw)):
        for name in READERS:
            got = outcome(getattr(c, name), data)
            assert got == outcome(getattr(py, name), data), name
        assert outcome(c.find_extension, data, ext_id) == outcome(py.find_extension, data, ext_id)
    # read_packet validates what the typed parser validates, with the same message
    typed = outcome(RtpPacket.parse, raw)
    ours = outcome(c.read_packet, raw)
    assert typed[0] == ours[0]
    if typed[0] == "raise":
        assert typed[1:] == ours[1:] and typed[1] is RtpParseError


profiles = st.one_of(
    st.sampled_from([0xBEDE, 0x1000, 0x1007, 0x100F, -1, 0, 0xBEDF]), st.integers(-(2**70), 2**70)
)


@settings(max_examples=1000, deadline=None)
@given(raw_packets, profiles, st.integers(-8, 90), st.integers(-8, 90))
def test_scans_agree_on_any_arguments(raw: bytes, profile: int, start: int, end: int) -> None:
    """scan_elements/scan_values: also outside the buffer (where the twin's rules apply)."""
    c = c_module()
    for data in (raw, bytearray(raw), memoryview(raw)):
        for name in ("scan_elements", "scan_values"):
            got = outcome(getattr(c, name), data, profile, start, end)
            assert got == outcome(getattr(py, name), data, profile, start, end), name
    header = outcome(py.parse_header, raw)
    if header[0] == "ok":
        _m, _pt, _seq, _ts, _ssrc, prof, first, stop, _end = header[1]
        for name in ("scan_elements", "scan_values"):
            got = outcome(getattr(c, name), raw, prof, first, stop)
            assert got == outcome(getattr(py, name), raw, prof, first, stop)


values = st.one_of(
    st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF), st.integers(-3, 2**33),
    st.sampled_from([-(2**64), 2**64, 2**100]),
)


@settings(max_examples=600, deadline=None)
@given(raw_packets, values, values, values, st.booleans(), st.integers(-1, 130))
def test_rewrites_agree(raw: bytes, ssrc: int, seq: int, ts: int, marker: bool, pt: int) -> None:
    c = c_module()
    calls: list[tuple[str, tuple[Any, ...]]] = [
        ("rewrite_header", (ssrc, seq, ts)),
        ("set_ssrc", (ssrc,)),
        ("set_sequence_number", (seq,)),
        ("set_timestamp", (ts,)),
        ("set_marker", (marker,)),
        ("set_payload_type", (pt,)),
    ]
    for name, args in calls:
        bc, bp = bytearray(raw), bytearray(raw)
        assert outcome(getattr(c, name), bc, *args) == outcome(getattr(py, name), bp, *args), name
        assert bc == bp, name
        # a memoryview over a bytearray is written through on both
        mc, mp = bytearray(raw), bytearray(raw)
        got = outcome(getattr(c, name), memoryview(mc), *args)
        assert got == outcome(getattr(py, name), memoryview(mp), *args), name
        assert mc == mp, name


@settings(max_examples=600, deadline=None)
@given(raw_packets, st.integers(0, 20), st.binary(max_size=5))
def test_write_extension_agrees(raw: bytes, ext_id: int, value: bytes) -> None:
    c = c_module()
    found = outcome(py.find_extension, raw, ext_id)
    if found[0] == "ok" and found[1] is not None and value:
        value = (value * 16)[: found[1][1]]  # often the right length, so the write happens
    for v in (value, bytearray(value)):
        bc, bp = bytearray(raw), bytearray(raw)
        assert outcome(c.write_extension, bc, ext_id, v) == outcome(
            py.write_extension, bp, ext_id, v
        )
        assert bc == bp


RAW = bytes(
    RtpPacket(payload_type=96, sequence_number=7, timestamp=9, ssrc=5, payload=b"abc")
)


@pytest.mark.parametrize(
    ("name", "args", "kwargs"),
    [
        ("parse_header", (), {"data": RAW}),  # keyword arguments
        ("rewrite_header", (bytearray(RAW),), {"ssrc": 1, "sequence_number": 2, "timestamp": 3}),
        ("parse_header", (RAW, 1), {}),  # wrong argument count
        ("read_packet", ("not bytes",), {}),  # not a buffer
        ("read_packet", (12,), {}),
        ("read_packet", (memoryview(RAW).cast("c"),), {}),  # a memoryview of another format
        ("read_packet", (memoryview(RAW)[::2],), {}),  # not contiguous
        ("set_ssrc", (RAW, 1), {}),  # immutable buffer
        ("set_marker", (RAW, True), {}),
        ("set_marker", (bytearray(1), True), {}),  # too short to hold octet 1
        ("set_payload_type", (bytearray(1), 3), {}),
        ("set_payload_type", (bytearray(RAW), True), {}),  # an int subclass
        ("set_ssrc", (bytearray(RAW), 1.0), {}),  # a float
        ("set_sequence_number", (memoryview(RAW), 1), {}),  # a read-only memoryview
        ("find_extension", (RAW, 1.0), {}),
        ("write_extension", (RAW, 1, b"x"), {}),
        ("write_extension", (bytearray(RAW), 1, [1]), {}),
        ("scan_elements", (RAW, 0xBEDE, 0.0, 4), {}),
    ],
)
def test_unusual_calls_behave_like_the_twin(
    name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    c = c_module()

    def copy(a: Any) -> Any:
        return bytearray(a) if isinstance(a, bytearray) else a

    ca = tuple(copy(a) for a in args)
    pa = tuple(copy(a) for a in args)
    got = outcome(lambda: getattr(c, name)(*ca, **kwargs))
    want = outcome(lambda: getattr(py, name)(*pa, **kwargs))
    assert got == want
    assert ca == pa


def test_released_memoryview_raises_like_the_twin() -> None:
    c = c_module()
    mv = memoryview(RAW)
    mv.release()
    assert outcome(c.read_packet, mv) == outcome(py.read_packet, mv)
    assert outcome(c.read_packet, mv)[1] is ValueError


def test_c_module_provides_the_whole_api() -> None:
    c = c_module()
    assert c.NAME == "c" and py.NAME == "python"
    for name in fastpath.FUNCTIONS:
        assert callable(getattr(c, name)) and callable(getattr(py, name))
        assert getattr(c, name).__doc__, name


def _backend_in_subprocess(value: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != fastpath.ENV_VAR}
    if value is not None:
        env[fastpath.ENV_VAR] = value
    code = "import rtpstack.fastpath as f; print(f.backend, f.read_packet.__module__)"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=60, check=False)


def test_environment_forces_python() -> None:
    out = _backend_in_subprocess("python")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["python", "rtpstack._fastpath_py"]


def test_default_backend_is_c_when_built() -> None:
    c_module()
    out = _backend_in_subprocess(None)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[0] == "c"


def test_unknown_backend_name_is_refused() -> None:
    out = _backend_in_subprocess("rust")
    assert out.returncode != 0
    assert "unknown fast-path backend 'rust': use 'c' or 'python'" in out.stderr
    with pytest.raises(ValueError, match="unknown fast-path backend 'x'"):
        fastpath.load_backend("x")


def test_available_backends_lists_python() -> None:
    names = fastpath.available_backends()
    assert names[-1] == "python"
    assert fastpath.backend in names


def test_ci_builds_the_c_backend() -> None:
    """In CI the package build must include the extension, so both backends really run."""
    if os.environ.get("CI") != "true":
        pytest.skip("enforced only in CI (CI=true), where `make test` builds the extension")
    assert fastpath.load_backend("c").NAME == "c"
