// The study panel: the topic's lessons (player or reader) as the main panel, the lesson list with
// completion ticks, previous/next, and the activity reports lesson mode's credit needs.
//
// The player pauses itself when verification fails or the camera is lost, says why, and resumes
// when the student is verified again, but only if it was playing when it paused itself: a student
// who paused on purpose stays paused. Reading lessons are sanitised by the server and parsed here
// with DOMParser, then moved into the page node by node: no innerHTML.

import { api } from './api.js';
import { el, part, setText, show } from './dom.js';
import { REASON_TEXT, formatDuration } from './format.js';

const HEARTBEAT_MS = 10000;  // the server wants a report at least every 15 s while playing
const READING_IDLE_MS = 120000;  // a reader counts as reading for this long after a scroll or key

const ALLOWED = new Set(['P', 'BR', 'HR', 'H2', 'H3', 'H4', 'UL', 'OL', 'LI', 'STRONG', 'EM', 'B', 'I', 'CODE',
  'PRE', 'BLOCKQUOTE', 'TABLE', 'THEAD', 'TBODY', 'TR', 'TH', 'TD', 'A', 'ABBR', 'DL', 'DT', 'DD', 'SUP', 'SUB']);

/** Copy sanitised HTML into fresh elements (a second allowlist, belt and braces). */
function importNodes(source) {
  const out = [];
  for (const node of source.childNodes) {
    if (node.nodeType === Node.TEXT_NODE) {
      out.push(document.createTextNode(node.textContent));
    } else if (node.nodeType === Node.ELEMENT_NODE && ALLOWED.has(node.tagName)) {
      const copy = document.createElement(node.tagName.toLowerCase());
      if (node.tagName === 'A' && /^https?:|^mailto:/.test(node.getAttribute('href') ?? '')) {
        copy.setAttribute('href', node.getAttribute('href'));
        copy.setAttribute('rel', 'noopener noreferrer');
        copy.setAttribute('target', '_blank');
      }
      if (node.tagName === 'TH' && node.getAttribute('scope')) copy.setAttribute('scope', node.getAttribute('scope'));
      copy.append(...importNodes(node));
      out.push(copy);
    } else if (node.nodeType === Node.ELEMENT_NODE) {
      out.push(...importNodes(node));  // unknown wrapper: keep its text
    }
  }
  return out;
}

export class StudyPanel {
  /**
   * @param {HTMLElement} root  the study card
   * @param {object} hooks
   * @param {(lessonId: string, playing: boolean) => void} hooks.activity  report to the server
   */
  constructor(root, hooks) {
    this.root = root;
    this.hooks = hooks;
    this.topic = null;
    this.lessons = [];
    this.index = -1;
    this.autoPaused = false;  // the player paused itself; it resumes when verified
    this.streaming = false;  // only a live session pauses the player on verification
    this.verified = false;
    this.lastReport = null;
    this.lastReading = 0;
    this.title = part(root, 'title');
    this.meta = part(root, 'meta');
    this.player = part(root, 'player');
    this.reader = part(root, 'reader');
    this.why = part(root, 'why');
    this.list = part(root, 'lessons');
    this.prev = part(root, 'prev');
    this.next = part(root, 'next');
    this.prev.addEventListener('click', () => this.select(this.index - 1));
    this.next.addEventListener('click', () => this.select(this.index + 1));
    for (const type of ['play', 'playing', 'pause', 'ended']) {
      this.player.addEventListener(type, () => {
        if (type === 'play' || type === 'playing') {
          this.autoPaused = false;
          if (this.streaming && !this.verified) this.hold(this.reason ?? 'not_started');
        }
        this.report();
      });
    }
    const reading = () => { this.lastReading = Date.now(); this.report(); };
    this.reader.addEventListener('scroll', reading, { passive: true });
    this.reader.addEventListener('keydown', reading);
    this.reader.addEventListener('pointerdown', reading);
    document.addEventListener('visibilitychange', () => this.report());
    setInterval(() => this.report(true), HEARTBEAT_MS);
  }

  get lesson() {
    return this.lessons[this.index] ?? null;
  }

  /** Whether the current lesson is being studied right now (what lesson mode's credit needs). */
  get playing() {
    const lesson = this.lesson;
    if (!lesson || document.visibilityState !== 'visible') return false;
    if (lesson.kind === 'video') return !this.player.paused && !this.player.ended;
    return Date.now() - this.lastReading < READING_IDLE_MS;
  }

  /** Show a topic's lessons (with progress when known); keeps the lesson if it is still there. */
  setTopic(topic, progressLessons = []) {
    const done = new Map(progressLessons.map((l) => [String(l.id), l]));
    const keep = this.topic?.id === topic?.id ? this.lesson?.id : null;
    this.topic = topic;
    this.lessons = (topic?.lessons ?? []).map((l) => ({ ...l, ...(done.get(String(l.id)) ?? {}) }));
    show(this.root, this.lessons.length > 0);
    if (!this.lessons.length) return;
    const at = Math.max(0, this.lessons.findIndex((l) => l.id === keep));
    this.renderList();
    if (keep === null || this.lessons[at]?.id !== keep) this.select(at, false);
  }

  renderList() {
    const items = this.lessons.map((lesson, i) => {
      const tick = lesson.complete ? '✓ ' : '';
      const label = `${tick}${lesson.title} (${lesson.kind === 'video' ? 'video' : 'reading'}, `
        + `${formatDuration(lesson.duration_s)})`;
      const button = el('button', { type: 'button', className: 'lesson-link', text: label,
        'aria-current': i === this.index ? 'true' : 'false' });
      if (lesson.complete) button.setAttribute('aria-label', `${lesson.title}, complete`);
      button.addEventListener('click', () => this.select(i));
      return el('li', { className: lesson.complete ? 'done' : '' }, button);
    });
    this.list.replaceChildren(...items);
  }

  async select(i, focus = true) {
    if (i < 0 || i >= this.lessons.length) return;
    if (this.lesson && this.index !== i) {
      this.player.pause();
      this.sendReport(this.lesson.id, false);
    }
    this.index = i;
    this.autoPaused = false;
    const lesson = this.lesson;
    setText(this.title, lesson.title);
    setText(this.meta, `Lesson ${i + 1} of ${this.lessons.length} · ${formatDuration(lesson.duration_s)}`);
    this.prev.disabled = i === 0;
    this.next.disabled = i === this.lessons.length - 1;
    this.renderList();
    const video = lesson.kind === 'video';
    show(this.player, video);
    show(this.reader, !video);
    if (video) {
      if (this.player.getAttribute('src') !== lesson.url) this.player.setAttribute('src', lesson.url);
    } else {
      this.player.removeAttribute('src');
      this.player.load();
      this.reader.replaceChildren(el('p', { className: 'muted', text: 'Loading…' }));
      try {
        const data = await api.get(lesson.url);
        if (this.lesson !== lesson) return;
        const doc = new DOMParser().parseFromString(data.html ?? '', 'text/html');
        this.reader.replaceChildren(...importNodes(doc.body));
        this.lastReading = Date.now();
      } catch (err) {
        this.reader.replaceChildren(el('p', { className: 'error', text: `Couldn't load the lesson: ${err.message}` }));
      }
    }
    if (focus) this.title.focus();
    this.report();
  }

  /** The student's verification changed (a status message from the server). */
  setVerification(state, reason) {
    if (!this.streaming) return;
    this.verified = state === 'verified';
    this.reason = reason;
    if (!this.verified) {
      if (!this.player.paused && !this.player.ended) this.hold(reason);
      else if (this.autoPaused) setText(this.why, this.whyText(reason));
    } else {
      setText(this.why, '');
      show(this.why, false);
      if (this.autoPaused && this.lesson?.kind === 'video') {
        this.autoPaused = false;
        this.player.play().catch(() => setText(this.why, 'Press play to continue.'));
      }
    }
  }

  /** The camera or the connection is gone: nothing can be verified. */
  lost() {
    this.setVerification('unverified', 'camera_lost');
  }

  /** A session starts: nothing is verified until the server says so. */
  started() {
    this.streaming = true;
    this.verified = false;
    this.reason = 'not_started';
  }

  /** Streaming stopped: no more pausing on the server's behalf. */
  stopped() {
    this.streaming = false;
    this.verified = false;
    this.autoPaused = false;
    setText(this.why, '');
    show(this.why, false);
  }

  whyText(reason) {
    return `Paused: ${REASON_TEXT[reason] ?? 'not verified'}. It resumes when you are verified again.`;
  }

  hold(reason) {
    this.autoPaused = true;
    this.player.pause();
    setText(this.why, this.whyText(reason));
    show(this.why, true);
  }

  report(heartbeat = false) {
    const lesson = this.lesson;
    if (!lesson) return;
    const playing = this.playing;
    const key = `${lesson.id}:${playing}`;
    if (heartbeat ? playing : key !== this.lastReport) this.sendReport(lesson.id, playing);
  }

  sendReport(lessonId, playing) {
    this.lastReport = `${lessonId}:${playing}`;
    this.hooks.activity(lessonId, playing);
  }

  /** A fresh connection: tell the server where we are straight away. */
  resend() {
    if (this.lesson) this.sendReport(this.lesson.id, this.playing);
  }
}
