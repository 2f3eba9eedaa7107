// One streaming run: webcam → WebRTC → server, with the "control" data channel and
// automatic reconnection.
//
// A "run" lasts from Start to Stop. The server may see several sessions inside one run,
// because each reconnect makes a fresh offer and gets a fresh session_id. Every callback
// from an old RTCPeerConnection is tagged with the generation it was created for and is
// ignored once that generation is over, so a late event from a dead connection can never
// trigger a second reconnect or overwrite the status.

import { api, ApiError } from './api.js';
import { iceGathered, iceServers } from './rtc.js';

const ICE_GATHER_TIMEOUT_MS = 5000; // then send whatever candidates we have
const DISCONNECT_GRACE_MS = 5000;   // "failed"/"disconnected" longer than this → reconnect
const OPEN_TIMEOUT_MS = 20000;      // answer received but channel never opened → reconnect
const OFFER_TIMEOUT_MS = 20000;
const END_TIMEOUT_MS = 5000;
const BACKOFF_MAX_MS = 30000;

/** 1 s, 2 s, 4 s, … capped at 30 s. attempt counts from 0. */
export function backoffDelay(attempt) {
  return Math.min(1000 * 2 ** attempt, BACKOFF_MAX_MS);
}

function endSession(sessionId, options) {
  return api.post(`/api/sessions/${encodeURIComponent(sessionId)}/end`, {}, options);
}

/** Errors from the camera stage are not retried: they need the student to act. */
class CameraError extends Error {
  constructor(cause) {
    super(cause?.message || 'camera error');
    this.name = 'CameraError';
    this.cause = cause;
  }
}

export class LiveStream {
  /**
   * @param {object} opts
   * @param {string} [opts.topicId]
   * @param {string} [opts.attemptId]  instead of a topic: a module test's proctoring stream (no credit)
   * @param {import('./camera.js').Camera} opts.camera  shared camera (opened on demand)
   * @param {object} opts.on  callbacks, all optional:
   *   connecting(), session(sessionId), open(), status(msg),
   *   reconnecting({delayMs, connectedBefore, why}), ended(reason) — the server ended it,
   *   failed(error) — gave up (error.name === 'CameraError' carries the DOMException in .cause)
   */
  constructor({ topicId, lessonId = null, attemptId, camera, on }) {
    this.topicId = topicId;
    this.lessonId = lessonId;  // lesson mode: credit also needs the lesson playing (sendActivity)
    this.attemptId = attemptId ?? null;
    this.camera = camera;
    this.on = on;
    this.generation = 0;
    this.attempt = 0;
    this.stopped = false;
    this.connectedBefore = false;
    this.pc = null;
    this.channel = null;
    this.sessionId = null;
    this.sessionIds = [];
    this.timers = new Set();
    this.onVisibility = () => this.sendVisibility();
  }

  start() {
    document.addEventListener('visibilitychange', this.onVisibility);
    this.connect();
  }

  /** Student pressed Stop: end the session on the server, then release everything. */
  async stop() {
    if (this.stopped) return;
    const sessionId = this.sessionId;
    this.finish();
    try {
      if (sessionId) await endSession(sessionId, { timeoutMs: END_TIMEOUT_MS });
    } catch {
      // The server also ends sessions whose peer goes away; nothing more to do here.
    } finally {
      this.closePeer();
      this.camera.close();
    }
  }

  /** Page is being unloaded: best-effort end that survives the page (keepalive fetch). */
  abandon() {
    if (this.stopped) return;
    const sessionId = this.sessionId;
    this.finish();
    if (sessionId) endSession(sessionId, { keepalive: true }).catch(() => {});
    this.closePeer();
  }

  get active() {
    return !this.stopped;
  }

  // --- internals -----------------------------------------------------------------

  finish() {
    this.stopped = true;
    this.generation += 1;
    this.clearTimers();
    document.removeEventListener('visibilitychange', this.onVisibility);
  }

  later(fn, ms) {
    const id = setTimeout(() => {
      this.timers.delete(id);
      fn();
    }, ms);
    this.timers.add(id);
    return id;
  }

  clearTimers() {
    for (const id of this.timers) clearTimeout(id);
    this.timers.clear();
    this.graceTimer = null;
  }

  stale(gen) {
    return this.stopped || gen !== this.generation;
  }

  closePeer() {
    const { pc, channel } = this;
    this.pc = null;
    this.channel = null;
    try { channel?.close(); } catch { /* already closed */ }
    try { pc?.close(); } catch { /* already closed */ }
  }

  async connect() {
    const gen = ++this.generation;
    this.on.connecting?.();
    let pc = null;
    try {
      let stream;
      try {
        stream = await this.camera.open();
      } catch (err) {
        throw new CameraError(err);
      }
      const servers = await iceServers();
      if (this.stale(gen)) return;

      pc = new RTCPeerConnection({ iceServers: servers });
      this.pc = pc;
      const track = stream.getVideoTracks()[0];
      // Favour sharp frames over smooth motion: the server needs a clear face, not 30 fps.
      if ('contentHint' in track) track.contentHint = 'detail';
      pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
      // The channel must exist before createOffer so the SDP carries it.
      const channel = pc.createDataChannel('control');
      this.channel = channel;
      this.wire(gen, pc, channel, track);

      await pc.setLocalDescription(await pc.createOffer());
      await iceGathered(pc, ICE_GATHER_TIMEOUT_MS);
      if (this.stale(gen)) return;

      const answer = await api.post('/api/webrtc/offer', {
        sdp: pc.localDescription.sdp,
        type: 'offer',
        ...(this.attemptId ? { attempt_id: this.attemptId } : { topic_id: this.topicId }),
        ...(this.lessonId && !this.attemptId ? { lesson_id: this.lessonId } : {}),
      }, { timeoutMs: OFFER_TIMEOUT_MS });
      if (this.stale(gen)) {
        // Stop was pressed while the offer was in flight: don't leave a session behind.
        if (answer?.session_id) endSession(answer.session_id).catch(() => {});
        return;
      }
      this.sessionId = answer.session_id ?? null;
      if (this.sessionId) {
        this.sessionIds.push(this.sessionId);
        this.on.session?.(this.sessionId);
      }
      await pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp });
      this.openTimer = this.later(() => this.lost(gen, 'the connection did not open'),
        OPEN_TIMEOUT_MS);
    } catch (err) {
      if (this.stale(gen)) {
        try { pc?.close(); } catch { /* ignore */ }
        return;
      }
      this.handleError(err);
    }
  }

  wire(gen, pc, channel, track) {
    channel.addEventListener('open', () => {
      if (this.stale(gen)) return;
      clearTimeout(this.openTimer);
      this.timers.delete(this.openTimer);
      this.connectedBefore = true;
      this.sendVisibility();
      this.send({ type: 'camera', label: track.label || '' }); // the virtual-camera check
      this.on.open?.();
    });
    channel.addEventListener('message', (e) => {
      if (this.stale(gen)) return;
      this.handleMessage(e.data);
    });
    channel.addEventListener('close', () => {
      if (!this.stale(gen)) this.lost(gen, 'the control channel closed');
    });

    const stateOf = () => pc.connectionState ?? pc.iceConnectionState;
    const onPeerState = () => {
      if (this.stale(gen)) return;
      const state = stateOf();
      if (state === 'failed' || state === 'disconnected') {
        // Brief "disconnected" blips recover on their own; only act if it lasts.
        if (!this.graceTimer) {
          this.graceTimer = this.later(() => this.lost(gen, `connection ${state}`),
            DISCONNECT_GRACE_MS);
        }
      } else if (state === 'connected' || state === 'completed') {
        clearTimeout(this.graceTimer);
        this.timers.delete(this.graceTimer);
        this.graceTimer = null;
      } else if (state === 'closed') {
        this.lost(gen, 'connection closed');
      }
    };
    pc.addEventListener('connectionstatechange', onPeerState);
    if (!('connectionState' in pc)) pc.addEventListener('iceconnectionstatechange', onPeerState);

    // Camera unplugged or taken away: start over, which re-opens the camera.
    track.addEventListener('ended', () => {
      if (!this.stale(gen)) this.lost(gen, 'the camera stopped');
    });
  }

  handleMessage(raw) {
    let msg;
    try {
      msg = JSON.parse(raw);
    } catch {
      return; // not ours to interpret
    }
    if (msg?.type === 'status') {
      // A status proves the whole path works; only now is the backoff reset, so a server
      // that accepts and immediately drops us still gets the growing delays.
      this.attempt = 0;
      this.on.status?.(msg);
    } else if (['challenge', 'challenge_result', 'credit_voided'].includes(msg?.type)) {
      this.on.liveness?.(msg); // head-turn checks (docs/liveness.md)
    } else if (msg?.type === 'reconnect') {
      // The server is going away (a rolling update or a scale-down): not an end. Reconnect, to
      // another server behind the load balancer or to this one once it is back.
      this.lost(this.generation, 'the server is restarting');
    } else if (msg?.type === 'ended') {
      // The server ended the run (e.g. "replaced" by another device): never reconnect.
      this.finish();
      this.closePeer();
      this.camera.close();
      this.on.ended?.(typeof msg.reason === 'string' ? msg.reason : '');
    }
  }

  /** Lesson mode: which lesson plays. Sent on every change and as a heartbeat while it plays. */
  sendActivity(lessonId, playing) {
    const channel = this.channel;
    if (!this.lessonId || channel?.readyState !== 'open') return;
    try {
      channel.send(JSON.stringify({ type: 'activity', lesson_id: lessonId, playing }));
    } catch {
      // the close handler will deal with a dead channel
    }
  }

  sendVisibility() {
    this.send({ type: 'visibility', visible: document.visibilityState === 'visible' });
  }

  send(message) {
    const channel = this.channel;
    if (channel?.readyState !== 'open') return;
    try {
      channel.send(JSON.stringify(message));
    } catch {
      // the close handler will deal with a dead channel
    }
  }

  /** The current connection is gone: drop it and try again after the backoff delay. */
  lost(gen, why) {
    if (this.stale(gen)) return;
    this.generation += 1; // silence everything from the dead connection
    this.clearTimers();
    const oldSession = this.sessionId;
    this.sessionId = null;
    this.closePeer();
    // Tidy up on the server so our own reconnect isn't mistaken for a second device.
    if (oldSession) endSession(oldSession, { timeoutMs: END_TIMEOUT_MS }).catch(() => {});
    const delayMs = backoffDelay(this.attempt);
    this.attempt += 1;
    this.on.reconnecting?.({ delayMs, connectedBefore: this.connectedBefore, why });
    this.later(() => this.connect(), delayMs);
  }

  handleError(err) {
    const fatal = err instanceof CameraError || (err instanceof ApiError && !err.retryable);
    if (!fatal) {
      // Network trouble, 5xx, maintenance, or a WebRTC hiccup: keep trying until Stop.
      this.lost(this.generation, err?.message || 'error');
      return;
    }
    const sessionId = this.sessionId;
    this.finish();
    this.closePeer();
    if (sessionId) endSession(sessionId).catch(() => {});
    this.on.failed?.(err);
  }
}
