// Per-frame cost of the page's SFrame module (router/static/sframe.js) under Node's WebCrypto,
// for tools/bench_browser.py: the VP8 codec carriage (protectFrame / unprotectFrame) and the
// bare AES-GCM call of the same size as the floor. Usage: node bench_sframe.mjs SIZE... ;
// prints JSON {size: {protect, unprotect, bare_gcm}} in microseconds per frame (best round).
import {
  FrameDecryptor, FrameEncryptor, protectFrame, unprotectFrame,
} from "../../router/static/sframe.js";

const sizes = process.argv.slice(2).map(Number);
const ROUNDS = 7;
const enc = new FrameEncryptor("bench", 1n);
const dec = new FrameDecryptor("bench");
await enc.setSecret("benchmark secret");
await dec.setSecret("benchmark secret");
const gcm = await crypto.subtle.importKey("raw", new Uint8Array(16), "AES-GCM", false,
  ["encrypt"]);
const iv = new Uint8Array(12);

async function best(fn, n) {
  let min = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    const t = performance.now();
    for (let i = 0; i < n; i++) await fn(i);
    min = Math.min(min, (performance.now() - t) * 1000 / n);
  }
  return min;
}

const out = {};
for (const size of sizes) {
  const frame = new Uint8Array(size);
  frame[0] = 0x01;                                   // a VP8 delta frame: 3 clear bytes
  const n = size > 10000 ? 100 : 400;
  const wires = [];
  for (let i = 0; i < n * ROUNDS; i++) wires.push(await protectFrame(enc, "video", 0, frame));
  let k = 0;
  out[size] = {
    protect: await best(() => protectFrame(enc, "video", 0, frame), n),
    unprotect: await best(() => unprotectFrame(dec, "video", wires[k++]), n),
    bare_gcm: await best(() => crypto.subtle.encrypt({ name: "AES-GCM", iv }, gcm, frame), n),
  };
}
console.log(JSON.stringify(out));
