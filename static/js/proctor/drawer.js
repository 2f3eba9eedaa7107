// The session drawer: who, status and figures, the live video, the timeline chart and the
// snapshots of the session's flags. Non-modal, so the flag feed stays usable beside it; Escape
// or "Close" shuts it (and stops the video) and gives focus back to the tile.

import { ApiError, api } from '../api.js';
import { el, part, setText, show } from '../dom.js';
import { formatClock } from '../format.js';
import { snapshotImage } from './flags.js';
import { draw, prepare, summarise } from './timeline.js';
import { LiveViewer } from './viewer.js';
import { clockTime, kindText, reviewText, statusText, studentText, whenText } from './words.js';

const REFRESH_MS = 5000;

export class SessionDrawer {
  /**
   * @param {HTMLElement} root  the drawer
   * @param {import('./store.js').Store} store
   * @param {{returnFocus: (sid: string|null) => HTMLElement|null}} hooks  where focus goes on close
   */
  constructor(root, store, hooks) {
    this.store = store;
    this.hooks = hooks;
    this.node = root;
    this.canvas = part(root, 'timeline');
    this.sessionId = null;
    this.last = null;      // the last session seen (kept after it ends)
    this.prepared = null;  // the last timeline, prepared for drawing
    this.timer = null;
    this.loading = false;
    this.ended = false;
    this.viewer = new LiveViewer(this.part('video'), (state, message) => this.viewState(state, message));

    this.part('close').addEventListener('click', () => this.close());
    this.node.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && !e.defaultPrevented) {
        e.preventDefault();
        this.close();
      }
    });
    this.part('watch').addEventListener('click', () => {
      if (this.sessionId) this.viewer.start(this.sessionId);
    });
    this.part('stop').addEventListener('click', () => this.viewer.stop());
    let width = 0;
    new ResizeObserver(() => {
      const w = this.canvas.clientWidth;
      if (w !== width && this.prepared && !this.node.hidden) {
        width = w;
        draw(this.canvas, this.prepared);
      }
    }).observe(this.canvas);
    store.addEventListener('ended', (e) => {
      if (this.sessionId && e.detail.session_id === this.sessionId) this.markEnded(e.detail.reason);
    });
  }

  part(name) {
    return part(this.node, name);
  }

  get isOpen() {
    return !this.node.hidden;
  }

  open(sessionId) {
    const sid = String(sessionId);
    if (this.sessionId !== sid) {
      this.viewer.stop({ quiet: true });
      this.sessionId = sid;
      this.ended = false;
      this.prepared = null;
      this.last = null;
      this.viewState('idle');
      setText(this.part('tl-error'), '');
      setText(this.part('tl-updated'), '');
      setText(this.part('tl-summary'), '');
      this.canvas.setAttribute('aria-label', 'Timeline loading');
      this.canvas.getContext('2d')?.clearRect(0, 0, this.canvas.width, this.canvas.height);
      this.part('snaps').replaceChildren();
      show(this.part('snaps-empty'), false);
    }
    this.renderHead();
    show(this.node, true);
    document.body.classList.add('drawer-open');
    this.part('title').focus();
    this.load();
    clearInterval(this.timer);
    this.timer = setInterval(() => { if (!this.ended) this.load(); }, REFRESH_MS);
  }

  close() {
    if (!this.isOpen) return;
    const sid = this.sessionId;
    clearInterval(this.timer);
    this.timer = null;
    this.viewer.stop({ quiet: true });
    this.viewState('idle');
    show(this.node, false);
    document.body.classList.remove('drawer-open');
    this.sessionId = null;
    this.hooks.returnFocus(sid)?.focus();
  }

  /** Stop the video without a round of UI updates (logout, page hide). */
  shutdown(options) {
    clearInterval(this.timer);
    return this.viewer.stop({ quiet: true, ...options });
  }

  /** The store changed: refresh the head (status, figures). */
  refresh(ids) {
    if (!this.isOpen || !this.sessionId) return;
    if (ids && ids.size && !ids.has(this.sessionId)) return;
    this.renderHead();
  }

  renderHead() {
    const s = this.store.get(this.sessionId);
    if (s) this.last = s;
    const info = s ?? this.last;
    const student = info?.student;
    setText(this.part('title'), student?.name || studentText(student));
    setText(this.part('sub'), [student?.srn, info?.topic_title || info?.topic_id].filter(Boolean).join(' · '));
    const status = this.part('status');
    if (this.ended || !s) {
      setText(status, statusText('unverified', 'ended'));
      status.dataset.state = 'ended';
    } else {
      setText(status, statusText(s.state, s.reason));
      status.dataset.state = s.open_flags.length ? 'flagged' : (s.state === 'verified' ? 'verified' : 'unverified');
    }
    if (info) {
      setText(this.part('session-time'), formatClock(info.credited_seconds));
      setText(this.part('today-time'), info.credited_today === null ? '…' : formatClock(info.credited_today));
      setText(this.part('started'), whenText(info.started_at));
      setText(this.part('flags'), String(info.open_flags?.length ?? 0));
    }
    const live = Boolean(s) && !this.ended;
    this.part('watch').disabled = !live;
    if (!live && this.viewer.active) this.viewer.stop();
  }

  markEnded(reason) {
    this.ended = true;
    this.viewer.stop({ quiet: true, release: false });
    this.renderHead();
    this.viewState('failed', reason ? `The session ended (${String(reason).replace(/_/g, ' ')}).` : 'The session ended.');
    this.load();
  }

  async load() {
    if (this.loading || !this.sessionId) return;
    const sid = this.sessionId;
    this.loading = true;
    try {
      const data = await api.get(`/api/proctor/sessions/${encodeURIComponent(sid)}/timeline`);
      if (sid !== this.sessionId) return;
      setText(this.part('tl-error'), '');
      this.prepared = prepare(data);
      draw(this.canvas, this.prepared);
      const text = summarise(this.prepared);
      this.canvas.setAttribute('aria-label', `Timeline: ${text}`);
      setText(this.part('tl-summary'), text);
      setText(this.part('tl-updated'), `Updated ${clockTime(new Date())}`);
      this.renderSnaps(this.prepared.flags, data?.session?.student ?? this.last?.student);
      if (data?.session?.ended_at && !this.ended) {
        this.ended = true;
        this.renderHead();
      }
    } catch (err) {
      if (sid !== this.sessionId) return;
      const message = err instanceof ApiError && err.status === 404
        ? 'No timeline for this session.' : `Couldn't load the timeline: ${err.message}`;
      setText(this.part('tl-error'), message);
    } finally {
      this.loading = false;
    }
  }

  renderSnaps(flags, student) {
    const list = this.part('snaps');
    const sig = JSON.stringify(flags.map((f) => [f.flag_id, f.review, f.ended_at, f.snapshot_url]));
    if (list.dataset.sig === sig) return; // unchanged: don't reload the images every 5 s
    list.dataset.sig = sig;
    const items = [...flags].sort((a, b) => b.start - a.start).map((f) => {
      const alt = `Snapshot of ${studentText(student)}: ${kindText(f.kind)} at ${whenText(f.started_at)}`;
      const pic = f.snapshot_url
        ? el('a', { href: f.snapshot_url, target: '_blank', rel: 'noopener', className: 'snapshot-link',
          'aria-label': `${alt} (opens full size in a new tab)` }, snapshotImage(f.snapshot_url, alt))
        : el('span', { className: 'snapshot-gone' }, 'No snapshot');
      const when = f.ended_at ? `${whenText(f.started_at)}–${whenText(f.ended_at)}` : `${whenText(f.started_at)}, still going on`;
      return el('li', { className: 'snap', dataset: { review: String(f.review ?? 'open') } }, pic,
        el('p', { className: 'snap-kind' }, kindText(f.kind)),
        el('p', { className: 'small muted' }, when),
        el('p', { className: 'small snap-review' }, reviewText(f.review ?? 'open')
          + (f.note ? ` — “${f.note}”` : '')));
    });
    list.replaceChildren(...items);
    show(this.part('snaps-empty'), items.length === 0);
  }

  viewState(state, message = '') {
    const watching = state === 'watching' || state === 'connecting';
    const watch = this.part('watch');
    const stop = this.part('stop');
    const hadFocus = document.activeElement === watch || document.activeElement === stop;
    show(watch, !watching);
    show(stop, watching);
    // The button under the keyboard may just have been hidden: hand focus to its partner.
    if (hadFocus) (watching ? stop : watch).focus();
    show(this.part('off'), state !== 'watching');
    setText(this.part('off'), state === 'connecting' ? 'Connecting…' : 'Not watching');
    const texts = {
      idle: '',
      connecting: 'Connecting to the student’s camera…',
      watching: 'Watching live (latest frame only, no sound).',
      stopped: 'Stopped watching.',
    };
    const msg = this.part('live-msg');
    setText(msg, state === 'failed' ? message : texts[state] ?? '');
    msg.classList.toggle('error', state === 'failed');
  }
}
