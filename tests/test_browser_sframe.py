"""The browser page's SFrame module (``router/static/sframe.js``), run by Node, against the
Python side: key schedule values, frames of all five suites byte for byte, and the VP8 codec
carriage of ``docs/browser.md`` in both directions (frames protected in JavaScript open in
Python, and the other way), plus the mismatch/match events of a wrong secret.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from rtpstack.client.capture_source import CaptureSource
from rtpstack.client.carriage import (
    VP8_CLEAR_DELTA,
    VP8_CLEAR_KEY,
    open_frame,
    protect_frame,
    vp8_strip,
)
from rtpstack.e2ee import (
    ENCRYPTION_SECRET_MATCH,
    ENCRYPTION_SECRET_MISMATCH,
    FrameDecryptor,
    FrameEncryptor,
    base_key_for_kid,
    derive_master_key,
    make_kid,
)
from rtpstack.sframe import SFrameReceiver, SFrameSender, derive_key_salt
from tests.conftest import require_program

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tests" / "browser" / "sframe_check.mjs"
VP8_PCAP = ROOT / "pcaps" / "ffmpeg_vp8_pcmu.pcapng"
SECRET = "caf\u00e9 browser secret \u2603"
SESSION = "browser-session"
JS_SENDER = 77
PY_SENDER = 5


def _vp8_frames() -> list[bytes]:
    src = CaptureSource.from_file(VP8_PCAP, kind="video", depacketize=vp8_strip)
    return [f.data for f in src.frames[:3]]   # one key frame, two delta frames


@pytest.fixture(scope="module")
def js(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    node = require_program("node")
    frames = _vp8_frames()
    enc = FrameEncryptor(SECRET, SESSION, PY_SENDER)
    python_frames = [
        {"kind": "video", "hex": protect_frame(
            "video", f, lambda p, m: enc.encrypt(p, stream=1, metadata=m)).hex()}
        for f in frames
    ] + [{"kind": "audio", "hex": protect_frame(
        "audio", b"\xfc" + bytes(range(60)), lambda p, m: enc.encrypt(p, 0, m)).hex()}]
    data = {
        "secret": SECRET, "session": SESSION, "sender_index": JS_SENDER,
        "wrong_secret": "another secret entirely",
        "plain_frames": [{"kind": "video", "stream": 1, "hex": f.hex()} for f in frames]
        + [{"kind": "audio", "stream": 0, "hex": (b"\xfc" + bytes(range(60))).hex()}],
        "python_frames": python_frames,
    }
    path = Path(tmp_path_factory.mktemp("sframe")) / "input.json"
    path.write_text(json.dumps(data))
    out = subprocess.run(["timeout", "-k", "2", "90", node, str(SCRIPT), str(path)],
                         capture_output=True, text=True, timeout=100, check=False)
    assert out.returncode == 0, out.stderr
    result: dict[str, Any] = json.loads(out.stdout)
    result["_input"] = data
    return result


def test_key_schedule_equals_python(js: dict[str, Any]) -> None:
    master = derive_master_key(SECRET, SESSION)
    assert js["master"] == master.hex()
    kid = make_kid(2, 1, 3)
    base = base_key_for_kid(master, kid)
    assert js["base"] == base.hex()
    key, salt = derive_key_salt(4, kid, base)
    assert (js["key4"], js["salt4"]) == (key.hex(), salt.hex())
    assert js["error"] == "encryption secret must be 8 to 256 characters, got 5"


@pytest.mark.parametrize("suite", [1, 2, 3, 4, 5])
def test_frames_equal_python(js: dict[str, Any], suite: int) -> None:
    master = derive_master_key(SECRET, SESSION)
    kid = make_kid(1, 0, 0)
    sender = SFrameSender(suite)
    sender.set_key(kid, base_key_for_kid(master, kid))
    assert js["frames"][str(suite)] == sender.encrypt(b"hello").hex()
    # the same key at counter 0x1234567 with metadata: the long header forms
    receiver = SFrameReceiver(suite)
    receiver.add_key(kid, base_key_for_kid(master, kid))
    opened = receiver.open(bytes.fromhex(js["frames"][f"{suite}-long"]), b"meta")
    assert (opened.ctr, opened.plaintext) == (0x1234567, b"hello again")


def test_javascript_carriage_opens_in_python(js: dict[str, Any]) -> None:
    dec = FrameDecryptor(SECRET, SESSION)
    plain = [bytes.fromhex(f["hex"]) for f in js["_input"]["plain_frames"]]
    kinds = [f["kind"] for f in js["_input"]["plain_frames"]]
    for kind, want, wire_hex in zip(kinds, plain, js["protected"], strict=True):
        wire = bytes.fromhex(wire_hex)
        clear = 0 if kind == "audio" else (VP8_CLEAR_KEY if want[0] & 1 == 0 else VP8_CLEAR_DELTA)
        assert wire[:clear] == want[:clear]            # the VP8 header stays readable
        assert want[clear:] not in wire                # the rest does not
        opened = open_frame(kind, wire, lambda d, m: dec.open(d, m).payload)
        assert opened == want
    assert plain[0][0] & 1 == 0 and plain[1][0] & 1 == 1   # a key frame and a delta frame
    # the clear prefix is authenticated: flip a bit in it and the frame no longer opens
    tampered = bytearray(bytes.fromhex(js["protected"][1]))
    tampered[1] ^= 0x01
    with pytest.raises(ValueError, match="authentication failed"):
        open_frame("video", bytes(tampered), FrameDecryptor(SECRET, SESSION).decrypt)


def test_python_carriage_opens_in_javascript(js: dict[str, Any]) -> None:
    plain = [bytes.fromhex(f["hex"]) for f in js["_input"]["plain_frames"]]
    assert len(js["opened"]) == len(plain)
    for want, got in zip(plain, js["opened"], strict=True):
        assert "error" not in got, got
        assert bytes.fromhex(got["frame"]) == want
        assert got["sender"] == str(PY_SENDER)
    assert [o["stream"] for o in js["opened"]] == [1, 1, 1, 0]


def test_wrong_secret_mismatch_then_match_in_javascript(js: dict[str, Any]) -> None:
    assert js["wrong"] == ["authentication"] * 4
    assert "wrongAfter" not in js
    assert js["events"] == [[ENCRYPTION_SECRET_MISMATCH, str(PY_SENDER)],
                            [ENCRYPTION_SECRET_MATCH, str(PY_SENDER)]]
