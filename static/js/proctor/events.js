// The live event stream: WS /api/proctor/events?after=<last id>.
//
// Reconnects with backoff (1 s, 2 s, 4 s … 30 s, with jitter so a room of proctors doesn't
// reconnect in step after a server restart), always asking for the events after the last one
// it saw. A `resync` event means the server could not fill the gap: the owner reloads the
// session list and we reconnect from that list's last_event_id.

import { backoffDelay } from '../stream.js';

const STALE_MS = 90000; // no message and no pong for this long → assume a dead socket

export class EventStream {
  /**
   * @param {object} hooks
   * @param {(ev: object) => void} hooks.onEvent
   * @param {() => Promise<number|null>} hooks.onResync  reloads the list; resolves to its last_event_id
   * @param {(state: string, detail?: object) => void} hooks.onState  "connecting" | "live" | "retrying" | "stopped"
   * @param {() => void} hooks.onRefused  the socket closed without ever opening (maybe logged out)
   */
  constructor(hooks) {
    this.hooks = hooks;
    this.ws = null;
    this.after = null;
    this.attempt = 0;
    this.timer = null;
    this.running = false;
    this.generation = 0;
  }

  start(after) {
    this.stop();
    this.running = true;
    this.after = Number.isFinite(after) ? after : null;
    this.attempt = 0;
    this.connect();
  }

  stop() {
    this.running = false;
    this.generation += 1;
    clearTimeout(this.timer);
    this.timer = null;
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      try { ws.close(1000); } catch { /* already closing */ }
    }
    this.hooks.onState?.('stopped');
  }

  url() {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const query = this.after === null ? '' : `?after=${encodeURIComponent(this.after)}`;
    return `${scheme}//${location.host}/api/proctor/events${query}`;
  }

  connect() {
    if (!this.running) return;
    const gen = ++this.generation;
    this.hooks.onState?.('connecting');
    let ws;
    try {
      ws = new WebSocket(this.url());
    } catch {
      this.retry(gen, false);
      return;
    }
    this.ws = ws;
    let opened = false;
    let resyncing = false;
    let lastHeard = Date.now();
    const watchdog = setInterval(() => {
      if (Date.now() - lastHeard > STALE_MS) ws.close(4000, 'stale');
    }, 15000);

    ws.addEventListener('open', () => {
      if (gen !== this.generation) return;
      opened = true;
      lastHeard = Date.now();
      this.attempt = 0;
      this.hooks.onState?.('live');
    });
    ws.addEventListener('message', (msg) => {
      if (gen !== this.generation) return;
      lastHeard = Date.now();
      let ev;
      try {
        ev = JSON.parse(msg.data);
      } catch {
        return;
      }
      if (!ev || typeof ev !== 'object') return;
      if (ev.type === 'resync') {
        resyncing = true;
        this.resync(gen);
        return;
      }
      const id = Number(ev.id);
      if (Number.isFinite(id)) {
        if (this.after !== null && id <= this.after) return; // already seen
        this.after = id;
        ev.id = id;
      }
      this.hooks.onEvent(ev);
    });
    ws.addEventListener('close', () => {
      clearInterval(watchdog);
      if (gen !== this.generation || resyncing) return;
      this.ws = null;
      this.retry(gen, opened);
    });
    // 'error' is always followed by 'close'; nothing to do here.
  }

  retry(gen, opened) {
    if (!this.running || gen !== this.generation) return;
    if (!opened) this.hooks.onRefused?.();
    const base = backoffDelay(this.attempt);
    this.attempt += 1;
    const delay = Math.round(base * (0.75 + Math.random() * 0.5));
    this.hooks.onState?.('retrying', { delayMs: delay });
    this.timer = setTimeout(() => this.connect(), delay);
  }

  async resync(gen) {
    const ws = this.ws;
    this.ws = null;
    try { ws?.close(1000); } catch { /* the server closes it anyway */ }
    this.hooks.onState?.('connecting');
    try {
      const last = await this.hooks.onResync();
      if (!this.running || gen !== this.generation) return;
      this.after = Number.isFinite(last) ? last : null;
      this.attempt = 0;
      this.connect();
    } catch {
      if (!this.running || gen !== this.generation) return;
      // Couldn't reload the list: try the whole resync again later.
      const delay = backoffDelay(this.attempt);
      this.attempt += 1;
      this.hooks.onState?.('retrying', { delayMs: delay });
      this.timer = setTimeout(() => { if (gen === this.generation) this.resync(gen); }, delay);
    }
  }
}
