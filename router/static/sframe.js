// SFrame (RFC 9605) and the project's key schedule, version 1 (docs/e2ee.md), over WebCrypto.
//
// An ES module with no DOM use: the e2ee worker imports it, and so do the Node tests
// (tests/browser/), which check it byte for byte against the Python side (rtpstack.e2ee).
// Only crypto.subtle primitives a browser has are used: PBKDF2, HKDF, HMAC, AES-GCM, AES-CTR.
//
// The codec carriage of encrypted frames for browsers (docs/browser.md) is here too:
// a few leading bytes of a VP8 frame stay in clear (they are the SFrame metadata, so they are
// authenticated), the rest becomes one SFrame frame.

const te = new TextEncoder();
const subtle = globalThis.crypto.subtle;

export const SCHEDULE_VERSION = 1;
export const PBKDF2_ITERATIONS = 600000;
export const DEFAULT_SUITE = 4;
export const ENCRYPTION_SECRET_MISMATCH = "encryption_secret_mismatch";
export const ENCRYPTION_SECRET_MATCH = "encryption_secret_match";

/** Clear bytes kept in front of a VP8 frame: key frames 10 (frame tag, start code, size),
 * delta frames 3 (frame tag); the P bit (bit 0 of byte 0) says which. */
export const VP8_CLEAR_KEY = 10;
export const VP8_CLEAR_DELTA = 3;

export class SFrameError extends Error {
  constructor(kind, message) { super(message); this.name = "SFrameError"; this.kind = kind; }
}

export const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

function be64(v) {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(v));
  return b;
}

/** NFC form of a secret; 8 to 256 code points, else the same message as the Python side. */
export function normalizeSecret(secret) {
  const norm = String(secret).normalize("NFC");
  const n = [...norm].length;
  if (n < 8 || n > 256) {
    throw new SFrameError("invalid_secret", `encryption secret must be 8 to 256 characters, got ${n}`);
  }
  return norm;
}

/** master = PBKDF2-HMAC-SHA256(secret, "rtpstack-e2ee-v1:" || session id, 600000, 32 bytes). */
export async function deriveMaster(secret, sessionId) {
  const norm = normalizeSecret(secret);
  const pw = await subtle.importKey("raw", te.encode(norm), "PBKDF2", false, ["deriveBits"]);
  return new Uint8Array(await subtle.deriveBits(
    { name: "PBKDF2", hash: "SHA-256", salt: te.encode("rtpstack-e2ee-v1:" + sessionId),
      iterations: PBKDF2_ITERATIONS }, pw, 256));
}

async function hkdf(hash, ikm, salt, info, bits) {
  const k = await subtle.importKey("raw", ikm, "HKDF", false, ["deriveBits"]);
  return new Uint8Array(await subtle.deriveBits({ name: "HKDF", hash, salt, info }, k, bits));
}

/** KID = sender_index << 8 | stream << 4 | epoch (a BigInt). */
export function makeKid(sender, stream, epoch) {
  if (stream < 0 || stream > 15) throw new RangeError(`stream must be 0..15, got ${stream}`);
  return (BigInt(sender) << 8n) | (BigInt(stream) << 4n) | BigInt(epoch & 15);
}

export function splitKid(kid) {
  kid = BigInt(kid);
  return { sender: kid >> 8n, stream: Number((kid >> 4n) & 15n), epoch: Number(kid & 15n) };
}

/** base_key = HKDF-SHA256(master, "rtpstack-e2ee-v1", "rtpstack-e2ee-v1 kid " || KID). */
export function baseKey(master, kid) {
  return hkdf("SHA-256", master, te.encode("rtpstack-e2ee-v1"),
    concat(te.encode("rtpstack-e2ee-v1 kid "), be64(kid)), 256);
}

const SUITES = {
  1: { hash: "SHA-256", nk: 48, nt: 10, aead: false },
  2: { hash: "SHA-256", nk: 48, nt: 8, aead: false },
  3: { hash: "SHA-256", nk: 48, nt: 4, aead: false },
  4: { hash: "SHA-256", nk: 16, nt: 16, aead: true },
  5: { hash: "SHA-512", nk: 32, nt: 16, aead: true },
};

function suiteInfo(suite) {
  const s = SUITES[suite];
  if (!s) throw new RangeError(`unknown SFrame cipher suite ${suite}`);
  return s;
}

/** RFC 9605 section 4.4.2: [key, salt] of a KID from its base key. */
export async function sframeKeySalt(suite, kid, base) {
  const s = suiteInfo(suite);
  const tail = concat(be64(kid), new Uint8Array([suite >> 8, suite & 255]));
  const empty = new Uint8Array(0);
  const key = await hkdf(s.hash, base, empty,
    concat(te.encode("SFrame 1.0 Secret key "), tail), s.nk * 8);
  const salt = await hkdf(s.hash, base, empty,
    concat(te.encode("SFrame 1.0 Secret salt "), tail), 96);
  return [key, salt];
}

function minBytes(v) {
  const b = [];
  while (v > 0n) { b.unshift(Number(v & 255n)); v >>= 8n; }
  return b;
}

/** RFC 9605 section 4.3, shortest form. */
export function encodeHeader(kid, ctr) {
  kid = BigInt(kid); ctr = BigInt(ctr);
  let first = 0; const rest = [];
  if (kid < 8n) first = Number(kid) << 4;
  else { const b = minBytes(kid); first = 0x80 | ((b.length - 1) << 4); rest.push(...b); }
  if (ctr < 8n) first |= Number(ctr);
  else { const b = minBytes(ctr); first |= 0x08 | (b.length - 1); rest.push(...b); }
  return new Uint8Array([first, ...rest]);
}

/** {kid, ctr, length} of the header at the start of ``frame`` (longer forms accepted). */
export function decodeHeader(frame) {
  if (frame.length < 1) throw new SFrameError("malformed", "SFrame frame is empty");
  const first = frame[0];
  let pos = 1;
  const field = (extended, value) => {
    if (!extended) return BigInt(value);
    const n = value + 1;
    if (frame.length < pos + n) throw new SFrameError("malformed", "SFrame header is cut short");
    let v = 0n;
    for (let i = 0; i < n; i++) v = (v << 8n) | BigInt(frame[pos + i]);
    pos += n;
    return v;
  };
  const kid = field(first & 0x80, (first >> 4) & 7);
  const ctr = field(first & 0x08, first & 7);
  return { kid, ctr, length: pos };
}

/** One KID's SFrame key: WebCrypto key objects made once, then encrypt/decrypt per frame. */
export class SFrameKey {
  static async create(suite, kid, key, salt) {
    const s = suiteInfo(suite);
    const k = new SFrameKey();
    k.suite = suite; k.kid = BigInt(kid); k.salt = salt; k.nt = s.nt; k.aead = s.aead;
    if (s.aead) {
      k.gcm = await subtle.importKey("raw", key, "AES-GCM", false, ["encrypt", "decrypt"]);
    } else {
      k.ctrKey = await subtle.importKey("raw", key.slice(0, 16), "AES-CTR", false,
        ["encrypt", "decrypt"]);
      k.mac = await subtle.importKey("raw", key.slice(16), { name: "HMAC", hash: "SHA-256" },
        false, ["sign"]);
    }
    return k;
  }

  static async fromBase(suite, kid, base) {
    const [key, salt] = await sframeKeySalt(suite, kid, base);
    return SFrameKey.create(suite, kid, key, salt);
  }

  nonce(ctr) {
    const n = this.salt.slice();
    const c = be64(ctr);
    for (let i = 0; i < 8; i++) n[4 + i] ^= c[i];
    return n;
  }

  async tag(nonce, aad, ct) {                         // RFC 9605 section 4.5.1
    const data = concat(be64(aad.length), be64(ct.length), be64(this.nt), nonce, aad, ct);
    return new Uint8Array(await subtle.sign("HMAC", this.mac, data)).slice(0, this.nt);
  }

  async encrypt(ctr, metadata, plaintext) {
    const hdr = encodeHeader(this.kid, ctr);
    const nonce = this.nonce(ctr);
    const aad = concat(hdr, metadata);
    if (this.aead) {
      return concat(hdr, new Uint8Array(await subtle.encrypt(
        { name: "AES-GCM", iv: nonce, additionalData: aad, tagLength: 128 }, this.gcm,
        plaintext)));
    }
    const ct = new Uint8Array(await subtle.encrypt(
      { name: "AES-CTR", counter: concat(nonce, new Uint8Array(4)), length: 32 }, this.ctrKey,
      plaintext));
    return concat(hdr, ct, await this.tag(nonce, aad, ct));
  }

  /** {ctr, plaintext}; throws SFrameError kind "authentication" when the tag is wrong. */
  async decrypt(frame, metadata) {
    const { ctr, length } = decodeHeader(frame);
    if (frame.length < length + this.nt) {
      throw new SFrameError("malformed", "SFrame frame has no room for the tag");
    }
    const aad = concat(frame.subarray(0, length), metadata);
    const nonce = this.nonce(ctr);
    const body = frame.subarray(length);
    if (this.aead) {
      try {
        return { ctr, plaintext: new Uint8Array(await subtle.decrypt(
          { name: "AES-GCM", iv: nonce, additionalData: aad, tagLength: 128 }, this.gcm, body)) };
      } catch (e) {
        throw new SFrameError("authentication", "SFrame authentication failed");
      }
    }
    const ct = body.subarray(0, body.length - this.nt);
    const want = await this.tag(nonce, aad, ct);
    const got = body.subarray(body.length - this.nt);
    let diff = 0;
    for (let i = 0; i < this.nt; i++) diff |= want[i] ^ got[i];
    if (diff !== 0) throw new SFrameError("authentication", "SFrame authentication failed");
    return { ctr, plaintext: new Uint8Array(await subtle.decrypt(
      { name: "AES-CTR", counter: concat(nonce, new Uint8Array(4)), length: 32 }, this.ctrKey,
      ct)) };
  }
}

const masterCache = new Map();

/** The master key, cached per (secret, session) like the Python side (last 16). */
export async function cachedMaster(secret, sessionId) {
  const id = normalizeSecret(secret) + "\u0000" + sessionId;
  let p = masterCache.get(id);
  if (!p) {
    p = deriveMaster(secret, sessionId);
    masterCache.set(id, p);
    if (masterCache.size > 16) masterCache.delete(masterCache.keys().next().value);
  }
  return p;
}

/** This participant's frames: epoch moves on each secret change, counters never repeat. */
export class FrameEncryptor {
  constructor(sessionId, senderIndex, suite = DEFAULT_SUITE) {
    this.sessionId = sessionId;
    this.senderIndex = BigInt(senderIndex);
    this.suite = suite;
    this.epoch = -1;
    this.master = null;
    this.keys = new Map();        // kid -> SFrameKey (current master)
    this.counters = new Map();    // kid + master hex -> next counter
  }

  get hasSecret() { return this.master !== null; }

  async setSecret(secret) {
    const master = await cachedMaster(secret, this.sessionId);
    this.epoch = (this.epoch + 1) & 15;
    this.master = master;
    this.masterHex = hex(master);
    this.keys = new Map();
  }

  kid(stream) { return makeKid(this.senderIndex, stream, this.epoch); }

  async encrypt(payload, stream = 0, metadata = new Uint8Array(0)) {
    if (!this.master) throw new SFrameError("no_secret", "no encryption secret set");
    const kid = this.kid(stream);
    let key = this.keys.get(kid);
    if (!key) {
      key = await SFrameKey.fromBase(this.suite, kid, await baseKey(this.master, kid));
      this.keys.set(kid, key);
    }
    const slot = kid.toString() + ":" + this.masterHex;
    const ctr = this.counters.get(slot) ?? 0n;
    this.counters.set(slot, ctr + 1n);
    return key.encrypt(ctr, metadata, payload);
  }
}

class ReplayWindow {
  constructor(size) { this.size = BigInt(size); this.highest = -1n; this.seen = new Set(); }
  check(ctr) {
    if (this.highest >= 0n && ctr + this.size <= this.highest) {
      throw new SFrameError("replay", "SFrame counter is older than the replay window");
    }
    if (this.seen.has(ctr)) throw new SFrameError("replay", "SFrame counter was already accepted");
  }
  update(ctr) {
    this.seen.add(ctr);
    if (ctr > this.highest) this.highest = ctr;
    if (this.seen.size > 2 * Number(this.size)) {      // forget what left the window, at times
      for (const c of this.seen) if (c + this.size <= this.highest) this.seen.delete(c);
    }
  }
}

/** Everyone else's frames; events per sender index like rtpstack.e2ee.FrameDecryptor. */
export class FrameDecryptor {
  constructor(sessionId, { suite = DEFAULT_SUITE, keepPrevious = 2, replayWindow = 128 } = {}) {
    this.sessionId = sessionId;
    this.suite = suite;
    this.keepPrevious = keepPrevious;
    this.replayWindow = replayWindow;
    this.masters = [];             // newest first: {hex, bytes}
    this.bound = new Map();        // kid -> {key, masterHex, window}
    this.mismatched = new Set();   // sender indexes (BigInt as string)
    this.events = [];
  }

  get hasSecret() { return this.masters.length > 0; }

  async setSecret(secret) {
    const master = await cachedMaster(secret, this.sessionId);
    const h = hex(master);
    this.masters = [{ hex: h, bytes: master }, ...this.masters.filter((m) => m.hex !== h)]
      .slice(0, 1 + this.keepPrevious);
    const kept = new Set(this.masters.map((m) => m.hex));
    for (const [kid, b] of this.bound) if (!kept.has(b.masterHex)) this.bound.delete(kid);
  }

  drainEvents() { const e = this.events; this.events = []; return e; }

  /** {kid, sender, stream, epoch, ctr, plaintext}; throws SFrameError. */
  async open(frame, metadata = new Uint8Array(0)) {
    const { kid, ctr } = decodeHeader(frame);
    const sender = kid >> 8n;
    let bound = this.bound.get(kid);
    let plaintext = null;
    if (bound) {
      bound.window.check(ctr);
      try {
        plaintext = (await bound.key.decrypt(frame, metadata)).plaintext;
        bound.window.update(ctr);
      } catch (e) {
        if (e.kind !== "authentication") throw e;
        plaintext = null;
      }
    }
    if (plaintext === null) plaintext = await this.bind(kid, ctr, frame, metadata, sender);
    const s = sender.toString();
    if (this.mismatched.has(s)) {
      this.mismatched.delete(s);
      this.events.push({ kind: ENCRYPTION_SECRET_MATCH, sender: s, kid: kid.toString() });
    }
    const f = splitKid(kid);
    return { kid, sender, stream: f.stream, epoch: f.epoch, ctr, plaintext };
  }

  async bind(kid, ctr, frame, metadata, sender) {
    const current = this.bound.get(kid);
    for (const m of this.masters) {
      if (current && current.masterHex === m.hex) continue;
      const key = await SFrameKey.fromBase(this.suite, kid, await baseKey(m.bytes, kid));
      let plaintext;
      try {
        plaintext = (await key.decrypt(frame, metadata)).plaintext;
      } catch (e) {
        if (e.kind === "authentication") continue;
        throw e;
      }
      const window = new ReplayWindow(this.replayWindow);
      window.update(ctr);
      this.bound.set(kid, { key, masterHex: m.hex, window });
      return plaintext;
    }
    const s = sender.toString();
    if (!this.mismatched.has(s)) {
      this.mismatched.add(s);
      this.events.push({ kind: ENCRYPTION_SECRET_MISMATCH, sender: s, kid: kid.toString() });
    }
    throw new SFrameError("authentication", "SFrame authentication failed");
  }
}

/** How many leading bytes of an encoded frame stay in clear (docs/browser.md). */
export function clearPrefixLength(kind, data) {
  if (kind !== "video" || data.length === 0) return 0;
  const n = (data[0] & 0x01) === 0 ? VP8_CLEAR_KEY : VP8_CLEAR_DELTA;
  return Math.min(n, data.length);
}

/** Encoded frame -> clear prefix || SFrame(rest, metadata = prefix). */
export async function protectFrame(enc, kind, stream, data) {
  const n = clearPrefixLength(kind, data);
  const prefix = data.slice(0, n);
  return concat(prefix, await enc.encrypt(data.subarray(n), stream, prefix));
}

/** The inverse of protectFrame: {frame, sender, ...}; throws SFrameError. */
export async function unprotectFrame(dec, kind, data) {
  const n = clearPrefixLength(kind, data);
  const prefix = data.slice(0, n);
  const opened = await dec.open(data.subarray(n), prefix);
  return { ...opened, frame: concat(prefix, opened.plaintext) };
}
