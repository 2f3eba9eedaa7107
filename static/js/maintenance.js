// The maintenance banner: scheduled windows from GET /api/maintenance, and the 503
// "maintenance" answers any call may get.
//
// An upcoming window is only a notice. An active one (announced by the server, or learnt
// from a 503) also blocks logging in and starting a session: the callback gets the text to
// show, or null once it is over.

import { api, apiEvents } from './api.js';
import { setText, show } from './dom.js';
import { formatWhen, parseTime } from './format.js';

const REFRESH_MS = 5 * 60 * 1000;
const MAX_TIMER_MS = 2 ** 31 - 1; // setTimeout's limit (~24.8 days)

function windowOf(raw) {
  if (!raw || typeof raw !== 'object') return null;
  const start = parseTime(raw.start);
  const end = parseTime(raw.end);
  const message = typeof raw.message === 'string' ? raw.message.trim() : '';
  return { start, end, message };
}

function withMessage(text, message) {
  return message ? `${text}: ${message}` : `${text}.`;
}

/** "The portal is under maintenance until 20 Apr 18:00 (your local time): <message>" */
export function activeText(end, message) {
  const until = end ? ` until ${formatWhen(end)} (your local time)` : '';
  return withMessage(`The portal is under maintenance${until}`, message);
}

/** "Scheduled maintenance from 11 Apr 10:00 to 20 Apr 18:00 (your local time): <message>" */
export function upcomingText(start, end, message) {
  const span = end ? `from ${formatWhen(start)} to ${formatWhen(end)}` : `from ${formatWhen(start)}`;
  return withMessage(`Scheduled maintenance ${span} (your local time)`, message);
}

export class MaintenanceNotice {
  /**
   * @param {HTMLElement} banner  the banner itself (role="alert")
   * @param {(text: string|null) => void} onActive  called when "under maintenance" starts or ends
   */
  constructor(banner, onActive) {
    this.onActive = onActive;
    this.banner = banner;
    this.active = null;    // {end, message} from the server's schedule
    this.upcoming = [];    // [{start, end, message}], soonest first
    this.fromError = null; // {until, message} from a 503 "maintenance"
    this.lastActive = undefined;
    this.refreshTimer = null;
    this.boundaryTimer = null;

    apiEvents.addEventListener('maintenance', (e) => {
      const wait = e.detail?.retryAfter;
      this.fromError = {
        message: e.detail?.message ?? '',
        until: Number.isFinite(wait) && wait > 0 ? new Date(Date.now() + wait * 1000) : null,
      };
      this.render();
      this.refresh(); // the schedule knows the exact end
    });
    apiEvents.addEventListener('ok', (e) => {
      // Any other call answering normally means the server is serving again.
      if (this.fromError && e.detail?.path !== '/api/maintenance') {
        this.fromError = null;
        this.render();
      }
    });
  }

  start() {
    this.refresh();
    setInterval(() => this.refresh(), REFRESH_MS);
  }

  async refresh() {
    let data;
    try {
      data = await api.get('/api/maintenance');
    } catch {
      return; // no schedule (older server, network trouble): keep what we know
    }
    this.active = windowOf(data?.active);
    this.upcoming = (Array.isArray(data?.upcoming) ? data.upcoming : [])
      .map(windowOf)
      .filter((w) => w?.start)
      .sort((a, b) => a.start - b.start);
    // The schedule is the better source: once it says nothing is active, a 503's notice is stale.
    if (!this.active && this.fromError?.until && this.fromError.until <= new Date()) this.fromError = null;
    this.render();
  }

  render() {
    const now = Date.now();
    const active = this.active && !(this.active.end && this.active.end <= now) ? this.active : null;
    if (this.fromError?.until && this.fromError.until <= now) this.fromError = null;
    const next = this.upcoming.find((w) => !w.end || w.end > now);

    let text = '';
    let kind = '';
    if (active) {
      text = activeText(active.end, active.message || this.fromError?.message || '');
      kind = 'active';
    } else if (this.fromError) {
      text = activeText(this.fromError.until, this.fromError.message);
      kind = 'active';
    } else if (next) {
      text = upcomingText(next.start, next.end, next.message);
      kind = 'upcoming';
    }
    setText(this.banner, text);
    this.banner.dataset.kind = kind;
    show(this.banner, Boolean(text));

    const blocking = kind === 'active' ? text : null;
    if (blocking !== this.lastActive) {
      this.lastActive = blocking;
      this.onActive(blocking);
    }
    this.scheduleBoundary(active, next);
  }

  /** Look again just after the next change: an active window ending, an upcoming one starting. */
  scheduleBoundary(active, next) {
    clearTimeout(this.boundaryTimer);
    const times = [active?.end, this.fromError?.until, next?.start, next?.end]
      .filter((t) => t instanceof Date)
      .map((t) => t.getTime() - Date.now())
      .filter((ms) => ms > 0);
    if (!times.length) return;
    const ms = Math.min(Math.min(...times) + 1000, MAX_TIMER_MS);
    this.boundaryTimer = setTimeout(() => {
      this.render();
      this.refresh();
    }, ms);
  }
}
