// Runs the page's SFrame module (router/static/sframe.js) under Node for
// tests/test_browser_sframe.py: key schedule values, frames of all five suites, the VP8 codec
// carriage both ways (frames protected by Python are opened here, frames protected here are
// returned for Python to open), and the mismatch events of a wrong secret.
// Usage: node sframe_check.mjs INPUT.json   (prints one JSON object)
import { readFileSync } from "node:fs";
import {
  FrameDecryptor, FrameEncryptor, SFrameKey, baseKey, deriveMaster, hex, makeKid,
  protectFrame, sframeKeySalt, unprotectFrame,
} from "../../router/static/sframe.js";

const input = JSON.parse(readFileSync(process.argv[2], "utf8"));
const unhex = (h) => Uint8Array.from(h.match(/../g) || [], (x) => parseInt(x, 16));
const te = new TextEncoder();
const { secret, session } = input;

const out = { frames: {} };
const master = await deriveMaster(secret, session);
out.master = hex(master);
const kid = makeKid(2, 1, 3);
out.base = hex(await baseKey(master, kid));
const [key4, salt4] = await sframeKeySalt(4, kid, await baseKey(master, kid));
out.key4 = hex(key4); out.salt4 = hex(salt4);
for (const suite of [1, 2, 3, 4, 5]) {
  const k = makeKid(1, 0, 0);
  const key = await SFrameKey.fromBase(suite, k, await baseKey(master, k));
  out.frames[suite] = hex(await key.encrypt(0n, new Uint8Array(0), te.encode("hello")));
  // and a large counter with metadata, to cover the long header forms
  out.frames[`${suite}-long`] = hex(await key.encrypt(0x1234567n, te.encode("meta"),
    te.encode("hello again")));
}

// codec carriage: JS -> Python
const enc = new FrameEncryptor(session, BigInt(input.sender_index));
await enc.setSecret(secret);
out.protected = [];
for (const f of input.plain_frames) {
  out.protected.push(hex(await protectFrame(enc, f.kind, f.stream, unhex(f.hex))));
}
// codec carriage: Python -> JS
const dec = new FrameDecryptor(session);
await dec.setSecret(secret);
out.opened = [];
for (const f of input.python_frames) {
  try {
    const r = await unprotectFrame(dec, f.kind, unhex(f.hex));
    out.opened.push({ frame: hex(r.frame), sender: r.sender.toString(), stream: r.stream,
      epoch: r.epoch });
  } catch (e) { out.opened.push({ error: e.message, kind: e.kind }); }
}
// a wrong secret: one mismatch event per sender, then a match once the right one is set
const wrong = new FrameDecryptor(session);
await wrong.setSecret(input.wrong_secret);
out.wrong = [];
for (const f of input.python_frames) {
  try { await unprotectFrame(wrong, f.kind, unhex(f.hex)); out.wrong.push("opened"); }
  catch (e) { out.wrong.push(e.kind); }
}
await wrong.setSecret(secret);
await unprotectFrame(wrong, input.python_frames[0].kind, unhex(input.python_frames[0].hex))
  .catch((e) => { out.wrongAfter = e.kind; });
out.events = wrong.drainEvents().map((e) => [e.kind, e.sender]);
try { await deriveMaster("short", session); } catch (e) { out.error = e.message; }
console.log(JSON.stringify(out));
