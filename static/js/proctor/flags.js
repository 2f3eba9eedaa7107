// The flag feed: open (unreviewed) flags, newest first, with the snapshot and the review buttons.
//
// Items are kept and inserted in place, so the aria-live list announces only new flags.
// Dismiss and Confirm open a small note form inside the item (never window.prompt): dismissing
// needs a reason, and confirming voids the credited time of the flagged span plus one sample
// interval, or, ticked in the form, the whole session's credit. Right after a confirmation the
// done line offers Undo: only the proctor who confirmed can undo, and the flag comes back open.

import { ApiError, api } from '../api.js';
import { el, part, setText, show } from '../dom.js';
import { ACTION_DONE, kindText, studentText, whenText } from './words.js';

const REVIEW_OF = { acknowledge: 'acknowledged', dismiss: 'dismissed', confirm: 'confirmed', undo: 'open' };
let uid = 0;

export function snapshotImage(url, alt) {
  const img = el('img', { className: 'flag-snapshot', src: url, alt, loading: 'lazy', decoding: 'async',
    width: '160', height: '120' });
  img.addEventListener('error', () => {
    // Deleted after 7 days (404), or not readable: say so instead of a broken image.
    const note = el('span', { className: 'snapshot-gone' }, 'Snapshot no longer available');
    (img.closest('a') ?? img).replaceWith(note);
  }, { once: true });
  return img;
}

export class FlagFeed {
  /**
   * @param {HTMLElement} root  the flags panel: data-part title, count, error, done, feed (the <ol>), empty
   * @param {import('./store.js').Store} store
   * @param {{openSession: (sid: string) => void, reload: () => void}} hooks
   */
  constructor(root, store, hooks) {
    this.store = store;
    this.hooks = hooks;
    this.root = root;
    this.list = part(root, 'feed');
    this.items = new Map(); // flag_id → {li, parts}
  }

  build(flag) {
    const id = String(flag.flag_id);
    const base = `flag-${++uid}`;
    const who = el('p', { className: 'flag-who', id: `${base}-who` });
    const kind = el('p', { className: 'flag-kind', id: `${base}-kind` });
    const time = el('p', { className: 'flag-time' });
    const thumb = el('div', { className: 'flag-thumb' });
    const ack = el('button', { type: 'button', className: 'btn btn-small', 'aria-describedby': `${base}-who ${base}-kind` },
      'Acknowledge');
    const dismiss = el('button', { type: 'button', className: 'btn btn-small btn-quiet',
      'aria-describedby': `${base}-who ${base}-kind`, 'aria-expanded': 'false', 'aria-controls': `${base}-form` },
    'Dismiss…');
    const confirm = el('button', { type: 'button', className: 'btn btn-small btn-danger',
      'aria-describedby': `${base}-who ${base}-kind`, 'aria-expanded': 'false', 'aria-controls': `${base}-form` },
    'Confirm…');
    const name = el('strong', { className: 'flag-name' });
    const open = el('button', { type: 'button', className: 'linkish flag-name',
      'aria-describedby': `${base}-kind`, title: 'Open this session' });
    const srn = el('span', { className: 'muted' });
    who.append(name, open, ' ', srn);

    const noteLabel = el('label', { htmlFor: `${base}-note` });
    const note = el('textarea', { id: `${base}-note`, rows: 2, maxLength: 1000, required: true });
    const explain = el('p', { className: 'small flag-explain', id: `${base}-explain` });
    note.setAttribute('aria-describedby', `${base}-explain`);
    const whole = el('input', { type: 'checkbox', id: `${base}-whole` });
    const wholeRow = el('div', { className: 'field check' }, whole,
      el('label', { htmlFor: `${base}-whole` }, 'Void the whole session\u2019s credit, not just this span'));
    const formError = el('p', { className: 'error small', role: 'alert' });
    const submit = el('button', { type: 'submit', className: 'btn btn-small btn-primary' });
    const cancel = el('button', { type: 'button', className: 'btn btn-small btn-quiet' }, 'Cancel');
    const form = el('form', { className: 'flag-note', id: `${base}-form`, hidden: true, noValidate: true },
      explain, el('div', { className: 'field' }, noteLabel, note), wholeRow, formError,
      el('div', { className: 'actions' }, submit, cancel));

    const actions = el('div', { className: 'actions flag-actions' }, ack, dismiss, confirm);
    const li = el('li', { className: 'flag-item', dataset: { flagId: id } },
      el('div', { className: 'flag-body' }, thumb, el('div', { className: 'flag-info' }, who, kind, time)),
      actions, form);

    const parts = { li, who, name, srn, kind, time, thumb, ack, dismiss, confirm, open, form, note, noteLabel, explain,
      whole, wholeRow, formError, submit, cancel, action: null, snapshot: undefined };
    ack.addEventListener('click', () => this.review(id, 'acknowledge', ''));
    dismiss.addEventListener('click', () => this.ask(id, 'dismiss'));
    confirm.addEventListener('click', () => this.ask(id, 'confirm'));
    cancel.addEventListener('click', () => this.closeForm(id, true));
    open.addEventListener('click', () => this.hooks.openSession(li.dataset.sessionId));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const text = note.value.trim();
      if (!text) {
        setText(formError, parts.action === 'dismiss' ? 'Say why you are dismissing this flag.'
          : 'Say why you are confirming this flag.');
        note.focus();
        return;
      }
      this.review(id, parts.action, text, parts.action === 'confirm' && whole.checked ? 'session' : 'flag');
    });
    form.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') {
        e.stopPropagation();
        this.closeForm(id, true);
      }
    });
    return parts;
  }

  update(parts, flag) {
    const student = flag.student ?? this.store.get(flag.session_id)?.student;
    parts.li.dataset.sessionId = String(flag.session_id ?? '');
    parts.li.dataset.kind = String(flag.kind ?? '');
    // The name opens the session's drawer while the session is live on this node.
    const live = Boolean(this.store.get(flag.session_id));
    setText(parts.name, student?.name || 'Unknown student');
    setText(parts.open, student?.name || 'Unknown student');
    show(parts.name, !live);
    show(parts.open, live);
    setText(parts.srn, student?.srn ?? '');
    setText(parts.kind, `⚑ ${kindText(flag.kind)}`);
    const start = whenText(flag.started_at);
    const end = flag.ended_at ? `ended ${whenText(flag.ended_at)}` : 'still going on';
    setText(parts.time, `${start} · ${end}`);

    const url = flag.snapshot_url || null;
    if (url !== parts.snapshot) {
      parts.snapshot = url;
      const alt = `Snapshot of ${studentText(student)} when the flag was raised: ${kindText(flag.kind)}`;
      parts.thumb.replaceChildren(url
        ? el('a', { href: url, target: '_blank', rel: 'noopener', className: 'snapshot-link',
          'aria-label': `${alt} (opens full size in a new tab)` }, snapshotImage(url, alt))
        : el('span', { className: 'snapshot-gone' }, 'No snapshot'));
      parts.thumb.classList.toggle('none', !url);
    }
  }

  render() {
    const flags = this.store.openFlags();
    const seen = new Set();
    let prev = null;
    for (const f of flags) {
      const id = String(f.flag_id);
      seen.add(id);
      let parts = this.items.get(id);
      if (!parts) {
        parts = this.build(f);
        this.items.set(id, parts);
      }
      this.update(parts, f);
      // Keep order without moving nodes that are already in place (moves would re-announce).
      const want = prev ? prev.nextSibling : this.list.firstChild;
      if (want !== parts.li) {
        if (prev) prev.after(parts.li);
        else this.list.prepend(parts.li);
      }
      prev = parts.li;
    }
    for (const [id, parts] of this.items) {
      if (!seen.has(id)) this.removeItem(id, parts);
    }
    setText(this.part('count'), flags.length ? String(flags.length) : '');
    show(this.part('empty'), flags.length === 0);
  }

  part(name) {
    return part(this.root, name);
  }

  /** Why the feed could not be loaded ('' once it could). */
  setError(message) {
    setText(this.part('error'), message);
  }

  removeItem(id, parts) {
    // If focus was inside the item, hand it to the neighbour rather than dropping it on <body>.
    const hadFocus = parts.li.contains(document.activeElement);
    const next = parts.li.nextElementSibling ?? parts.li.previousElementSibling;
    parts.li.remove();
    this.items.delete(id);
    if (hadFocus) (next?.querySelector('button') ?? this.part('title')).focus?.();
  }

  ask(id, action) {
    const parts = this.items.get(id);
    if (!parts) return;
    const flag = this.store.flags.get(id) ?? {};
    parts.action = action;
    setText(parts.formError, '');
    parts.whole.checked = false;
    show(parts.wholeRow, action === 'confirm');
    if (action === 'dismiss') {
      setText(parts.explain, 'Dismissing says the flag was a false alarm. The credited time stays.');
      setText(parts.noteLabel, 'Why dismiss it? (required)');
      setText(parts.submit, 'Dismiss flag');
      parts.submit.className = 'btn btn-small btn-primary';
    } else {
      const span = flag.ended_at
        ? `from ${whenText(flag.started_at)} to ${whenText(flag.ended_at)}`
        : `from ${whenText(flag.started_at)} until the anomaly stops`;
      setText(parts.explain, `Confirming voids the credited time of the flagged span (${span}) and of `
        + 'one sample interval after it. Nothing is deleted: an adjustment is recorded with your note.');
      setText(parts.noteLabel, 'Note for the student (required)');
      setText(parts.submit, 'Confirm and void the time');
      parts.submit.className = 'btn btn-small btn-danger';
    }
    parts.dismiss.setAttribute('aria-expanded', String(action === 'dismiss'));
    parts.confirm.setAttribute('aria-expanded', String(action === 'confirm'));
    show(parts.form, true);
    parts.note.focus();
  }

  closeForm(id, refocus) {
    const parts = this.items.get(id);
    if (!parts) return;
    const was = parts.action;
    parts.action = null;
    parts.note.value = '';
    setText(parts.formError, '');
    show(parts.form, false);
    parts.dismiss.setAttribute('aria-expanded', 'false');
    parts.confirm.setAttribute('aria-expanded', 'false');
    if (refocus) (was === 'confirm' ? parts.confirm : parts.dismiss).focus();
  }

  /** The done line, with an Undo button right after a confirmation. */
  announce(text, undoFlagId) {
    const done = this.part('done');
    done.replaceChildren(text);
    if (undoFlagId === null) return;
    const undo = el('button', { type: 'button', className: 'linkish undo-btn' }, 'Undo');
    undo.addEventListener('click', () => {
      undo.disabled = true;
      this.review(undoFlagId, 'undo', '');
    });
    done.append(' ', undo);
  }

  async review(id, action, note, scope = 'flag') {
    const parts = this.items.get(id);
    const flag = this.store.flags.get(id);
    const buttons = parts ? [parts.ack, parts.dismiss, parts.confirm, parts.submit] : [];
    for (const b of buttons) b.disabled = true;
    setText(this.part('error'), '');
    try {
      const body = { action, ...(note ? { note } : {}), ...(scope === 'session' ? { scope } : {}) };
      const updated = await api.post(`/api/proctor/flags/${encodeURIComponent(id)}/review`, body);
      const who = studentText(updated?.student ?? flag?.student);
      const what = action === 'confirm' && scope === 'session' ? ACTION_DONE.confirm_session : ACTION_DONE[action];
      this.announce(`Flag for ${who} ${what}.`, action === 'confirm' ? id : null);
      this.store.upsertFlag(updated && updated.flag_id !== undefined
        ? { ...flag, ...updated } : { ...flag, review: REVIEW_OF[action] });
    } catch (err) {
      if (err instanceof ApiError && (err.status === 409 || err.status === 404)) {
        // Someone else got there first (or the flag is gone): show the feed as it is now.
        setText(this.part('error'), err.status === 409 ? 'Another proctor has already reviewed that flag.'
          : 'That flag no longer exists.');
        this.hooks.reload?.();
        return;
      }
      const message = err instanceof ApiError ? err.message : 'Something went wrong. Please try again.';
      if (parts && !parts.form.hidden) setText(parts.formError, `Couldn't save: ${message}`);
      else setText(this.part('error'), `Couldn't review the flag: ${message}`);
    } finally {
      for (const b of buttons) b.disabled = false;
    }
  }
}
