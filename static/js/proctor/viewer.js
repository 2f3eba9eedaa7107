// Watching a student's live video: a receive-only RTCPeerConnection, offered to
// POST /api/proctor/sessions/{id}/view once ICE gathering is complete (the server does not
// trickle), closed with DELETE /api/proctor/views/{viewer_id}.

import { ApiError, api } from '../api.js';
import { iceGathered, iceServers } from '../rtc.js';

const ICE_GATHER_TIMEOUT_MS = 5000;
const CONNECT_TIMEOUT_MS = 20000;
const RELEASE_TIMEOUT_MS = 5000;

/** Words for a refused view. */
export function viewErrorText(err) {
  if (err instanceof ApiError) {
    if (err.status === 409 || err.code === 'too_many_viewers') {
      return 'Too many proctors are already watching this student. Try again when someone stops watching.';
    }
    if (err.status === 404) return 'This session is no longer live, so there is no video to watch.';
    return `Couldn't start the video: ${err.message}`;
  }
  return "Couldn't start the video. Check your connection and try again.";
}

export class LiveViewer {
  /**
   * @param {HTMLVideoElement} video
   * @param {(state: string, message?: string) => void} onState
   *   "connecting" | "watching" | "stopped" | "failed" (with a message)
   */
  constructor(video, onState) {
    this.video = video;
    this.onState = onState;
    this.pc = null;
    this.viewerId = null;
    this.sessionId = null;
    this.generation = 0;
    this.timer = null;
  }

  get active() {
    return this.pc !== null;
  }

  async start(sessionId) {
    await this.stop({ quiet: true });
    const gen = ++this.generation;
    this.sessionId = String(sessionId);
    this.onState('connecting');
    let pc;
    try {
      pc = new RTCPeerConnection({ iceServers: await iceServers() });
      if (gen !== this.generation) { pc.close(); return; }
      this.pc = pc;
      pc.addTransceiver('video', { direction: 'recvonly' });
      pc.addEventListener('track', (e) => {
        if (gen !== this.generation) return;
        const stream = e.streams?.[0] ?? new MediaStream([e.track]);
        this.video.srcObject = stream;
        this.video.play?.().catch(() => { /* muted autoplay; a failure here is harmless */ });
      });
      pc.addEventListener('connectionstatechange', () => {
        if (gen !== this.generation) return;
        const s = pc.connectionState;
        if (s === 'connected') {
          clearTimeout(this.timer);
          this.onState('watching');
        } else if (s === 'failed' || s === 'closed') {
          this.fail(gen, 'The video connection was lost. Press “Watch live” to try again.');
        }
      });
      await pc.setLocalDescription(await pc.createOffer());
      await iceGathered(pc, ICE_GATHER_TIMEOUT_MS);
      if (gen !== this.generation) return;
      const answer = await api.post(`/api/proctor/sessions/${encodeURIComponent(sessionId)}/view`,
        { sdp: pc.localDescription.sdp, type: 'offer' });
      if (gen !== this.generation) {
        if (answer?.viewer_id) this.release(answer.viewer_id);
        return;
      }
      this.viewerId = answer?.viewer_id ?? null;
      await pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp });
      this.timer = setTimeout(() => {
        if (gen === this.generation && pc.connectionState !== 'connected') {
          this.fail(gen, "The video didn't connect. Press “Watch live” to try again.");
        }
      }, CONNECT_TIMEOUT_MS);
    } catch (err) {
      if (gen === this.generation) this.fail(gen, viewErrorText(err));
    }
  }

  fail(gen, message) {
    if (gen !== this.generation) return;
    this.stop({ quiet: true }).finally(() => this.onState('failed', message));
  }

  release(viewerId, options) {
    return api.del(`/api/proctor/views/${encodeURIComponent(viewerId)}`, options).catch(() => {
      // Already gone (the session ended, or the server dropped it): nothing to close.
    });
  }

  /**
   * Close the connection and tell the server; `quiet` skips the "stopped" notice, `release: false`
   * skips the DELETE (the session ended: the server has closed its views already).
   */
  async stop({ quiet = false, keepalive = false, release = true } = {}) {
    this.generation += 1;
    clearTimeout(this.timer);
    const pc = this.pc;
    const viewerId = this.viewerId;
    this.pc = null;
    this.viewerId = null;
    this.video.srcObject = null;
    try {
      // Tell the server first: closing our end first would make the server drop the view on its
      // own, and the DELETE would then find nothing to close. A page being left can't wait.
      if (viewerId && release) {
        const done = this.release(viewerId, { keepalive, timeoutMs: RELEASE_TIMEOUT_MS });
        if (!keepalive) await done;
      }
    } finally {
      if (pc) pc.close();
    }
    if (!quiet && pc) this.onState('stopped');
  }
}
