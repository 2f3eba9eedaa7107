// Pending webcam enrollments: each student's reference photos with Approve / Reject.
// Rejecting removes the photos so the student enrolls again; the optional note says why.

import { ApiError, api } from '../api.js';
import { el, part, setText, show } from '../dom.js';
import { studentText } from './words.js';

const REFRESH_MS = 60000;
let uid = 0;

export class Enrollments {
  /** @param {HTMLElement} root  the panel: data-part title, count, refresh, error, done, list, empty */
  constructor(root) {
    this.root = root;
    this.list = part(root, 'list');
    this.timer = null;
    this.loading = false;
    part(root, 'refresh').addEventListener('click', () => this.load(true));
  }

  part(name) {
    return part(this.root, name);
  }

  start() {
    this.load();
    clearInterval(this.timer);
    this.timer = setInterval(() => this.load(), REFRESH_MS);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
    this.list.replaceChildren();
    this.list.dataset.sig = '';
  }

  async load(announce = false) {
    if (this.loading) return;
    this.loading = true;
    const btn = this.part('refresh');
    btn.disabled = true;
    try {
      const data = await api.get('/api/proctor/enrollments');
      setText(this.part('error'), '');
      this.render(Array.isArray(data?.enrollments) ? data.enrollments : []);
      if (announce) setText(this.part('done'), `${this.list.children.length} waiting for approval.`);
    } catch (err) {
      setText(this.part('error'), `Couldn't load the photos to approve: ${err.message}`);
    } finally {
      this.loading = false;
      btn.disabled = false;
    }
  }

  render(enrollments) {
    // Don't rebuild (and reload every photo, each view audited) when nothing changed.
    const sig = JSON.stringify(enrollments.map((e) => [e.user_id, (e.photos ?? []).map((p) => p.id)]));
    if (this.list.dataset.sig !== sig) {
      this.list.dataset.sig = sig;
      this.list.replaceChildren(...enrollments.map((e) => this.item(e)));
    }
    setText(this.part('count'), enrollments.length ? String(enrollments.length) : '');
    show(this.part('empty'), enrollments.length === 0);
  }

  item(e) {
    const base = `enr-${++uid}`;
    const who = studentText(e);
    const photos = (Array.isArray(e.photos) ? e.photos : []).map((p, i, all) => el('li', {},
      el('a', { href: p.url, target: '_blank', rel: 'noopener',
        'aria-label': `Reference photo ${i + 1} of ${all.length} of ${who} (opens full size in a new tab)` },
      el('img', { className: 'enr-photo', src: p.url, alt: `Reference photo ${i + 1} of ${who}`,
        loading: 'lazy', width: '96', height: '72' }))));
    const approve = el('button', { type: 'button', className: 'btn btn-small btn-primary',
      'aria-describedby': `${base}-who` }, 'Approve');
    const reject = el('button', { type: 'button', className: 'btn btn-small btn-danger',
      'aria-describedby': `${base}-who`, 'aria-expanded': 'false', 'aria-controls': `${base}-form` }, 'Reject…');
    const note = el('input', { type: 'text', id: `${base}-note`, maxLength: 500, autocomplete: 'off' });
    const send = el('button', { type: 'submit', className: 'btn btn-small btn-danger' }, 'Reject photos');
    const cancel = el('button', { type: 'button', className: 'btn btn-small btn-quiet' }, 'Cancel');
    const error = el('p', { className: 'error small', role: 'alert' });
    const form = el('form', { id: `${base}-form`, className: 'enr-form', hidden: true, noValidate: true },
      el('div', { className: 'field' },
        el('label', { htmlFor: `${base}-note` }, 'Reason for the student (optional)'), note),
      el('p', { className: 'small muted' }, 'The photos are removed and the student is asked to take new ones.'),
      el('div', { className: 'actions' }, send, cancel));
    const li = el('li', { className: 'enr-item' },
      el('p', { className: 'enr-who', id: `${base}-who` }, el('strong', {}, e.name || 'Unknown student'), ' ',
        el('span', { className: 'muted' }, e.srn ?? '')),
      photos.length ? el('ul', { className: 'enr-photos', 'aria-label': `Reference photos of ${who}` }, ...photos)
        : el('p', { className: 'muted small' }, 'No photos.'),
      error,
      el('div', { className: 'actions' }, approve, reject),
      form);

    const decide = async (action, text) => {
      for (const b of [approve, reject, send]) b.disabled = true;
      setText(error, '');
      try {
        // An approval names the photos shown here: if the student has sent others since, it fails.
        const photoIds = (Array.isArray(e.photos) ? e.photos : []).map((p) => p.id);
        const body = action === 'approve' ? { action, photo_ids: photoIds } : { action };
        await api.post(`/api/proctor/enrollments/${encodeURIComponent(e.user_id)}`,
          text ? { ...body, note: text } : body);
        const next = li.nextElementSibling ?? li.previousElementSibling;
        const hadFocus = li.contains(document.activeElement);
        li.remove();
        this.list.dataset.sig = '';
        setText(this.part('done'), `${who}: photos ${action === 'approve' ? 'approved' : 'rejected'}.`);
        const left = this.list.children.length;
        setText(this.part('count'), left ? String(left) : '');
        show(this.part('empty'), left === 0);
        if (hadFocus) (next?.querySelector('button') ?? this.part('title')).focus?.();
      } catch (err) {
        setText(error, `Couldn't ${action} the photos: ${err instanceof ApiError ? err.message : 'please try again.'}`);
        for (const b of [approve, reject, send]) b.disabled = false;
      }
    };
    approve.addEventListener('click', () => decide('approve', ''));
    reject.addEventListener('click', () => {
      show(form, true);
      reject.setAttribute('aria-expanded', 'true');
      note.focus();
    });
    cancel.addEventListener('click', () => {
      show(form, false);
      reject.setAttribute('aria-expanded', 'false');
      reject.focus();
    });
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      decide('reject', note.value.trim());
    });
    return li;
  }
}
