// Elective choices: one module of each elective set (SPOM's Sets C and D), asked for before the
// topics of those sets are offered. A choice can change until the first credited time in its set.

import { api } from './api.js';
import { el, part, setText, show } from './dom.js';

export class Electives {
  /**
   * @param {HTMLElement} root  the electives card
   * @param {() => void} changed  called after a choice was saved
   */
  constructor(root, changed) {
    this.root = root;
    this.changed = changed;
    this.form = part(root, 'form');
    this.fields = part(root, 'fields');
    this.error = part(root, 'error');
    this.done = part(root, 'done');
    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.save();
    });
  }

  async load() {
    try {
      this.render((await api.get('/api/electives')).sets ?? []);
    } catch (err) {
      setText(this.error, `Couldn't load your electives: ${err.message}`);
    }
  }

  render(sets) {
    this.sets = sets;
    show(this.root, sets.length > 0);
    const rows = sets.map((s) => {
      const id = `elective-${String(s.set).replace(/[^\w-]/g, '_')}`;
      const select = el('select', { id, name: s.set, disabled: Boolean(s.locked) },
        el('option', { value: '', text: 'Choose a module…' }),
        ...s.modules.map((m) => el('option', { value: m.id, text: m.title })));
      select.value = s.module_id ?? '';
      const hint = s.locked ? el('p', { className: 'muted small', text:
        'You already have credited time in this set; ask an admin to change it.' }) : null;
      return el('div', { className: 'field' }, el('label', { for: id, text: `Set ${s.set} elective` }), select, hint);
    });
    this.fields.replaceChildren(...rows);
    const pending = sets.filter((s) => !s.module_id).map((s) => s.set);
    setText(this.done, pending.length ? `Still to choose: Set ${pending.join(' and Set ')}.`
      : 'Your electives are chosen.');
  }

  async save() {
    setText(this.error, '');
    const button = part(this.root, 'save');
    button.disabled = true;
    try {
      for (const s of this.sets ?? []) {
        const value = this.form.elements.namedItem(s.set)?.value ?? '';
        if (value && value !== s.module_id && !s.locked) {
          this.render((await api.post('/api/electives', { set: s.set, module_id: value })).sets ?? []);
        }
      }
      this.changed();
    } catch (err) {
      setText(this.error, err.message);
    } finally {
      button.disabled = false;
    }
  }
}
