// The page's end-to-end encryption worker (a module worker): SFrame per RFC 9605 with keys
// from the project's key schedule (sframe.js), applied to encoded frames.
//
// Two ways frames reach it (docs/browser.md):
// * Encoded Transform: the page creates `new RTCRtpScriptTransform(worker, options)`; the
//   worker gets an `rtctransform` event with `event.transformer` (readable, writable, options).
// * The legacy insertable streams (`createEncodedStreams()` on a connection made with
//   `encodedInsertableStreams: true`): the page posts {type: "stream", readable, writable,
//   options} with the streams transferred.
// options: {role: "send" | "recv", kind: "audio" | "video", id: <remote id or track name>,
//           stream: <SFrame stream index, send only>}.
//
// Messages from the page: {type: "config", sessionId, senderIndex, e2ee}, {type: "secret",
// secret}. Messages to the page: {type: "secret-set", epoch} or {type: "secret-error",
// message}; {type: "event", kind: "encryption_secret_mismatch" | "encryption_secret_match",
// id, sender}; {type: "counts", counts: {id: {ok, failed, sent, ...}}} about twice a second.

import {
  ENCRYPTION_SECRET_MATCH, ENCRYPTION_SECRET_MISMATCH, FrameDecryptor, FrameEncryptor,
  protectFrame, unprotectFrame,
} from "./sframe.js";

let enc = null;
let dec = null;
let e2ee = true;
let secretSet = false;
const counts = {};         // id -> {sent, ok, failed, dropped, state}
let dirty = false;

function count(id, field) {
  const c = counts[id] || (counts[id] = { sent: 0, ok: 0, failed: 0, dropped: 0, state: null });
  c[field] += 1;
  dirty = true;
  return c;
}

function setState(id, state, sender) {
  const c = counts[id] || (counts[id] = { sent: 0, ok: 0, failed: 0, dropped: 0, state: null });
  if (c.state === state) return;
  c.state = state;
  dirty = true;
  self.postMessage({ type: "event", kind: state, id, sender });
}

setInterval(() => {
  if (dirty) { dirty = false; self.postMessage({ type: "counts", counts }); }
}, 500);

function sendTransform(options) {
  return new TransformStream({
    async transform(frame, controller) {
      if (!e2ee) { controller.enqueue(frame); return; }
      if (!secretSet) { count(options.id, "dropped"); return; }   // never send clear media
      const data = new Uint8Array(frame.data);
      frame.data = (await protectFrame(enc, options.kind, options.stream || 0, data)).buffer;
      count(options.id, "sent");
      controller.enqueue(frame);
    },
  });
}

function recvTransform(options) {
  return new TransformStream({
    async transform(frame, controller) {
      if (!e2ee) { controller.enqueue(frame); return; }
      const data = new Uint8Array(frame.data);
      if (data.length === 0) return;
      // No secret yet (its key derivation may still be running): nothing can be said about
      // the frame, so it is dropped and counted as such, not as an authentication failure.
      if (!secretSet) { count(options.id, "dropped"); return; }
      try {
        const opened = await unprotectFrame(dec, options.kind, data);
        frame.data = opened.frame.buffer;
        count(options.id, "ok");
        setState(options.id, ENCRYPTION_SECRET_MATCH, opened.sender.toString());
        controller.enqueue(frame);
      } catch (e) {
        count(options.id, "failed");
        if (e.kind === "authentication") setState(options.id, ENCRYPTION_SECRET_MISMATCH, null);
        // the frame is dropped: the decoder never sees ciphertext
      } finally {
        dec.drainEvents();
      }
    },
  });
}

function attach(readable, writable, options) {
  const t = options.role === "send" ? sendTransform(options) : recvTransform(options);
  readable.pipeThrough(t).pipeTo(writable).catch((e) => {
    self.postMessage({ type: "pipe-error", id: options.id, message: String(e) });
  });
}

self.addEventListener("rtctransform", (event) => {
  const t = event.transformer;
  attach(t.readable, t.writable, t.options);
});

self.addEventListener("message", async (event) => {
  const m = event.data;
  if (m.type === "config") {
    e2ee = m.e2ee !== false;
    enc = new FrameEncryptor(m.sessionId, BigInt(m.senderIndex));
    dec = new FrameDecryptor(m.sessionId);
    self.postMessage({ type: "configured" });
  } else if (m.type === "secret") {
    try {
      await enc.setSecret(m.secret);
      await dec.setSecret(m.secret);
      secretSet = true;
      self.postMessage({ type: "secret-set", epoch: enc.epoch });
    } catch (e) {
      self.postMessage({ type: "secret-error", message: e.message });
    }
  } else if (m.type === "stream") {
    attach(m.readable, m.writable, m.options);
  }
});
