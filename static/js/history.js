// History: the last 14 days of confirmed credit as an inline SVG bar chart (with a table as its text
// alternative), and the sessions with their dates.

import { api } from './api.js';
import { el, part, setText, show } from './dom.js';
import { formatDuration } from './format.js';

const SVG = 'http://www.w3.org/2000/svg';
const DAYS = 14;
const W = 28;  // one bar's slot
const H = 120;

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  node.append(...children);
  return node;
}

function dayLabel(iso) {
  const [y, m, d] = iso.split('-').map(Number);
  return new Date(y, m - 1, d).toLocaleDateString([], { day: 'numeric', month: 'short' });
}

export class History {
  constructor(root, topicTitle) {
    this.chart = part(root, 'chart');
    this.table = part(root, 'table');
    this.sessions = part(root, 'sessions');
    this.error = part(root, 'error');
    this.topicTitle = topicTitle;
    this.tz = part(root, 'tz');
    this.tzButton = part(root, 'tz-btn');
    this.tzWanted = null; // what the button sets: this device's zone, or null for the course's
    this.tzButton.addEventListener('click', () => this.setZone(this.tzWanted));
  }

  /** Days are counted in the student's own zone, else the course's; offer this device's zone. */
  showZone(data) {
    const device = Intl.DateTimeFormat().resolvedOptions().timeZone || null;
    setText(this.tz, `Days are counted in ${data.time_zone}${data.own_time_zone ? ' (your choice)' : ''}.`);
    this.tzWanted = device && device !== data.time_zone ? device : (data.own_time_zone ? null : undefined);
    show(this.tzButton, this.tzWanted !== undefined);
    setText(this.tzButton, this.tzWanted ? `Use this device's time zone (${this.tzWanted})`
      : 'Use the course\u2019s time zone');
  }

  async setZone(zone) {
    this.tzButton.disabled = true;
    try {
      await api.put('/api/me/time-zone', { time_zone: zone ?? null });
      await this.load();
    } catch (err) {
      setText(this.error, `Couldn't change the time zone: ${err.message}`);
    } finally {
      this.tzButton.disabled = false;
    }
  }

  async load() {
    try {
      this.render(await api.get(`/api/history?days=${DAYS}`));
      setText(this.error, '');
    } catch (err) {
      setText(this.error, `Couldn't load your history: ${err.message}`);
    }
  }

  render(data) {
    this.showZone(data);
    const days = data.days ?? [];
    const max = Math.max(60, ...days.map((d) => d.credited_seconds));
    const total = days.reduce((a, d) => a + d.credited_seconds, 0);
    const bars = days.map((d, i) => {
      const h = Math.round((d.credited_seconds / max) * (H - 20));
      const text = `${dayLabel(d.date)}: ${formatDuration(d.credited_seconds)}`;
      return svg('g', {}, svg('title', {}, text),
        svg('rect', { x: i * W + 4, y: H - 16 - h, width: W - 8, height: Math.max(h, 1), class: 'bar' }),
        svg('text', { x: i * W + W / 2, y: H - 2, 'text-anchor': 'middle', class: 'bar-label' },
          String(Number(d.date.slice(8)))));
    });
    const chart = svg('svg', { viewBox: `0 0 ${days.length * W} ${H}`, role: 'img', class: 'history-chart',
      'aria-label': `Credited time per day, last ${days.length} days: ${formatDuration(total)} in all` }, ...bars);
    this.chart.replaceChildren(chart);
    this.table.replaceChildren(
      el('caption', { text: 'Credited time per day' }),
      el('thead', {}, el('tr', {}, el('th', { scope: 'col', text: 'Day' }), el('th', { scope: 'col', text: 'Credited' }))),
      el('tbody', {}, ...days.map((d) => el('tr', {},
        el('th', { scope: 'row', text: dayLabel(d.date) }), el('td', { text: formatDuration(d.credited_seconds) })))));
    const items = (data.sessions ?? []).slice(0, 20).map((s) => {
      const when = new Date(s.started_at * 1000).toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' });
      return el('li', {}, el('strong', { text: when }),
        ` · ${this.topicTitle(s.topic_id)} · ${formatDuration(s.credited_seconds)} credited`
        + ` · ${s.samples?.verified ?? 0} of ${s.samples?.total ?? 0} checks verified`);
    });
    this.sessions.replaceChildren(...(items.length ? items : [el('li', { className: 'muted', text: 'No sessions yet.' })]));
  }
}
