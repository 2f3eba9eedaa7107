// The session card: topic picker, Start/Stop, and the live verification status.
//
// Figures shown here are only ever the server's: the credited clock moves when a status
// message arrives and never runs ahead of it, because time that isn't verified isn't
// credited and the student must not be shown time they may not get.

import { api } from './api.js';
import { part, setText, show } from './dom.js';
import { REASON_TEXT, formatClock, formatHoursOf, moduleLabel, statusText } from './format.js';
import { fillTopicPicker, moduleOfTopic } from './progress.js';
import { LiveStream } from './stream.js';
import { explainCameraError } from './camera.js';
import { ChallengePrompt } from './challenge.js';

const PROGRESS_REFRESH_MS = 30000;
const LAST_TOPIC_KEY = 'proctor.lastTopic';

const ENDED_TEXT = {
  replaced: 'This session was ended because you started streaming elsewhere.',
};

function endedText(reason) {
  return ENDED_TEXT[reason] ?? 'The server ended this session. Press Start to begin a new one.';
}

function flagName(flag) {
  const kind = typeof flag === 'string' ? flag : flag?.kind ?? flag?.reason;
  return REASON_TEXT[kind] ?? String(kind ?? 'flag');
}

function rememberedTopic() {
  try {
    return localStorage.getItem(LAST_TOPIC_KEY);
  } catch {
    return null; // storage may be disabled
  }
}

export class LiveController {
  /**
   * @param {HTMLElement} root  the session card
   * @param {import('./camera.js').Camera} camera
   * @param {object} hooks
   * @param {() => object[]} hooks.modules       latest module list (catalog merged with progress)
   * @param {() => Promise<void>} hooks.refresh  reload the progress dashboard
   * @param {import('./study.js').StudyPanel} [hooks.study]  the lesson panel (lesson mode), if any
   */
  constructor(root, camera, hooks) {
    this.camera = camera;
    this.hooks = hooks;
    this.stream = null;
    this.enrollment = 'none';
    this.maintenance = null; // text while the portal is under maintenance
    this.topic = part(root, 'topic');
    this.startBtn = part(root, 'start');
    this.stopBtn = part(root, 'stop');
    this.hint = part(root, 'hint');
    this.panel = part(root, 'live');
    this.liveTopic = part(root, 'live-topic');
    this.status = part(root, 'status');
    this.credited = part(root, 'credited');
    this.provisionalRow = part(root, 'provisional-row');
    this.provisional = part(root, 'provisional');
    this.voided = part(root, 'voided');
    this.challenge = new ChallengePrompt(root);
    this.progress = part(root, 'module-progress');
    this.progressText = part(root, 'module-progress-text');
    this.notice = part(root, 'notice');
    this.summary = part(root, 'summary');

    part(root, 'start-form').addEventListener('submit', (e) => {
      e.preventDefault();
      this.start();
    });
    this.stopBtn.addEventListener('click', () => this.stop());
    this.topic.addEventListener('change', () => {
      this.renderControls();
      this.hooks.topicChanged?.(this.topic.value);
    });
    // Leaving the page mid-session: tell the server right away rather than letting
    // it wait for the connection to time out.
    window.addEventListener('pagehide', () => this.stream?.abandon());
  }

  get streaming() {
    return Boolean(this.stream?.active);
  }

  /** The topic picker's choices (the remembered topic stays chosen if it is still offered). */
  setTopics(modules) {
    fillTopicPicker(this.topic, modules, rememberedTopic());
    this.renderControls();
    this.hooks.topicChanged?.(this.topic.value);
  }

  setEnrollment(enrollment) {
    this.enrollment = enrollment;
    this.renderControls();
  }

  /** While the portal is under maintenance no new session can start; null lifts that. */
  setMaintenance(text) {
    this.maintenance = text || null;
    this.renderControls();
  }

  renderControls() {
    const busy = this.streaming;
    const approved = this.enrollment === 'approved';
    this.topic.disabled = busy;
    this.startBtn.disabled = busy || !approved || !this.topic.value || Boolean(this.maintenance);
    show(this.stopBtn, busy);
    if (this.maintenance && !busy) {
      setText(this.hint, this.maintenance);
    } else if (!approved) {
      setText(this.hint, this.enrollment === 'pending'
        ? 'You can start once a proctor has approved your photos.'
        : 'Set up your profile photos first.');
    } else {
      setText(this.hint, busy ? '' : this.topic.value ? '' : 'Choose a topic to start.');
    }
    show(this.hint, Boolean(this.hint.textContent));
  }

  setStatus(text, state) {
    setText(this.status, text);
    this.status.dataset.state = state;
  }

  setModuleProgress(done, required) {
    const req = Math.max(Number(required) || 0, 0);
    const value = Math.max(Number(done) || 0, this.moduleDone ?? 0); // never step backwards
    this.moduleDone = value;
    this.progress.max = Math.max(req, 1);
    this.progress.value = Math.min(value, Math.max(req, 1));
    setText(this.progressText, formatHoursOf(value, req));
  }

  showCredited() {
    setText(this.credited, formatClock(this.carried + this.sessionCredited));
  }

  start() {
    if (this.streaming || this.enrollment !== 'approved' || this.maintenance) return;
    const topicId = this.topic.value;
    if (!topicId) {
      this.renderControls();
      this.topic.focus();
      return;
    }
    try {
      localStorage.setItem(LAST_TOPIC_KEY, topicId);
    } catch { /* storage may be disabled */ }

    const modules = this.hooks.modules();
    const module = moduleOfTopic(modules, topicId);
    const topic = module?.topics?.find((t) => String(t.id) === topicId);
    setText(this.liveTopic, topic ? `${topic.title} — ${moduleLabel(module)}` : '');
    this.moduleDone = 0;
    this.setModuleProgress(module?.credited_seconds ?? 0, module?.required_seconds ?? 0);
    // One run may span several server sessions (one per reconnect): the clock shows the
    // sum of the last figure each of them reported.
    this.carried = 0;
    this.sessionCredited = 0;
    this.showCredited();
    this.setStatus('Connecting…', 'unverified');
    setText(this.notice, '');
    show(this.summary, false);
    show(this.panel, true);

    const study = this.hooks.study;
    const lessonId = study?.topic?.id === topicId ? study.lesson?.id ?? null : null;
    if (lessonId) study.started();
    this.stream = new LiveStream({
      topicId,
      lessonId,
      camera: this.camera,
      on: {
        session: () => {
          this.carried += this.sessionCredited;
          this.sessionCredited = 0;
        },
        open: () => {
          this.setStatus(REASON_TEXT.not_started, 'unverified');
          setText(this.notice, '');
          if (lessonId) study.resend();
        },
        status: (msg) => this.onStatus(msg),
        liveness: (msg) => this.onLiveness(msg),
        reconnecting: ({ connectedBefore }) => {
          if (lessonId) study.lost();
          this.setStatus(connectedBefore ? 'Connection lost — reconnecting…'
            : "Can't reach the server — retrying…", 'unverified');
        },
        ended: (reason) => this.finish(endedText(reason)),
        failed: (err) => this.finish(err?.name === 'CameraError'
          ? explainCameraError(err.cause) : err?.message || 'The session could not start.'),
      },
    });
    this.stream.start();
    this.refreshTimer = setInterval(() => this.hooks.refresh().catch(() => {}), PROGRESS_REFRESH_MS);
    this.renderControls();
    this.stopBtn.focus();
  }

  /** Lesson mode: the study panel reports what plays. */
  activity(lessonId, playing) {
    this.stream?.sendActivity(lessonId, playing);
  }

  onStatus(msg) {
    this.hooks.study?.setVerification(msg.state, msg.reason);
    const verified = msg.state === 'verified';
    this.setStatus(statusText(msg.state, msg.reason), verified ? 'verified' : 'unverified');
    const credited = Number(msg.credited_seconds);
    if (Number.isFinite(credited)) this.sessionCredited = Math.max(this.sessionCredited, credited);
    this.showCredited();
    if (msg.module_credited_seconds !== undefined) {
      this.setModuleProgress(msg.module_credited_seconds, msg.required_seconds);
    }
    // With liveness on, time since the last passed head-turn check is provisional, shown apart.
    const provisional = Number(msg.provisional_seconds);
    show(this.provisionalRow, msg.provisional_seconds !== undefined);
    if (Number.isFinite(provisional)) setText(this.provisional, formatClock(provisional));
    if (msg.challenge && this.challenge.id !== msg.challenge.challenge_id) this.challenge.show(msg.challenge);
  }

  onLiveness(msg) {
    if (msg.type === 'challenge') this.challenge.show(msg);
    else if (msg.type === 'challenge_result') this.challenge.result(msg);
    else if (msg.type === 'credit_voided') {
      setText(this.voided, `${formatClock(msg.seconds)} not credited. ${msg.message || ''}`.trim());
      show(this.voided, true);
    }
  }

  /** Stop button. */
  async stop() {
    const stream = this.stream;
    if (!stream?.active) return;
    this.stopBtn.disabled = true;
    this.setStatus('Ending session…', 'unverified');
    try {
      await stream.stop();
    } finally {
      this.stopBtn.disabled = false;
      this.finish('');
    }
  }

  /** Called for every way a run ends: Stop, server "ended", or an error we can't retry. */
  finish(noticeText) {
    clearInterval(this.refreshTimer);
    this.challenge.hide();
    this.hooks.study?.stopped();
    const ids = this.stream?.sessionIds ?? [];
    // A run that never reached the server has no session to call "ended".
    this.setStatus(ids.length ? REASON_TEXT.ended : 'Not streaming', 'unverified');
    setText(this.notice, noticeText);
    this.renderControls();
    this.startBtn.focus();
    this.hooks.refresh().catch(() => {});
    this.loadSummary(ids);
  }

  /** "Last session" line from GET /api/sessions/{id}, summed over reconnects. */
  async loadSummary(ids) {
    if (!ids.length) return;
    const results = await Promise.allSettled(
      ids.map((id) => api.get(`/api/sessions/${encodeURIComponent(id)}`)));
    const sessions = results.filter((r) => r.status === 'fulfilled').map((r) => r.value);
    if (!sessions.length) return;
    let credited = 0;
    let total = 0;
    let verified = 0;
    const flags = new Map();
    for (const s of sessions) {
      credited += Number(s.credited_seconds) || 0;
      total += Number(s.samples?.total) || 0;
      verified += Number(s.samples?.verified) || 0;
      for (const f of Array.isArray(s.flags) ? s.flags : []) {
        const name = flagName(f);
        flags.set(name, (flags.get(name) ?? 0) + 1);
      }
    }
    const parts = [`${formatClock(credited)} credited`, `${verified} of ${total} checks verified`];
    if (flags.size) {
      parts.push(`flagged: ${[...flags].map(([n, c]) => (c > 1 ? `${n} (×${c})` : n)).join(', ')}`);
    }
    setText(this.summary, `Last session: ${parts.join(' · ')}`);
    show(this.summary, true);
  }
}
