// Page controller: boot, login/logout, which cards are visible, and the glue between
// the camera, enrollment, live-session and progress modules.

import { ApiError, api, apiEvents, setCsrfToken } from './api.js';
import { Camera } from './camera.js';
import { $, setText, show } from './dom.js';
import { Enrollment } from './enroll.js';
import { LiveController, rememberedTopic } from './live.js';
import { fillTopicPicker, renderProgress } from './progress.js';

const PENDING_RECHECK_MS = 60000;

const state = {
  user: null,
  enrollment: 'none',
  catalog: [],  // from /api/catalog (topic picker)
  progress: [], // from /api/progress (dashboard; same shape plus credited_seconds)
};

const camera = new Camera();
const enrollment = new Enrollment(camera, (result) => {
  setEnrollment(result);
  refreshProgress().catch(() => {});
});
const live = new LiveController(camera, {
  modules: () => (state.progress.length ? state.progress : state.catalog),
  refresh: () => refreshProgress(),
});

// ---- views ----------------------------------------------------------------------

function showView(name) {
  show($('boot'), name === 'boot');
  show($('login-view'), name === 'login');
  show($('app-view'), name === 'app');
  show($('user-box'), name === 'app');
}

function showLogin(message = '') {
  state.user = null;
  clearInterval(state.pendingTimer);
  camera.close();
  showView('login');
  setText($('login-error'), message);
  $('password').value = '';
  $('srn').focus();
}

async function enterApp(data) {
  state.user = data.user ?? {};
  setText($('user-name'), state.user.name ?? '');
  setText($('user-srn'), state.user.srn ? `SRN ${state.user.srn}` : '');
  setText($('app-error'), '');
  showView('app');
  $('welcome').focus();
  setEnrollment(data.enrollment);
  // The camera check starts straight away: problems (permission, busy camera) are best
  // found now, not when the student presses Start.
  camera.open().catch(() => { /* the camera card explains */ });
  await loadModules();
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
    renderDashboard();
  }
  // Progress carries the same modules and topics, so it can stand in for a failed catalog.
  fillTopicPicker($('topic'), state.catalog.length ? state.catalog : state.progress,
    rememberedTopic());
  live.renderControls();
  const failed = [catalog, progress].find((r) => r.status === 'rejected');
  setText($('progress-error'), failed ? `Couldn't load everything: ${failed.reason.message}` : '');
}

async function refreshProgress() {
  if (!state.user) return;
  try {
    const data = await api.get('/api/progress');
    state.progress = data.modules ?? [];
    renderDashboard();
    setText($('progress-error'), '');
  } catch (err) {
    setText($('progress-error'), `Couldn't refresh progress: ${err.message}`);
    throw err;
  }
}

function renderDashboard() {
  renderProgress($('progress-list'), state.progress);
  const time = new Date().toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  setText($('progress-updated'), `Updated ${time}`);
}

// ---- login / logout --------------------------------------------------------------

function loginMessage(err) {
  if (!(err instanceof ApiError)) return 'Something went wrong. Please try again.';
  // The server's message covers wrong credentials and locked accounts; the fallback
  // only matters if it sent none.
  if (err.code === 'http_401') return 'Wrong SRN or password.';
  return err.message;
}

$('login-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const srn = $('srn').value.trim();
  const password = $('password').value;
  const error = $('login-error');
  if (!srn || !password) {
    setText(error, 'Enter your SRN and password.');
    (srn ? $('password') : $('srn')).focus();
    return;
  }
  const btn = $('login-btn');
  btn.disabled = true;
  setText(btn, 'Logging in…');
  setText(error, '');
  try {
    const data = await api.post('/api/auth/login', {
      srn, password, remember: $('remember').checked,
    });
    $('password').value = '';
    await enterApp(data);
  } catch (err) {
    setText(error, loginMessage(err));
    if (err.code === 'invalid_credentials') $('password').select();
  } finally {
    btn.disabled = false;
    setText(btn, 'Log in');
  }
});

$('toggle-password').addEventListener('click', () => {
  const btn = $('toggle-password');
  const pressed = btn.getAttribute('aria-pressed') !== 'true';
  btn.setAttribute('aria-pressed', String(pressed));
  $('password').type = pressed ? 'text' : 'password';
});

$('logout-btn').addEventListener('click', async () => {
  const btn = $('logout-btn');
  btn.disabled = true;
  try {
    await live.stop(); // end a running session properly before the login goes away
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

apiEvents.addEventListener('maintenance', (e) => {
  setText($('maintenance-banner'), e.detail.message);
  show($('maintenance-banner'), true);
});
apiEvents.addEventListener('ok', () => show($('maintenance-banner'), false));
apiEvents.addEventListener('unauthorized', async () => {
  if (!state.user) return; // already on the login view
  state.user = null;
  await live.stop().catch(() => {});
  showLogin('Your login has expired. Please log in again.');
});

// ---- boot -----------------------------------------------------------------------

(async function boot() {
  showView('boot');
  try {
    await enterApp(await api.get('/api/me'));
  } catch (err) {
    showLogin(err instanceof ApiError && err.status === 401 ? '' : err.message);
  }
})();
