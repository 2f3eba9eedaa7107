// The "Tests" view: module tests (SPMT). Eligibility per module, bookable slots, booking and
// payment, the test screen (timer, question navigator, autosave state, webcam status) and results,
// plus every change an admin or proctor made to the student's credit (/api/adjustments).
//
// The test is proctored by the same WebRTC stream as learning time, started with the attempt id
// instead of a topic: the server accepts answers only while that stream is live, so answering is
// enabled once the stream's session exists. Times come from the server in UTC and are shown in
// the student's own time zone. Everything is built with el()/textContent (no innerHTML).

import { api } from './api.js';
import { el, part, setText, show } from './dom.js';
import { formatClock, formatHours } from './format.js';
import { LiveStream } from './stream.js';

const REFRESH_MS = 30000;

function when(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString([], {
    weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', timeZoneName: 'short',
  });
}

function rupees(paise) {
  return `₹${(Number(paise) / 100).toFixed(0)}`;
}

function resultText(a) {
  if (a.score_pct === null || a.score_pct === undefined) return 'In progress';
  const verdict = a.passed ? 'Passed' : 'Not passed';
  const provisional = a.provisional ? ' (provisional: flags await a proctor\'s review)' : '';
  return `${verdict}: ${a.score_pct}% (${a.correct} of ${a.total})${provisional}`;
}

export class TestsView {
  /** @param {HTMLElement} root the Tests card; @param {import('./camera.js').Camera} camera */
  constructor(root, camera) {
    this.root = root;
    this.camera = camera;
    this.data = null;
    this.titles = new Map();
    this.attempt = null;   // the running attempt, with its questions
    this.current = 0;
    this.stream = null;
    this.streamLive = false;
    this.timer = null;
    this.refreshTimer = null;
    part(root, 'submit').addEventListener('click', () => this.submit());
  }

  async enter() {
    await this.refresh();
    clearInterval(this.refreshTimer);
    this.refreshTimer = setInterval(() => { if (!this.attempt) this.refresh().catch(() => {}); }, REFRESH_MS);
  }

  async leave() {
    clearInterval(this.refreshTimer);
    await this.stopStream();
  }

  error(message) {
    setText(part(this.root, 'error'), message);
  }

  async refresh() {
    try {
      const [data, adj] = await Promise.all([api.get('/api/spmt'), api.get('/api/adjustments')]);
      this.data = data;
      for (const m of data.modules ?? []) this.titles.set(m.module_id, m.title ?? m.module_id);
      this.render();
      this.renderAdjustments(adj.adjustments ?? []);
      this.error('');
    } catch (err) {
      this.error(`Couldn't load the tests: ${err.message}`);
    }
  }

  // ---- overview -------------------------------------------------------------------

  render() {
    const list = part(this.root, 'modules');
    const bookings = this.data.bookings ?? [];
    const slots = this.data.slots ?? [];
    list.replaceChildren(...(this.data.modules ?? []).map((m) => {
      const open = bookings.find((b) => b.module_id === m.module_id
        && ['awaiting_payment', 'paid', 'used'].includes(b.status) && !this.finished(b));
      const item = el('li', { className: 'test-module', dataset: { module: m.module_id } },
        el('h3', { text: m.title ?? m.module_id }),
        el('p', { className: 'muted', text: m.eligible
          ? `Eligible: ${formatHours(m.credited_seconds)} credited. Fee ${rupees(m.fee_paise)}.`
          : `Not yet eligible: ${formatHours(m.credited_seconds)} of ${formatHours(m.required_seconds)}.` }));
      if (open) item.append(this.bookingBlock(open, slots.filter((s) => s.module_id === m.module_id)));
      else if (m.eligible) item.append(this.slotPicker(m, slots.filter((s) => s.module_id === m.module_id)));
      if ((m.attempts ?? []).length) {
        item.append(el('ul', { className: 'history' }, ...m.attempts.map((a) => el('li', {
          text: `${when(a.started_at)}: ${resultText(a)}`,
        }))));
      }
      return item;
    }));
  }

  finished(b) {
    const attempt = (this.data.modules ?? []).flatMap((m) => m.attempts ?? [])
      .find((a) => a.attempt_id === b.attempt_id);
    return Boolean(attempt && attempt.submitted_at);
  }

  slotPicker(m, slots) {
    if (!slots.length) return el('p', { className: 'muted', text: 'No slots are open for booking yet.' });
    const select = el('select', { 'aria-label': `Slot for ${m.title}`, dataset: { part: 'slot' } },
      ...slots.map((s) => el('option', { value: String(s.slot_id), disabled: s.seats_left <= 0,
        text: `${when(s.start)} · ${s.minutes} min · ${s.seats_left} seats left` })));
    const book = el('button', { type: 'button', className: 'btn btn-primary', text: 'Book',
      dataset: { action: 'book' } });
    book.addEventListener('click', () => this.act(book, async () => {
      await api.post('/api/spmt/bookings', { module_id: m.module_id, slot_id: Number(select.value) });
    }));
    return el('div', { className: 'actions' }, select, book);
  }

  bookingBlock(b, slots = []) {
    const block = el('div', { className: 'booking' },
      el('p', { text: `Booked: ${when(b.start)} for ${b.minutes} min — ${b.status.replace('_', ' ')}` }));
    const actions = el('div', { className: 'actions' });
    if (b.status === 'awaiting_payment' && b.payment) {
      const pay = el('button', { type: 'button', className: 'btn btn-primary', dataset: { action: 'pay' },
        text: `Pay ${rupees(b.payment.amount_paise)}` });
      pay.addEventListener('click', () => this.act(pay, async () => {
        if (b.payment.provider !== 'test') throw new Error('Pay through the gateway; this page updates when it confirms.');
        await api.post(`/api/payments/${encodeURIComponent(b.payment.order_id)}/test-pay`);
      }));
      actions.append(pay);
    }
    if (b.status === 'paid' || b.status === 'used') {
      const start = el('button', { type: 'button', className: 'btn btn-primary', dataset: { action: 'start' },
        text: b.status === 'used' ? 'Resume the test' : 'Start the test' });
      start.addEventListener('click', () => this.act(start, () => this.startAttempt(b)));
      actions.append(start);
    }
    if (b.payment?.status === 'paid' || b.payment?.status === 'refunded') {
      actions.append(el('a', { href: b.payment.receipt_url, text: 'Receipt', target: '_blank', rel: 'noopener' }));
    }
    if (b.status === 'awaiting_payment' || b.status === 'paid') {
      const cancel = el('button', { type: 'button', className: 'btn btn-quiet', text: 'Cancel booking' });
      cancel.addEventListener('click', () => this.act(cancel, async () => {
        await api.post(`/api/spmt/bookings/${encodeURIComponent(b.booking_id)}/cancel`);
      }));
      actions.append(cancel);
      // Another slot of the same module, before the cut-off (the server refuses after it, and says so).
      const others = slots.filter((s) => s.slot_id !== b.slot_id && s.seats_left > 0);
      if (others.length) {
        const select = el('select', { 'aria-label': 'Move the booking to another slot', dataset: { part: 'move-slot' } },
          ...others.map((s) => el('option', { value: String(s.slot_id),
            text: `${when(s.start)} · ${s.minutes} min · ${s.seats_left} seats left` })));
        const move = el('button', { type: 'button', className: 'btn btn-quiet', text: 'Reschedule',
          dataset: { action: 'reschedule' } });
        move.addEventListener('click', () => this.act(move, async () => {
          await api.post(`/api/spmt/bookings/${encodeURIComponent(b.booking_id)}/reschedule`,
            { slot_id: Number(select.value) });
        }));
        actions.append(select, move);
      }
    }
    block.append(actions);
    return block;
  }

  async act(button, fn) {
    button.disabled = true;
    try {
      await fn();
      this.error('');
      if (!this.attempt) await this.refresh();
    } catch (err) {
      this.error(err.message);
    } finally {
      button.disabled = false;
    }
  }

  renderAdjustments(items) {
    const list = part(this.root, 'adjustments');
    show(part(this.root, 'adjustments-box'), items.length > 0);
    list.replaceChildren(...items.map((a) => {
      const hours = (Number(a.delta_seconds) / 3600).toFixed(2);
      const sign = Number(a.delta_seconds) >= 0 ? '+' : '';
      const what = this.titles.get(a.module_id) ?? a.module_id ?? '';
      const kind = a.kind === 'voided' ? 'Voided by a proctor' : 'Adjusted by an administrator';
      return el('li', { text: `${new Date(Number(a.at) * 1000).toLocaleDateString()} · ${what} · ${sign}${hours} h · `
        + `${kind}${a.note ? `: ${a.note}` : ''}` });
    }));
  }

  // ---- the test screen -------------------------------------------------------------

  async startAttempt(booking) {
    const attempt = await api.post(`/api/spmt/bookings/${encodeURIComponent(booking.booking_id)}/attempt`);
    this.attempt = attempt;
    this.current = 0;
    show(part(this.root, 'overview'), false);
    show(part(this.root, 'screen'), true);
    show(part(this.root, 'result'), false);
    setText(part(this.root, 'screen-title'), this.titles.get(attempt.module_id) ?? 'Module test');
    this.setSaveState('Answers save as you choose them.');
    this.renderNavigator();
    this.renderQuestion();
    this.tick();
    clearInterval(this.timer);
    this.timer = setInterval(() => this.tick(), 1000);
    this.startStream(attempt.attempt_id);
  }

  startStream(attemptId) {
    this.setWebcam('Connecting the webcam…', 'unverified');
    this.streamLive = false;
    this.stream = new LiveStream({
      attemptId, camera: this.camera, on: {
        session: () => { this.streamLive = true; this.renderQuestion(); },
        status: (msg) => this.setWebcam(msg.state === 'verified' ? 'Webcam: verified' : `Webcam: ${msg.reason ?? msg.state}`,
          msg.state),
        reconnecting: () => { this.streamLive = false; this.setWebcam('Webcam: reconnecting…', 'unverified'); this.renderQuestion(); },
        ended: () => { this.streamLive = false; this.setWebcam('Webcam: the proctoring stream ended', 'unverified'); },
        failed: (err) => { this.streamLive = false; this.setWebcam(`Webcam: ${err.message}`, 'unverified'); this.renderQuestion(); },
      },
    });
    this.stream.start();
  }

  async stopStream() {
    clearInterval(this.timer);
    const stream = this.stream;
    this.stream = null;
    this.streamLive = false;
    if (stream) await stream.stop().catch(() => {});
  }

  setWebcam(text, state) {
    const node = part(this.root, 'webcam');
    setText(node, text);
    node.dataset.state = state;
  }

  setSaveState(text) {
    setText(part(this.root, 'save-state'), text);
  }

  tick() {
    if (!this.attempt) return;
    const left = Math.max(0, (new Date(this.attempt.ends_at).getTime() - Date.now()) / 1000);
    setText(part(this.root, 'timer'), formatClock(left));
    if (left <= 0) this.submit();
  }

  renderNavigator() {
    const nav = part(this.root, 'navigator');
    nav.replaceChildren(...this.attempt.questions.map((q, i) => {
      const b = el('button', { type: 'button', className: 'nav-q', text: String(i + 1),
        'aria-label': `Question ${i + 1}${q.choice !== null && q.choice !== undefined ? ', answered' : ''}`,
        dataset: { answered: String(q.choice !== null && q.choice !== undefined), current: String(i === this.current) } });
      b.addEventListener('click', () => { this.current = i; this.renderNavigator(); this.renderQuestion(); });
      return b;
    }));
  }

  renderQuestion() {
    if (!this.attempt) return;
    const q = this.attempt.questions[this.current];
    setText(part(this.root, 'q-number'), `Question ${this.current + 1} of ${this.attempt.questions.length}`);
    setText(part(this.root, 'q-text'), q.text);
    const name = `q-${q.question_id}`;
    part(this.root, 'choices').replaceChildren(...q.choices.map((c, i) => {
      const id = `${name}-${i}`;
      const input = el('input', { type: 'radio', name, id, value: String(i), checked: q.choice === i,
        disabled: !this.streamLive });
      input.addEventListener('change', () => this.answer(q, i));
      return el('li', {}, input, el('label', { for: id, text: c }));
    }));
    show(part(this.root, 'wait-camera'), !this.streamLive);
  }

  async answer(q, choice) {
    this.setSaveState('Saving…');
    try {
      await api.put(`/api/spmt/attempts/${encodeURIComponent(this.attempt.attempt_id)}/answers/${q.question_id}`,
        { choice });
      q.choice = choice;
      this.setSaveState(`Saved at ${new Date().toLocaleTimeString()}`);
      this.renderNavigator();
    } catch (err) {
      this.setSaveState(`Not saved: ${err.message}`);
    }
  }

  async submit() {
    if (!this.attempt || this.submitting) return;
    this.submitting = true;
    const attemptId = this.attempt.attempt_id;
    try {
      const result = await api.post(`/api/spmt/attempts/${encodeURIComponent(attemptId)}/submit`);
      this.attempt = null;
      await this.stopStream();
      show(part(this.root, 'screen'), false);
      show(part(this.root, 'overview'), true);
      const box = part(this.root, 'result');
      setText(box, resultText(result));
      box.dataset.passed = String(Boolean(result.passed));
      show(box, true);
      await this.refresh();
    } catch (err) {
      this.setSaveState(`Couldn't submit: ${err.message}`);
    } finally {
      this.submitting = false;
    }
  }
}
