"""The key schedule and frame encryption, re-implemented with WebCrypto (``crypto.subtle``,
run by Node.js) from docs/e2ee.md alone, must give the same bytes as the Python side.

The JavaScript below doubles as the reference for the browser page: it uses only PBKDF2,
HKDF, HMAC-SHA-256, AES-GCM and AES-CTR, as a browser has them.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from rtpstack.e2ee import FrameEncryptor, base_key_for_kid, derive_master_key, make_kid
from rtpstack.sframe import derive_key_salt
from tests.conftest import require_program

WEBCRYPTO_JS = r"""
const te = new TextEncoder();
const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const cat = (...parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
};
const be64 = (v) => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(v));
  return b;
};
const subtle = globalThis.crypto.subtle;

async function masterKey(secret, sessionId) {
  const norm = secret.normalize("NFC");
  const n = [...norm].length;
  if (n < 8 || n > 256) throw new Error(`encryption secret must be 8 to 256 characters, got ${n}`);
  const pw = await subtle.importKey("raw", te.encode(norm), "PBKDF2", false, ["deriveBits"]);
  return new Uint8Array(await subtle.deriveBits(
    { name: "PBKDF2", hash: "SHA-256", salt: te.encode("rtpstack-e2ee-v1:" + sessionId),
      iterations: 600000 }, pw, 256));
}

async function hkdf(hash, ikm, salt, info, bits) {
  const k = await subtle.importKey("raw", ikm, "HKDF", false, ["deriveBits"]);
  return new Uint8Array(await subtle.deriveBits({ name: "HKDF", hash, salt, info }, k, bits));
}

const makeKid = (sender, stream, epoch) =>
  (BigInt(sender) << 8n) | (BigInt(stream) << 4n) | BigInt(epoch & 15);
const baseKey = (master, kid) => hkdf("SHA-256", master, te.encode("rtpstack-e2ee-v1"),
  cat(te.encode("rtpstack-e2ee-v1 kid "), be64(kid)), 256);

async function sframeKeySalt(suite, kid, base) {       // RFC 9605 section 4.4.2
  const hash = suite === 5 ? "SHA-512" : "SHA-256";
  const nk = { 1: 48, 2: 48, 3: 48, 4: 16, 5: 32 }[suite];
  const tail = cat(be64(kid), new Uint8Array([0, suite]));
  const empty = new Uint8Array(0);
  const key = await hkdf(hash, base, empty, cat(te.encode("SFrame 1.0 Secret key "), tail), nk * 8);
  const salt = await hkdf(hash, base, empty, cat(te.encode("SFrame 1.0 Secret salt "), tail), 96);
  return [key, salt];
}

function minBytes(v) {
  const b = [];
  while (v > 0n) { b.unshift(Number(v & 255n)); v >>= 8n; }
  return b;
}
function header(kid, ctr) {                            // RFC 9605 section 4.3
  kid = BigInt(kid); ctr = BigInt(ctr);
  let first = 0; const rest = [];
  if (kid < 8n) first = Number(kid) << 4;
  else { const b = minBytes(kid); first = 0x80 | ((b.length - 1) << 4); rest.push(...b); }
  if (ctr < 8n) first |= Number(ctr);
  else { const b = minBytes(ctr); first |= 0x08 | (b.length - 1); rest.push(...b); }
  return new Uint8Array([first, ...rest]);
}

async function sframeEncrypt(suite, kid, ctr, key, salt, metadata, pt) {
  const hdr = header(kid, ctr);
  const nonce = salt.slice();
  const c = be64(ctr);
  for (let i = 0; i < 8; i++) nonce[4 + i] ^= c[i];
  const aad = cat(hdr, metadata);
  if (suite >= 4) {
    const k = await subtle.importKey("raw", key, "AES-GCM", false, ["encrypt"]);
    return cat(hdr, new Uint8Array(await subtle.encrypt(
      { name: "AES-GCM", iv: nonce, additionalData: aad, tagLength: 128 }, k, pt)));
  }
  const nt = { 1: 10, 2: 8, 3: 4 }[suite];               // RFC 9605 section 4.5.1
  const encKey = await subtle.importKey("raw", key.slice(0, 16), "AES-CTR", false, ["encrypt"]);
  const ct = new Uint8Array(await subtle.encrypt(
    { name: "AES-CTR", counter: cat(nonce, new Uint8Array(4)), length: 32 }, encKey, pt));
  const macKey = await subtle.importKey("raw", key.slice(16), { name: "HMAC", hash: "SHA-256" },
    false, ["sign"]);
  const authData = cat(be64(aad.length), be64(ct.length), be64(nt), nonce, aad, ct);
  const tag = new Uint8Array(await subtle.sign("HMAC", macKey, authData)).slice(0, nt);
  return cat(hdr, ct, tag);
}

const [secret, sessionId] = process.argv.slice(2);
const master = await masterKey(secret, sessionId);
const out = { master: hex(master), frames: {} };
const kid = makeKid(2, 1, 3);
out.base = hex(await baseKey(master, kid));
for (const suite of [1, 2, 3, 4, 5]) {
  const k = makeKid(1, 0, 0);
  const [key, salt] = await sframeKeySalt(suite, k, await baseKey(master, k));
  out.frames[suite] = hex(await sframeEncrypt(suite, k, 0, key, salt, new Uint8Array(0),
                                              te.encode("hello")));
}
const [key4, salt4] = await sframeKeySalt(4, kid, await baseKey(master, kid));
out.key4 = hex(key4); out.salt4 = hex(salt4);
try { await masterKey("short", sessionId); } catch (e) { out.error = e.message; }
console.log(JSON.stringify(out));
"""


@pytest.fixture(scope="module")
def webcrypto(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    node = require_program("node")
    script = Path(tmp_path_factory.mktemp("webcrypto")) / "schedule.mjs"
    script.write_text(WEBCRYPTO_JS)
    out = subprocess.run(
        ["timeout", "-k", "2", "60", node, str(script), "caf\u00e9 secret \u2603", "web-session"],
        capture_output=True, text=True, timeout=70, check=False,
    )
    if out.returncode != 0 and "crypto.subtle" in out.stderr:
        pytest.skip(f"this node has no WebCrypto: {out.stderr.strip()[:200]}")
    assert out.returncode == 0, out.stderr
    result: dict[str, object] = json.loads(out.stdout)
    return result


def test_master_and_base_key_match_webcrypto(webcrypto: dict[str, object]) -> None:
    master = derive_master_key("cafe\u0301 secret \u2603", "web-session")  # NFC makes it equal
    assert webcrypto["master"] == master.hex()
    kid = make_kid(2, 1, 3)
    base = base_key_for_kid(master, kid)
    assert webcrypto["base"] == base.hex()
    key, salt = derive_key_salt(4, kid, base)
    assert (webcrypto["key4"], webcrypto["salt4"]) == (key.hex(), salt.hex())


@pytest.mark.parametrize("suite", [1, 2, 3, 4, 5])
def test_frames_match_webcrypto(webcrypto: dict[str, object], suite: int) -> None:
    enc = FrameEncryptor("caf\u00e9 secret \u2603", "web-session", 1, suite=suite)
    frames = webcrypto["frames"]
    assert isinstance(frames, dict)
    assert frames[str(suite)] == enc.encrypt(b"hello").hex()


def test_secret_length_error_is_the_same(webcrypto: dict[str, object]) -> None:
    assert webcrypto["error"] == "encryption secret must be 8 to 256 characters, got 5"
