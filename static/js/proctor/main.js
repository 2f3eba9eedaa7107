// The proctors' dashboard: boot, staff login/logout, and the glue between the session grid,
// the flag feed, the session drawer, enrollments and the export form.
//
// Data flow: GET /api/proctor/sessions and /api/proctor/flags?status=open fill the store, the
// event stream keeps it current, and every store change re-renders what it touched.

import { ApiError, api, apiEvents, setCsrfToken } from '../api.js';
import { $, setText, show } from '../dom.js';
import { formatWait } from '../format.js';
import { LoginSteps, PasswordForm } from '../login.js';
import { MaintenanceNotice } from '../maintenance.js';
import { SessionDrawer } from './drawer.js';
import { Enrollments } from './enrollments.js';
import { EventStream } from './events.js';
import { ExportForm } from './export.js';
import { FlagFeed } from './flags.js';
import { SessionGrid } from './grid.js';
import { Store } from './store.js';
import { StaffTests } from './tests.js';

const RELOAD_AFTER_START_MS = 1500; // a new session: fetch the list for its title and today's time
const SAFETY_RELOAD_MS = 5 * 60 * 1000;
const WRONG_LOGIN = 'Wrong username or password.';

const store = new Store();
const state = { user: null, reloadTimer: null, safetyTimer: null, refusals: 0 };

const drawer = new SessionDrawer($('drawer'), store, {
  returnFocus: (sid) => {
    const tile = sid ? grid.buttonFor(sid) : null;
    return tile?.isConnected ? tile : grid.title; // the tile may have gone with its session
  },
});
const grid = new SessionGrid($('sessions-panel'), store, (sid) => drawer.open(sid));
const feed = new FlagFeed($('flags-panel'), store, {
  openSession: (sid) => drawer.open(sid),
  reload: () => loadFlags().catch(() => {}),
});
const enrollments = new Enrollments($('enrollments'));
const staffTests = new StaffTests($('spmt-panel'));
new ExportForm($('export'));
const steps = new LoginSteps($('login-view'), {
  loggedIn: async (data) => enter(data),
  back: () => showLogin(),
});
const passwordForm = new PasswordForm($('login-form'), {
  field: 'username',
  what: 'username',
  wrong: WRONG_LOGIN,
  answer: (data, remember) => steps.answer(data, remember),
});
const maintenance = new MaintenanceNotice($('maintenance-banner'), (text) => {
  passwordForm.setMaintenance(Boolean(text));
  steps.setMaintenance(Boolean(text));
});

store.addEventListener('change', (e) => {
  if (e.detail.sessions) grid.render();
  if (e.detail.flags || e.detail.sessions) feed.render(); // "Session" buttons follow the live list
  drawer.refresh(e.detail.ids);
});

// ---- live data ------------------------------------------------------------------------

const stream = new EventStream({
  onEvent(ev) {
    state.refusals = 0;
    store.apply(ev);
    if (ev.type === 'session_started') scheduleReload();
  },
  async onResync() {
    const [last] = await Promise.all([loadSessions(), loadFlags()]);
    return last;
  },
  onState(s, detail) {
    if (s === 'live') state.refusals = 0;
    const conn = $('conn');
    conn.dataset.state = s;
    const text = {
      connecting: 'Live updates: connecting…',
      live: 'Live updates on',
      retrying: `Live updates lost — retrying in ${formatWait((detail?.delayMs ?? 0) / 1000)}`,
      stopped: '',
    }[s] ?? '';
    setText(conn, text);
    show(conn, Boolean(text));
  },
  onRefused() {
    // Closed before it opened: maybe the login expired. /api/me says so (and "unauthorized" fires).
    state.refusals += 1;
    if (state.refusals >= 2) api.get('/api/me').catch(() => {});
  },
});

async function loadSessions() {
  try {
    const data = await api.get('/api/proctor/sessions');
    grid.setError('');
    return store.loadSessions(data);
  } catch (err) {
    grid.setError(`Couldn't load the live sessions: ${err.message}`);
    throw err;
  }
}

async function loadFlags() {
  try {
    store.loadFlags(await api.get('/api/proctor/flags?status=open&limit=200'));
    feed.setError('');
  } catch (err) {
    feed.setError(`Couldn't load the open flags: ${err.message}`);
    throw err;
  }
}

function scheduleReload() {
  clearTimeout(state.reloadTimer);
  state.reloadTimer = setTimeout(() => loadSessions().catch(() => {}), RELOAD_AFTER_START_MS);
}

async function startLive() {
  try {
    const catalog = await api.get('/api/catalog');
    store.setTopics(catalog?.modules);
  } catch {
    // Titles then come only from the session list; nothing else depends on the catalog.
  }
  const [sessions] = await Promise.allSettled([loadSessions(), loadFlags()]);
  // Even without the list, the stream can start (from the events still buffered).
  stream.start(sessions.status === 'fulfilled' ? sessions.value : null);
  clearInterval(state.safetyTimer);
  state.safetyTimer = setInterval(() => {
    // Belt and braces for hours-long shifts: "today" rolls over, and a missed event heals.
    loadSessions().catch(() => {});
    loadFlags().catch(() => {});
  }, SAFETY_RELOAD_MS);
}

function stopLive() {
  stream.stop();
  clearTimeout(state.reloadTimer);
  clearInterval(state.safetyTimer);
  enrollments.stop();
  staffTests.stop();
  drawer.close();
  store.loadSessions({ sessions: [] });
  store.loadFlags({ flags: [] });
}

// ---- views ----------------------------------------------------------------------------

function showView(name) {
  show($('boot'), name === 'boot');
  show($('login-view'), name === 'login');
  show($('denied-view'), name === 'denied');
  show($('app-view'), name === 'app');
  show($('user-box'), name === 'app' || name === 'denied');
}

function showLogin(note = '', problem = '') {
  state.user = null;
  stopLive();
  setText($('login-note'), note);
  show($('login-note'), Boolean(note));
  steps.leaveTotp();
  passwordForm.reset();
  if (problem) passwordForm.error.text(problem);
  showView('login');
  passwordForm.login.focus();
}

function enter(data) {
  state.user = data?.user ?? {};
  const role = String(state.user.role ?? '');
  setText($('user-name'), state.user.name || state.user.username || '');
  setText($('user-role'), role ? role[0].toUpperCase() + role.slice(1) : '');
  if (state.user.staff !== true) { // the server says who is staff: no list of roles here
    showView('denied');
    $('denied-title').focus();
    return;
  }
  showView('app');
  $('dash-title').focus();
  startLive();
  enrollments.start();
  staffTests.start(state.user);
}

$('logout-btn').addEventListener('click', async () => {
  const btn = $('logout-btn');
  btn.disabled = true;
  try {
    await drawer.shutdown();
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

apiEvents.addEventListener('unauthorized', () => {
  if (!state.user) return;
  showLogin('Your login has expired. Please log in again.');
});

// Leaving the page: release the live view so it doesn't count against the viewer limit.
window.addEventListener('pagehide', () => { drawer.shutdown({ keepalive: true }); });

// ---- boot -----------------------------------------------------------------------------

(async function boot() {
  showView('boot');
  maintenance.start();
  try {
    enter(await api.get('/api/me'));
  } catch (err) {
    showLogin('', err instanceof ApiError && err.status === 401 ? '' : err.message);
  }
})();
