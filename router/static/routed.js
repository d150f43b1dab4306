// The page in a routed session: the router's WebRTC signaling (docs/webrtc.md, docs/router.md).
//
//   ws /ws?token=...   -> {"type": "join", "transport": "webrtc"}   <- joined
//   one offer: sendonly audio + video (camera, microphone) and SLOTS recvonly audio and video
//   m-lines (the router sends each subscription on a free slot; no renegotiation)
//   -> {"type": "offer", "sdp", "encrypted"}  <- {"type": "answer", "sdp", "streams", "slots"}
//   every other participant's stream -> {"type": "subscribe", "stream_id"}
//                                     <- subscribed {"mid": the slot it arrives on, "stream"}
//
// Every sender and slot receiver carries the e2ee worker's transform from the start; the
// worker reports per slot (transform id "slot-<n>-<kind>"), and the page maps a slot's mid to
// the participant subscribed on it, whose tile shows the state.

export const SLOTS = 4;         // recvonly m-lines per kind: up to 4 remote participants

class Signaling {
  constructor(url) {
    this.url = url;
    this.nextId = 1;
    this.pending = new Map();
    this.handlers = new Set();
    this.backlog = [];           // events that came before the first handler
  }

  /** Handle events from now on, starting with those that arrived before. */
  listen(handler) {
    this.handlers.add(handler);
    for (const m of this.backlog.splice(0)) handler(m);
  }

  dispatch(m) {
    if (!this.handlers.size) { this.backlog.push(m); return; }
    for (const h of this.handlers) h(m);
  }

  open() {
    return new Promise((resolve, reject) => {
      this.ws = new WebSocket(this.url);
      this.ws.onopen = () => resolve();
      this.ws.onerror = () => reject(new Error("the signaling socket failed to open"));
      this.ws.onclose = (ev) => {
        for (const [, p] of this.pending) p.reject(new Error(`socket closed (${ev.code})`));
        this.pending.clear();
        this.dispatch({ type: "socket-closed", code: ev.code });
      };
      this.ws.onmessage = (ev) => {
        const m = JSON.parse(ev.data);
        if (m.id !== undefined && this.pending.has(m.id)) {
          const p = this.pending.get(m.id);
          this.pending.delete(m.id);
          if (m.type === "error") p.reject(Object.assign(new Error(m.message), { code: m.error }));
          else p.resolve(m);
          return;
        }
        this.dispatch(m);
      };
    });
  }

  request(msg, timeoutMs = 10000) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`no answer to ${msg.type} in ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (m) => { clearTimeout(timer); resolve(m); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      });
      this.ws.send(JSON.stringify({ ...msg, id }));
    });
  }
}

/** A random sender index in 2^32..2^33 (docs/e2ee.md: disjoint from allocated ones). */
function randomSenderIndex() {
  const w = new Uint32Array(1);
  crypto.getRandomValues(w);
  return (1n << 32n) + BigInt(w[0]);
}

export async function join(token, ctx) {
  if (ctx.joinState.joined) throw new Error("already joined");
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const sig = new Signaling(`${scheme}//${location.host}/ws?token=${encodeURIComponent(token)}`);
  ctx.setStatus("connecting", "idle");
  await sig.open();
  const joined = await sig.request({ type: "join", transport: "webrtc" });
  const me = joined.participant_id;
  Object.assign(ctx.joinState, { joined: true, participantId: me,
    sessionId: joined.session_id, e2ee: joined.e2ee });
  document.getElementById("local-id").textContent = `(${me})`;
  ctx.events.push({ type: "joined", participantId: me, sessionId: joined.session_id });
  ctx.log(`joined ${joined.session_id} as ${me} (e2ee ${joined.e2ee})`);

  const worker = new ctx.E2ee("main");
  ctx.e2eeWorkers.push(worker);
  // the router hands out a fresh sender index per join; a random one only if it did not
  const senderIndex = Number.isInteger(joined.sender_index) && joined.sender_index > 0
    ? BigInt(joined.sender_index) : randomSenderIndex();
  Object.assign(ctx.joinState, { senderIndex: senderIndex.toString() });
  await worker.configure(joined.session_id, senderIndex, joined.e2ee);
  ctx.setE2ee(worker);
  const pending = ctx.pendingSecret();
  if (joined.e2ee && pending) await ctx.setSecret(pending);

  let answered;                  // resolves once the answer is applied (slots have mids)
  const answeredP = new Promise((r) => { answered = r; });
  const subscribed = new Map();  // stream id -> {mid, owner, slot} (null while subscribing)
  const slotOwner = new Map();   // transform id -> participant id
  const slotByMid = new Map();   // mid -> {id, transceiver}
  const lastState = new Map();   // transform id -> e2ee state
  worker.onstate = (id, kind) => {
    lastState.set(id, kind);
    const owner = slotOwner.get(id);
    if (owner) ctx.showState(owner, kind);
  };

  sig.listen(onEvent);
  const pc = new RTCPeerConnection(ctx.peerConnectionConfig());
  ctx.pcs.add(pc);
  pc.onconnectionstatechange = () => ctx.log(`peer connection ${pc.connectionState}`);
  const local = await ctx.camera();
  const needTransform = joined.e2ee || ctx.TRANSFORM_MODE === "legacy";
  let streamIndex = 0;
  for (const track of local.getTracks()) {
    const tr = pc.addTransceiver(track, { direction: "sendonly", streams: [local] });
    if (track.kind === "video") ctx.preferVp8(tr);
    if (needTransform) {
      worker.attach(tr.sender, { role: "send", kind: track.kind, id: `local-${track.kind}`,
        stream: streamIndex++ });
    }
  }
  const slots = [];
  for (let i = 0; i < SLOTS; i++) {
    for (const kind of ["audio", "video"]) {
      const tr = pc.addTransceiver(kind, { direction: "recvonly" });
      if (kind === "video") ctx.preferVp8(tr);
      const id = `slot-${i}-${kind}`;
      if (needTransform) worker.attach(tr.receiver, { role: "recv", kind, id });
      slots.push({ id, kind, transceiver: tr });
    }
  }
  await pc.setLocalDescription(await pc.createOffer());
  const answer = await sig.request({ type: "offer", sdp: pc.localDescription.sdp,
    encrypted: !!joined.e2ee });
  await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
  for (const s of slots) if (s.transceiver.mid !== null) slotByMid.set(s.transceiver.mid, s);
  ctx.log(`answered: ${answer.streams.length} published, ${answer.slots.length} slots`);
  answered();
  for (const stream of joined.streams || []) await subscribe(stream);
  ctx.setStatus(`joined as ${me}`, "joined");
  window.__signaling = sig;
  return { participantId: me, sessionId: joined.session_id, e2ee: joined.e2ee };

  async function subscribe(stream) {
    if (stream.participant_id === me || subscribed.has(stream.stream_id)) return;
    subscribed.set(stream.stream_id, null);
    await answeredP;
    try {
      const sub = await sig.request({ type: "subscribe", stream_id: stream.stream_id });
      const slot = slotByMid.get(sub.mid);
      if (!slot) throw new Error(`subscribed on unknown mid ${sub.mid}`);
      const owner = stream.participant_id;
      subscribed.set(stream.stream_id, { mid: sub.mid, owner, slot });
      slotOwner.set(slot.id, owner);
      const r = ctx.remoteTile(owner, owner);
      r.receivers.push(slot.transceiver.receiver);
      r.stream.addTrack(slot.transceiver.receiver.track);
      r.video.srcObject = r.stream;
      r.video.muted = stream.kind !== "audio" && r.video.muted;
      r.video.play().catch(() => {});
      if (lastState.has(slot.id)) ctx.showState(owner, lastState.get(slot.id));
      ctx.log(`receiving ${stream.kind} of ${owner} on mid ${sub.mid}`);
    } catch (e) {
      subscribed.delete(stream.stream_id);
      ctx.log(`subscribe to ${stream.stream_id} failed: ${e.message}`);
    }
  }

  function dropStream(streamId) {
    const s = subscribed.get(streamId);
    subscribed.delete(streamId);
    if (!s) return;
    slotOwner.delete(s.slot.id);
    lastState.delete(s.slot.id);
    const r = ctx.remotes.get(s.owner);
    if (r) {
      r.receivers = r.receivers.filter((x) => x !== s.slot.transceiver.receiver);
      r.stream.removeTrack(s.slot.transceiver.receiver.track);
      if (!r.receivers.length) ctx.removeRemote(s.owner);
    }
  }

  function onEvent(m) {
    if (m.type === "stream_created") subscribe(m.stream);
    else if (m.type === "stream_destroyed") dropStream(m.stream_id);
    else if (m.type === "participant_left") {
      for (const [sid, s] of [...subscribed]) if (s && s.owner === m.participant_id) dropStream(sid);
      ctx.removeRemote(m.participant_id);
    } else if (m.type === "disconnected" || m.type === "socket-closed") {
      ctx.joinState.joined = false;
      ctx.setStatus(`disconnected (${m.reason || m.code})`, "error");
      pc.close();
    }
  }
}
