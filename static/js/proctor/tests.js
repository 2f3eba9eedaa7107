// Module tests (SPMT) for staff: slots with seats left, bookings, attempts with their flags and
// results, the results CSV, and (admins only) adding and cancelling slots. Built with el()/textContent.

import { api } from '../api.js';
import { el, part, setText, show } from '../dom.js';

const REFRESH_MS = 60000;

function when(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
}

function who(s) {
  return s ? `${s.srn ?? ''} ${s.name ?? ''}`.trim() : '';
}

export class StaffTests {
  /** @param {HTMLElement} root  the panel: data-part error, add-form, slots, bookings, attempts, refresh */
  constructor(root) {
    this.root = root;
    this.timer = null;
    part(root, 'refresh').addEventListener('click', () => this.load());
    part(root, 'add-form').addEventListener('submit', (e) => { e.preventDefault(); this.addSlot(); });
  }

  start(user) {
    show(part(this.root, 'add-form'), user?.role === 'admin');
    this.admin = user?.role === 'admin';
    this.load();
    clearInterval(this.timer);
    this.timer = setInterval(() => this.load(), REFRESH_MS);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
  }

  async load() {
    try {
      const data = await api.get('/api/proctor/spmt');
      this.render(data);
      setText(part(this.root, 'error'), '');
    } catch (err) {
      setText(part(this.root, 'error'), `Couldn't load the module tests: ${err.message}`);
    }
  }

  render(data) {
    part(this.root, 'slots').replaceChildren(...(data.slots ?? []).map((s) => {
      const li = el('li', { text: `#${s.slot_id} ${s.module_id} · ${when(s.start)} · ${s.minutes} min · `
        + `${s.seats_left}/${s.capacity} seats left${s.cancelled ? ' · cancelled' : ''}` });
      if (this.admin && !s.cancelled) {
        const cancel = el('button', { type: 'button', className: 'btn btn-quiet btn-small', text: 'Cancel slot' });
        cancel.addEventListener('click', async () => {
          cancel.disabled = true;
          try {
            await api.post(`/api/proctor/spmt/slots/${s.slot_id}/cancel`);
            await this.load();
          } catch (err) {
            setText(part(this.root, 'error'), err.message);
            cancel.disabled = false;
          }
        });
        li.append(' ', cancel);
      }
      return li;
    }));
    part(this.root, 'bookings').replaceChildren(...(data.bookings ?? []).map((b) => el('li', {
      text: `${who(b.student)} · ${b.module_id} · ${when(b.start)} · ${b.status}`
        + `${b.payment ? ` · payment ${b.payment.status}` : ''}`,
    })));
    part(this.root, 'attempts').replaceChildren(...(data.attempts ?? []).map((a) => el('li', {
      text: `${who(a.student)} · ${a.module_id} · ${when(a.started_at)} · `
        + `${a.score_pct === null ? 'in progress' : `${a.score_pct}% ${a.passed ? 'passed' : 'not passed'}`}`
        + ` · flags ${a.flags.open} open of ${a.flags.total}${a.provisional ? ' · provisional' : ''}`,
    })));
  }

  async addSlot() {
    const form = part(this.root, 'add-form');
    const value = (name) => form.elements.namedItem(name).value;
    const local = new Date(value('start'));
    try {
      if (Number.isNaN(local.getTime())) throw new Error('Choose a start time.');
      await api.post('/api/proctor/spmt/slots', {
        module_id: value('module'), start: local.toISOString(), minutes: Number(value('minutes')),
        capacity: Number(value('capacity')),
      });
      await this.load();
    } catch (err) {
      setText(part(this.root, 'error'), err.message);
    }
  }
}
