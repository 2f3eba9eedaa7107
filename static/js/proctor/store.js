// What the dashboard knows: the live sessions on this node and the open (unreviewed) flags.
//
// Filled from GET /api/proctor/sessions and GET /api/proctor/flags?status=open, then kept up to
// date by the event stream. Every event is applied idempotently (absolute values, flags keyed by
// id), so an event seen twice — replayed after a reconnect or a list reload — changes nothing.
//
// Dispatches "change" with detail {sessions: bool, flags: bool, ids: Set<session_id>} (batched
// to one per animation frame) and "ended" with detail {session_id, reason}.

import { ms } from './words.js';

const RECENT_MAX = 500; // events kept to re-apply on top of a list fetched while they arrived

function num(v, fallback = 0) {
  const n = Number(v);
  return Number.isFinite(n) ? n : fallback;
}

function flagSummary(flag) {
  return {
    flag_id: flag.flag_id, kind: flag.kind, started_at: flag.started_at,
    snapshot_url: flag.snapshot_url ?? null,
  };
}

export class Store extends EventTarget {
  constructor() {
    super();
    /** session_id → session (the contract's shape; credited_today may be null = unknown) */
    this.sessions = new Map();
    /** flag_id → Flag, open (unreviewed) flags only */
    this.flags = new Map();
    /** topic_id → title, from /api/catalog, for sessions announced by an event */
    this.topics = new Map();
    this.recent = [];
    this.pending = null;
  }

  setTopics(modules) {
    for (const m of Array.isArray(modules) ? modules : []) {
      for (const t of Array.isArray(m?.topics) ? m.topics : []) {
        if (t?.id !== undefined) this.topics.set(String(t.id), String(t.title ?? ''));
      }
    }
  }

  // ---- notifications ---------------------------------------------------------------

  changed(part, id) {
    if (!this.pending) {
      this.pending = { sessions: false, flags: false, ids: new Set() };
      const flush = () => {
        const detail = this.pending;
        this.pending = null;
        this.dispatchEvent(new CustomEvent('change', { detail }));
      };
      // A hidden tab gets no animation frames: fall back to a timer so state never goes stale.
      if (document.visibilityState === 'visible') requestAnimationFrame(flush);
      else setTimeout(flush, 0);
    }
    this.pending[part] = true;
    if (id !== undefined && id !== null) this.pending.ids.add(String(id));
  }

  // ---- snapshots from the HTTP API ----------------------------------------------------

  /** Replace the session list; events newer than the list that already arrived are re-applied. */
  loadSessions(data) {
    const list = Array.isArray(data?.sessions) ? data.sessions : [];
    this.sessions = new Map();
    for (const raw of list) {
      if (!raw || raw.session_id === undefined) continue;
      const s = this.normalise(raw);
      this.sessions.set(s.session_id, s);
    }
    const last = num(data?.last_event_id, NaN);
    if (Number.isFinite(last)) {
      for (const ev of this.recent) if (ev.id > last) this.apply(ev, { remember: false });
    }
    this.changed('sessions');
    this.changed('flags');
    return Number.isFinite(last) ? last : null;
  }

  normalise(raw) {
    const s = { ...raw, session_id: String(raw.session_id) };
    s.student = raw.student ?? {};
    s.open_flags = Array.isArray(raw.open_flags) ? raw.open_flags.map(flagSummary) : [];
    s.credited_seconds = num(raw.credited_seconds);
    s.credited_today = raw.credited_today === null || raw.credited_today === undefined
      ? null : num(raw.credited_today);
    s.viewers = num(raw.viewers);
    s.topic_title = raw.topic_title || this.topics.get(String(raw.topic_id)) || '';
    return s;
  }

  /** Replace the open flags (GET /api/proctor/flags?status=open). */
  loadFlags(data) {
    this.flags = new Map();
    for (const f of Array.isArray(data?.flags) ? data.flags : []) {
      if (f && f.flag_id !== undefined && (f.review ?? 'open') === 'open') this.flags.set(String(f.flag_id), f);
    }
    this.changed('flags');
  }

  // ---- events -----------------------------------------------------------------------

  /** Apply one event from the stream. Returns true when it was understood. */
  apply(ev, { remember = true } = {}) {
    if (!ev || typeof ev !== 'object') return false;
    if (remember && Number.isFinite(ev.id)) {
      this.recent.push(ev);
      if (this.recent.length > RECENT_MAX) this.recent.splice(0, this.recent.length - RECENT_MAX);
    }
    const sid = ev.session_id === undefined || ev.session_id === null ? null : String(ev.session_id);
    const s = sid === null ? undefined : this.sessions.get(sid);
    switch (ev.type) {
      case 'session_started': {
        if (!s) {
          this.sessions.set(sid, this.normalise({
            session_id: sid, student: ev.student, topic_id: ev.topic_id, module_id: ev.module_id,
            state: 'unverified', reason: 'not_started', started_at: ev.at, credited_seconds: 0,
            credited_today: null, open_flags: [], viewers: 0,
          }));
          this.changed('sessions', sid);
        }
        return true;
      }
      case 'session_ended': {
        if (s) {
          this.sessions.delete(sid);
          this.changed('sessions', sid);
        }
        this.dispatchEvent(new CustomEvent('ended', { detail: { session_id: sid, reason: ev.reason } }));
        return true;
      }
      case 'state_changed': {
        if (s) {
          s.state = ev.state;
          s.reason = ev.reason;
          this.changed('sessions', sid);
        }
        return true;
      }
      case 'credited': {
        if (s) {
          const now = num(ev.credited_seconds, s.credited_seconds);
          const delta = now - s.credited_seconds;
          if (delta > 0) {
            s.credited_seconds = now;
            if (s.credited_today !== null) s.credited_today += delta;
            this.changed('sessions', sid);
          }
        }
        return true;
      }
      case 'flag_raised': {
        if (ev.flag) this.upsertFlag({ session_id: sid, student: ev.student, ...ev.flag });
        return true;
      }
      case 'flag_resolved': {
        const f = this.flags.get(String(ev.flag_id));
        if (f) {
          f.ended_at = ev.ended_at ?? ev.at;
          this.changed('flags', f.session_id);
        }
        return true;
      }
      case 'flag_reviewed': {
        if (ev.flag) this.upsertFlag(ev.flag);
        return true;
      }
      default:
        return false;
    }
  }

  /** A flag raised or updated (an event, or the answer to our own review). */
  upsertFlag(flag) {
    if (!flag || flag.flag_id === undefined) return;
    const id = String(flag.flag_id);
    const sid = flag.session_id === undefined || flag.session_id === null ? null : String(flag.session_id);
    const open = (flag.review ?? 'open') === 'open';
    const known = this.flags.get(id);
    if (open) this.flags.set(id, { ...known, ...flag });
    else this.flags.delete(id);
    if (open || known) this.changed('flags', sid);

    const s = sid === null ? undefined : this.sessions.get(sid);
    if (!s) return;
    const had = s.open_flags.findIndex((f) => String(f.flag_id) === id);
    if (open && had < 0) s.open_flags.push(flagSummary(flag));
    else if (!open && had >= 0) s.open_flags.splice(had, 1);
    else return;
    this.changed('sessions', sid);
  }

  // ---- views ------------------------------------------------------------------------

  get(sessionId) {
    return this.sessions.get(String(sessionId));
  }

  /** Open flags, newest first. */
  openFlags() {
    const t = (f) => ms(f.started_at) ?? 0;
    return [...this.flags.values()].sort((a, b) => (t(b) - t(a))
      || String(b.flag_id).localeCompare(String(a.flag_id), undefined, { numeric: true }));
  }
}
