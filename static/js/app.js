// Page controller: boot, login/logout, which cards are visible, and the glue between
// the login flows, camera, enrollment, live-session, progress, security and maintenance modules.
// It is the one place that knows the page's ids: each component gets its root element from here.

import { ApiError, api, apiEvents, setCsrfToken } from './api.js';
import { StudentLogin } from './auth.js';
import { Camera } from './camera.js';
import { $, setText, show } from './dom.js';
import { Electives } from './electives.js';
import { Enrollment } from './enroll.js';
import { History } from './history.js';
import { LiveController } from './live.js';
import { MaintenanceNotice } from './maintenance.js';
import { moduleOfTopic, overallText, renderProgress } from './progress.js';
import { Security } from './security.js';
import { StudyPanel } from './study.js';
import { TestsView } from './tests.js';

const PENDING_RECHECK_MS = 60000;

const state = {
  user: null,
  enrollment: 'none',
  catalog: [],  // from /api/catalog (topic picker)
  progress: [], // from /api/progress (dashboard; same shape plus credited_seconds)
  summary: null, // the rest of /api/progress: electives and the required total
};

function topicOf(modules, topicId) {
  return moduleOfTopic(modules, topicId)?.topics?.find((t) => String(t.id) === String(topicId)) ?? null;
}

/** The catalog's modules marked with the student's elective choices (from progress, when loaded). */
function offeredModules() {
  const chosen = new Map(state.progress.map((m) => [m.id, m.chosen]));
  const base = state.catalog.length ? state.catalog : state.progress;
  return base.map((m) => ({ ...m, chosen: chosen.get(m.id) }));
}

function showStudy(topicId) {
  const topic = topicOf(state.catalog, topicId) ?? topicOf(state.progress, topicId);
  study.setTopic(topic, topicOf(state.progress, topicId)?.lessons ?? []);
}

const camera = new Camera($('camera-card'));
const enrollment = new Enrollment($('enroll-card'), camera, (result) => {
  setEnrollment(result);
  refreshProgress().catch(() => {});
});
const study = new StudyPanel($('study-card'), {
  activity: (lessonId, playing) => live.activity(lessonId, playing),
});
const live = new LiveController($('session-card'), camera, {
  modules: () => (state.progress.length ? state.progress : state.catalog),
  refresh: () => refreshProgress(),
  study,
  topicChanged: (topicId) => showStudy(topicId),
});
const electives = new Electives($('electives-card'), () => loadModules().catch(() => {}));
const historyView = new History($('history-card'),
  (topicId) => topicOf(state.catalog, topicId)?.title ?? topicId);
const security = new Security($('security'), { user: () => state.user });
const tests = new TestsView($('tests-card'), camera);
const login = new StudentLogin({
  login: $('login-view'),
  activate: $('activate-view'),
  forgot: $('forgot-view'),
  template: $('code-form-template'),
}, {
  showView,
  isLoggedIn: () => Boolean(state.user),
  loggedIn: (data, how) => enterApp(data, how),
});
const maintenance = new MaintenanceNotice($('maintenance-banner'), (text) => {
  login.setMaintenance(text);
  live.setMaintenance(text);
});

// ---- views ----------------------------------------------------------------------

function showView(name) {
  show($('boot'), name === 'boot');
  show($('login-view'), name === 'login');
  show($('activate-view'), name === 'activate');
  show($('forgot-view'), name === 'forgot');
  show($('app-view'), name === 'app');
  show($('user-box'), name === 'app');
}

function showLogin(message = '') {
  state.user = null;
  clearInterval(state.pendingTimer);
  camera.close();
  security.leave();
  tests.leave().catch(() => {});
  login.showLoggedOut(message);
}

/** Whether two-step verification is on, if the user JSON says; otherwise what the login showed. */
function totpKnown(user, how) {
  for (const key of ['totp_enabled', 'totp', 'two_factor']) {
    if (typeof user?.[key] === 'boolean') return user[key];
  }
  return Boolean(how?.totp);
}

async function enterApp(data, how = {}) {
  state.user = data.user ?? {};
  setText($('user-name'), state.user.name ?? '');
  setText($('user-srn'), state.user.srn ? `SRN ${state.user.srn}` : '');
  setText($('app-error'), '');
  showView('app');
  $('welcome').focus();
  security.enter({ totpOn: totpKnown(state.user, how) });
  setEnrollment(data.enrollment);
  // The camera check starts straight away: problems (permission, busy camera) are best
  // found now, not when the student presses Start.
  camera.open().catch(() => { /* the camera card explains */ });
  await loadModules();
  await tests.enter();
}

function setEnrollment(value) {
  const e = ['approved', 'pending'].includes(value) ? value : 'none';
  state.enrollment = e;
  if (e === 'none') enrollment.open();
  else enrollment.close();
  show($('pending-card'), e === 'pending');
  show($('session-card'), e !== 'none');
  live.setEnrollment(e);
  clearInterval(state.pendingTimer);
  if (e === 'pending') state.pendingTimer = setInterval(recheckEnrollment, PENDING_RECHECK_MS);
}

async function recheckEnrollment() {
  const btn = $('recheck-btn');
  btn.disabled = true;
  try {
    const me = await api.get('/api/me');
    if (me.enrollment !== state.enrollment) setEnrollment(me.enrollment);
    if (me.enrollment === 'pending') setText($('pending-status'), 'Still waiting for approval.');
  } catch (err) {
    setText($('pending-status'), err.message);
  } finally {
    btn.disabled = false;
  }
}

// ---- data -----------------------------------------------------------------------

async function loadModules() {
  const [catalog, progress] = await Promise.allSettled([
    api.get('/api/catalog'),
    api.get('/api/progress'),
  ]);
  if (catalog.status === 'fulfilled') state.catalog = catalog.value.modules ?? [];
  if (progress.status === 'fulfilled') {
    state.progress = progress.value.modules ?? [];
    state.summary = progress.value;
    renderDashboard();
  }
  // Progress carries the same modules and topics, so it can stand in for a failed catalog.
  live.setTopics(offeredModules());
  electives.load();
  historyView.load();
  const failed = [catalog, progress].find((r) => r.status === 'rejected');
  setText($('progress-error'), failed ? `Couldn't load everything: ${failed.reason.message}` : '');
}

async function refreshProgress() {
  if (!state.user) return;
  try {
    const data = await api.get('/api/progress');
    state.progress = data.modules ?? [];
    state.summary = data;
    renderDashboard();
    showStudy($('topic').value);
    historyView.load();
    setText($('progress-error'), '');
  } catch (err) {
    setText($('progress-error'), `Couldn't refresh progress: ${err.message}`);
    throw err;
  }
}

function renderDashboard() {
  renderProgress($('progress-list'), state.progress);
  setText($('progress-overall'), overallText(state.summary));
  const time = new Date().toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  setText($('progress-updated'), `Updated ${time}`);
}

// ---- logout --------------------------------------------------------------------

$('logout-btn').addEventListener('click', async () => {
  const btn = $('logout-btn');
  btn.disabled = true;
  try {
    await live.stop(); // end a running session properly before the login goes away
    await tests.leave();
    await api.post('/api/auth/logout');
    setCsrfToken(null);
    showLogin('You have logged out.');
  } catch (err) {
    if (err.status === 401) showLogin('You have logged out.');
    else setText($('app-error'), `Couldn't log out: ${err.message}`);
  } finally {
    btn.disabled = false;
  }
});

$('recheck-btn').addEventListener('click', recheckEnrollment);

// ---- cross-cutting API events -------------------------------------------------------

// (maintenance.js listens for "maintenance" and "ok" itself.)
apiEvents.addEventListener('unauthorized', async () => {
  if (!state.user) return; // already on the login view
  state.user = null;
  await live.stop().catch(() => {});
  showLogin('Your login has expired. Please log in again.');
});

// ---- boot -----------------------------------------------------------------------

(async function boot() {
  showView('boot');
  maintenance.start();
  try {
    await enterApp(await api.get('/api/me'));
  } catch (err) {
    showLogin(err instanceof ApiError && err.status === 401 ? '' : err.message);
  }
})();
