// The router's browser page (docs/browser.md): join with a token, publish camera and
// microphone, show every other participant's video, end-to-end encryption with SFrame in a
// worker (e2ee-worker.js), a visible mismatch state per remote participant.
//
// URL: ?transform=legacy (use createEncodedStreams instead of RTCRtpScriptTransform),
// ?loopback=1 (no router: two local peer connections, see window.__loopback); in the
// fragment #token=...&secret=... (join and set the secret at once; secret_b: the loopback
// receiver's). The token is also accepted in the query.
// For tests: window.__stats() (getStats-derived numbers, e2ee states), window.__events,
// window.__join(token), window.__setSecret(secret), window.__loopback(options) and
// window.__loopbackSetSecret("sender" | "receiver", secret).

import { normalizeSecret } from "./sframe.js";

const params = new URLSearchParams(location.search);
// The secret is read from the fragment only (#secret=...): a fragment never leaves the
// browser, so the secret reaches no server, proxy or log. The token may be in either.
const fragment = new URLSearchParams(location.hash.slice(1));
const urlToken = fragment.get("token") || params.get("token");
const $ = (id) => document.getElementById(id);
const events = [];             // {type, ...} in order: joined, secret-set, e2ee state changes
window.__events = events;

function log(text) {
  const line = `${new Date().toISOString().slice(11, 23)} ${text}`;
  const el = $("log");
  el.textContent = (line + "\n" + el.textContent).slice(0, 20000);
  console.log(line);
}

function setStatus(text, st) {
  const el = $("status");
  el.textContent = text;
  el.dataset.state = st;
}

export const TRANSFORM_MODE = ("RTCRtpScriptTransform" in window && params.get("transform") !== "legacy")
  ? "script" : ("createEncodedStreams" in (window.RTCRtpSender?.prototype ?? {}) ? "legacy" : "none");

/** One e2ee worker: this participant's encryptor and the decryptor for everyone else. */
class E2ee {
  constructor(label) {
    this.label = label;
    this.mode = TRANSFORM_MODE;
    this.worker = new Worker("/static/e2ee-worker.js", { type: "module", name: `e2ee-${label}` });
    this.counts = {};
    this.states = {};
    this.onstate = () => {};
    this.waiters = [];
    this.worker.onmessage = (ev) => this.message(ev.data);
    this.worker.onerror = (ev) => log(`e2ee worker error: ${ev.message}`);
  }

  message(m) {
    if (m.type === "counts") this.counts = m.counts;
    else if (m.type === "event") {
      this.states[m.id] = m.kind;
      events.push({ type: m.kind, id: m.id, sender: m.sender, worker: this.label });
      log(`${m.kind} for ${m.id}`);
      this.onstate(m.id, m.kind);
    } else if (m.type === "pipe-error") log(`transform of ${m.id} ended: ${m.message}`);
    for (const w of this.waiters.splice(0)) w(m);
  }

  next(types) {
    return new Promise((resolve) => {
      const wait = (m) => (types.includes(m.type) ? resolve(m) : this.waiters.push(wait));
      this.waiters.push(wait);
    });
  }

  async configure(sessionId, senderIndex, e2ee) {
    const done = this.next(["configured"]);
    this.worker.postMessage({ type: "config", sessionId, senderIndex: String(senderIndex), e2ee });
    await done;
  }

  /** Resolves with the new key epoch; throws on a secret of the wrong length. */
  async setSecret(secret) {
    normalizeSecret(secret);
    const done = this.next(["secret-set", "secret-error"]);
    this.worker.postMessage({ type: "secret", secret });
    const m = await done;
    if (m.type === "secret-error") throw new Error(m.message);
    return m.epoch;
  }

  attach(endpoint, options) {
    if (this.mode === "script") {
      endpoint.transform = new RTCRtpScriptTransform(this.worker, options);
    } else if (this.mode === "legacy") {
      const { readable, writable } = endpoint.createEncodedStreams();
      this.worker.postMessage({ type: "stream", readable, writable, options },
        [readable, writable]);
    } else {
      throw new Error("this browser has neither RTCRtpScriptTransform nor createEncodedStreams");
    }
  }
}

function peerConnectionConfig() {
  return TRANSFORM_MODE === "legacy" ? { encodedInsertableStreams: true } : {};
}

/** Put VP8 first and only (the carriage of docs/browser.md is defined for VP8). */
function preferVp8(transceiver) {
  const caps = RTCRtpReceiver.getCapabilities("video");
  if (!caps || !transceiver.setCodecPreferences) return;
  const vp8 = caps.codecs.filter((c) => c.mimeType.toLowerCase() === "video/vp8");
  const rtx = caps.codecs.filter((c) => c.mimeType.toLowerCase() === "video/rtx");
  if (vp8.length) transceiver.setCodecPreferences([...vp8, ...rtx]);
}

// -- remote tiles ------------------------------------------------------------------------------

const remotes = new Map();     // id -> {id, label, tile, video, receivers: [], pc}

function remoteTile(id, label) {
  let r = remotes.get(id);
  if (r) return r;
  const tile = document.createElement("figure");
  tile.className = "tile remote";
  tile.dataset.remote = id;
  tile.dataset.e2ee = "pending";
  const video = document.createElement("video");
  video.autoplay = true; video.playsInline = true; video.muted = true;
  const cap = document.createElement("figcaption");
  const name = document.createElement("span");
  name.textContent = label || id;
  const st = document.createElement("span");
  st.className = "e2ee-state";
  st.textContent = "waiting for media";
  cap.append(name, st);
  tile.append(video, cap);
  $("videos").append(tile);
  r = { id, label, tile, video, receivers: [], pc: null, stream: new MediaStream() };
  video.srcObject = r.stream;
  remotes.set(id, r);
  return r;
}

function showState(id, kind) {
  const r = remotes.get(id);
  if (!r || r.tile.dataset.e2ee === kind) return;
  events.push({ type: "tile-state", remote: id, state: kind });
  r.tile.dataset.e2ee = kind;
  r.tile.querySelector(".e2ee-state").textContent = kind;
}

function removeRemote(id) {
  const r = remotes.get(id);
  if (!r) return;
  r.tile.remove();
  remotes.delete(id);
}

// -- stats -------------------------------------------------------------------------------------

const pcs = new Set();
let e2eeMain = null;           // the worker of the routed session
const e2eeWorkers = [];

async function transportStats(pc) {
  const out = {};
  const report = await pc.getStats();
  report.forEach((s) => {
    if (s.type === "transport") {
      out.srtpCipher = s.srtpCipher; out.tlsVersion = s.tlsVersion;
      out.dtlsState = s.dtlsState; out.dtlsCipher = s.dtlsCipher;
      out.selectedCandidatePairId = s.selectedCandidatePairId;
    }
  });
  if (out.selectedCandidatePairId) {
    const pair = report.get(out.selectedCandidatePairId);
    const remote = pair && report.get(pair.remoteCandidateId);
    if (remote) out.remoteCandidate = `${remote.address}:${remote.port}/${remote.protocol}`;
  }
  return out;
}

async function receiverStats(receiver) {
  const out = { framesDecoded: 0, bytesReceived: 0, packetsReceived: 0, framesReceived: 0 };
  (await receiver.getStats()).forEach((s) => {
    if (s.type === "inbound-rtp") {
      out.kind = s.kind;
      out.framesDecoded += s.framesDecoded ?? 0;
      out.framesReceived += s.framesReceived ?? 0;
      out.bytesReceived += s.bytesReceived ?? 0;
      out.packetsReceived += s.packetsReceived ?? 0;
      if (s.frameWidth) { out.frameWidth = s.frameWidth; out.frameHeight = s.frameHeight; }
      if (s.decoderImplementation) out.decoder = s.decoderImplementation;
    }
  });
  return out;
}

window.__stats = async () => {
  const out = { mode: TRANSFORM_MODE, joined: joinState.joined, participantId: joinState.participantId,
    sessionId: joinState.sessionId, e2ee: joinState.e2ee, senderIndex: joinState.senderIndex, secretState: $("secret-state").dataset.state,
    remotes: {}, transports: [], workers: {}, events: events.slice() };
  for (const r of remotes.values()) {
    const rs = { label: r.label, e2ee: r.tile.dataset.e2ee, framesDecoded: 0, bytesReceived: 0,
      packetsReceived: 0, audioPackets: 0 };
    for (const rcv of r.receivers) {
      const s = await receiverStats(rcv);
      if (s.kind === "audio") rs.audioPackets += s.packetsReceived;
      else {
        rs.framesDecoded += s.framesDecoded; rs.bytesReceived += s.bytesReceived;
        rs.packetsReceived += s.packetsReceived; rs.framesReceived = s.framesReceived;
        if (s.frameWidth) { rs.frameWidth = s.frameWidth; rs.frameHeight = s.frameHeight; }
      }
    }
    out.remotes[r.id] = rs;
  }
  for (const pc of pcs) out.transports.push(await transportStats(pc));
  const t = out.transports.find((x) => x.srtpCipher) || out.transports[0] || {};
  out.srtpCipher = t.srtpCipher; out.tlsVersion = t.tlsVersion; out.dtlsState = t.dtlsState;
  for (const w of e2eeWorkers) out.workers[w.label] = w.counts;
  return out;
};

// -- local media -------------------------------------------------------------------------------

let localStream = null;

async function camera() {
  if (!localStream) {
    localStream = await navigator.mediaDevices.getUserMedia({
      audio: true, video: { width: 320, height: 240, frameRate: 15 } });
    $("local-video").srcObject = localStream;
  }
  return localStream;
}

// -- loopback (no router): two local peer connections with the transform on both ends --------

window.__loopback = async ({ secretA, secretB, sessionId = "loopback", seconds = 0 } = {}) => {
  const a = new E2ee("loopback-sender");
  const b = new E2ee("loopback-receiver");
  e2eeWorkers.push(a, b);
  await a.configure(sessionId, 1, true);
  await b.configure(sessionId, 2, true);
  if (secretA) await a.setSecret(secretA);
  if (secretB) await b.setSecret(secretB);
  b.onstate = showState;
  window.__loopbackSetSecret = (end, secret) => (end === "sender" ? a : b).setSecret(secret);
  const stream = await camera();
  const pc1 = new RTCPeerConnection(peerConnectionConfig());
  const pc2 = new RTCPeerConnection(peerConnectionConfig());
  pcs.add(pc1); pcs.add(pc2);
  pc1.onicecandidate = (e) => e.candidate && pc2.addIceCandidate(e.candidate);
  pc2.onicecandidate = (e) => e.candidate && pc1.addIceCandidate(e.candidate);
  const remote = remoteTile("loopback-peer", "loopback peer");
  remote.pc = pc2;
  pc2.ontrack = (e) => {
    b.attach(e.receiver, { role: "recv", kind: e.track.kind, id: remote.id });
    remote.receivers.push(e.receiver);
    remote.stream.addTrack(e.track);
  };
  let stream_index = 0;
  for (const track of stream.getTracks()) {
    const tr = pc1.addTransceiver(track, { direction: "sendonly" });
    if (track.kind === "video") preferVp8(tr);
    a.attach(tr.sender, { role: "send", kind: track.kind, id: `local-${track.kind}`,
      stream: stream_index++ });
  }
  await pc1.setLocalDescription(await pc1.createOffer());
  await pc2.setRemoteDescription(pc1.localDescription);
  await pc2.setLocalDescription(await pc2.createAnswer());
  await pc1.setRemoteDescription(pc2.localDescription);
  if (seconds > 0) await new Promise((r) => setTimeout(r, seconds * 1000));
  return { mode: TRANSFORM_MODE };
};

// -- the routed session ------------------------------------------------------------------------

const joinState = { joined: false, participantId: null, sessionId: null, e2ee: null };
let pendingSecret = fragment.get("secret");

async function setSecret(secret) {
  const el = $("secret-state");
  try {
    if (!e2eeMain) { pendingSecret = secret; normalizeSecret(secret); el.textContent = "secret kept until joined"; return null; }
    const epoch = await e2eeMain.setSecret(secret);
    el.textContent = `secret set (key epoch ${epoch})`;
    el.dataset.state = "set";
    events.push({ type: "secret-set", epoch });
    return epoch;
  } catch (e) {
    el.textContent = e.message;
    el.dataset.state = "error";
    throw e;
  }
}
window.__setSecret = setSecret;

$("secret-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  setSecret($("secret").value).catch(() => {});
});
$("join-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  window.__join($("token").value.trim()).catch((e) => log(`join failed: ${e.message}`));
});

window.__join = async (token) => {
  const { join } = await import("./routed.js");
  return join(token, { E2ee, TRANSFORM_MODE, e2eeWorkers, remotes, remoteTile, removeRemote, showState, pcs,
    camera, preferVp8, peerConnectionConfig, log, setStatus, joinState, events,
    setE2ee: (w) => { e2eeMain = w; },
    pendingSecret: () => pendingSecret, setSecret });
};

if (params.get("loopback")) {
  window.__loopback({ secretA: fragment.get("secret"),
    secretB: fragment.get("secret_b") || fragment.get("secret") })
    .catch((e) => log(`loopback failed: ${e.message}`));
} else if (urlToken) {
  $("token").value = urlToken;
  window.__join(urlToken).catch((e) => {
    setStatus(`join failed: ${e.message}`, "error");
    log(`join failed: ${e.message}`);
  });
}
window.__ready = true;
