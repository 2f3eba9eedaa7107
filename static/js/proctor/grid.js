// The grid of live sessions: one tile per session, updated in place (never rebuilt, so focus
// and screen-reader position survive an update), filtered and sorted.
//
// Status is never colour alone: each tile has an icon, the words, and the flag count in text.

import { el, part, setText, show } from '../dom.js';
import { formatClock } from '../format.js';
import { levelOf, ms, plural, statusText, whenText } from './words.js';

const ICON = { verified: '✓', unverified: '!', flagged: '⚑' };
const RANK = { flagged: 0, unverified: 1, verified: 2 };

const byName = (a, b) => String(a.student?.name ?? '').localeCompare(String(b.student?.name ?? ''), undefined,
  { sensitivity: 'base' }) || String(a.student?.srn ?? '').localeCompare(String(b.student?.srn ?? ''));

export const SORTS = {
  attention: (a, b) => (RANK[levelOf(a)] - RANK[levelOf(b)]) || byName(a, b),
  name: byName,
  srn: (a, b) => String(a.student?.srn ?? '').localeCompare(String(b.student?.srn ?? ''), undefined,
    { numeric: true }) || byName(a, b),
  today: (a, b) => ((b.credited_today ?? b.credited_seconds) - (a.credited_today ?? a.credited_seconds))
    || byName(a, b),
  started: (a, b) => ((ms(b.started_at) ?? 0) - (ms(a.started_at) ?? 0)) || byName(a, b),
};

export function matches(session, query) {
  const q = query.trim().toLowerCase();
  if (!q) return true;
  const hay = [session.student?.name, session.student?.srn, session.topic_title, session.topic_id]
    .map((v) => String(v ?? '').toLowerCase());
  return q.split(/\s+/).every((word) => hay.some((h) => h.includes(word)));
}

export class SessionGrid {
  /**
   * @param {HTMLElement} root  the sessions panel: data-part title, count, summary, filter, sort,
   *   error, tiles (the <ul>) and empty
   * @param {import('./store.js').Store} store
   * @param {(sid: string) => void} onOpen
   */
  constructor(root, store, onOpen) {
    this.store = store;
    this.onOpen = onOpen;
    this.root = root;
    this.title = part(root, 'title');
    this.list = part(root, 'tiles');
    this.tiles = new Map(); // session_id → {li, parts}
    this.filter = part(root, 'filter');
    this.sort = part(root, 'sort');
    this.filter.addEventListener('input', () => this.render());
    this.sort.addEventListener('change', () => this.render());
    this.list.addEventListener('click', (e) => {
      const li = e.target.closest('li.tile');
      if (li) this.onOpen(li.dataset.sessionId);
    });
  }

  build(session) {
    const sid = session.session_id;
    const parts = {
      name: el('span', { className: 'tile-name' }),
      srn: el('span', { className: 'tile-srn' }),
      topic: el('span', { className: 'tile-topic' }),
      icon: el('span', { className: 'tile-icon', 'aria-hidden': 'true' }),
      status: el('span', { className: 'tile-status' }),
      session: el('span', { className: 'num' }),
      today: el('span', { className: 'num' }),
      flags: el('span', { className: 'tile-flags' }),
      viewers: el('span', { className: 'tile-viewers' }),
    };
    parts.foot = el('span', { className: 'tile-foot' }, parts.flags, parts.viewers);
    const button = el('button', { type: 'button', className: 'tile-btn', 'aria-haspopup': 'dialog',
      'aria-controls': 'drawer' },
    el('span', { className: 'tile-who' }, parts.name, ' ', parts.srn),
    parts.topic,
    el('span', { className: 'tile-state' }, parts.icon, parts.status),
    el('span', { className: 'tile-figs' },
      el('span', {}, 'Session ', parts.session),
      el('span', {}, 'Today ', parts.today)),
    parts.foot);
    const li = el('li', { id: `tile-${sid}`, className: 'tile', dataset: { sessionId: sid } }, button);
    return { li, parts, button };
  }

  update(tile, s) {
    const { li, parts } = tile;
    const level = levelOf(s);
    li.dataset.level = level;
    setText(parts.name, s.student?.name || 'Unknown student');
    setText(parts.srn, s.student?.srn ?? '');
    setText(parts.topic, s.topic_title || s.topic_id || '');
    setText(parts.icon, ICON[level]);
    setText(parts.status, statusText(s.state, s.reason));
    parts.status.dataset.state = s.state === 'verified' ? 'verified' : 'unverified';
    setText(parts.session, formatClock(s.credited_seconds));
    setText(parts.today, s.credited_today === null ? '…' : formatClock(s.credited_today));
    const n = s.open_flags.length;
    setText(parts.flags, n ? `⚑ ${plural(n, 'open flag')}` : '');
    setText(parts.viewers, s.viewers > 0 ? `${plural(s.viewers, 'proctor')} watching` : '');
    show(parts.foot, n > 0 || s.viewers > 0);
    const started = whenText(s.started_at);
    tile.button.title = started ? `Started ${started}. Open the timeline and live video.` : 'Open the timeline and live video.';
  }

  /** Re-render everything: cheap for tens of tiles, and keeps one code path. */
  render() {
    const sessions = [...this.store.sessions.values()];
    const seen = new Set();
    for (const s of sessions) {
      let tile = this.tiles.get(s.session_id);
      if (!tile) {
        tile = this.build(s);
        this.tiles.set(s.session_id, tile);
      }
      this.update(tile, s);
      seen.add(s.session_id);
    }
    for (const [sid, tile] of this.tiles) {
      if (!seen.has(sid)) {
        tile.li.remove();
        this.tiles.delete(sid);
      }
    }

    const compare = SORTS[this.sort.value] ?? SORTS.attention;
    const query = this.filter.value;
    const ordered = sessions.sort(compare).map((s) => {
      const tile = this.tiles.get(s.session_id);
      show(tile.li, matches(s, query));
      return tile.li;
    });
    const current = [...this.list.children];
    if (ordered.length !== current.length || ordered.some((li, i) => li !== current[i])) {
      // Moving a node drops its focus: put it back, without scrolling the page.
      const active = document.activeElement;
      this.list.append(...ordered);
      if (active && this.list.contains(active) && document.activeElement !== active) {
        active.focus({ preventScroll: true });
      }
    }

    const shown = ordered.filter((li) => !li.hidden).length;
    const empty = part(this.root, 'empty');
    if (!sessions.length) setText(empty, 'No one is studying right now.');
    else setText(empty, `No session matches “${query.trim()}”.`);
    show(empty, shown === 0);

    const counts = { verified: 0, unverified: 0, flagged: 0 };
    for (const s of sessions) counts[levelOf(s)] += 1;
    setText(part(this.root, 'count'), String(sessions.length));
    setText(part(this.root, 'summary'), sessions.length
      ? `${counts.verified} verified · ${counts.unverified} not verified · ${counts.flagged} flagged`
        + (shown !== sessions.length ? ` · showing ${shown}` : '')
      : '');
  }

  /** Why the list could not be loaded ('' once it could). */
  setError(message) {
    setText(part(this.root, 'error'), message);
  }

  buttonFor(sid) {
    return this.tiles.get(String(sid))?.button ?? null;
  }
}
