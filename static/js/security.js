// The "Security" card: where the student is logged in (and signing other devices out),
// changing the password, and two-step verification (TOTP) with its recovery codes.

import { ApiError, api } from './api.js';
import {
  block, digitsOnly, el, fieldError, part, resetRevealButtons, setText, show, wireRevealButtons,
} from './dom.js';
import { formatWhen, parseTime, shortUserAgent } from './format.js';
import { ErrorLine, NewPassword } from './widgets.js';

function sessionSort(a, b) {
  if (Boolean(a.current) !== Boolean(b.current)) return a.current ? -1 : 1;
  return (parseTime(b.created_at)?.getTime() ?? 0) - (parseTime(a.created_at)?.getTime() ?? 0);
}

/** "JBSWY3DPEHPK3PXP" → "JBSW Y3DP EHPK 3PXP" (easier to type into an app). */
function groupSecret(secret) {
  return String(secret ?? '').replace(/\s+/g, '').replace(/(.{4})(?=.)/g, '$1 ');
}

function busy(button, on) {
  block(button, 'busy', on);
}

export class Security {
  /** @param {HTMLElement} root  the Security card  @param {{user: () => object|null}} hooks */
  constructor(root, hooks) {
    this.root = root;
    this.hooks = hooks;
    this.totpOn = false;
    this.loading = null;
    this.list = this.part('sessions');
    this.sessionsError = new ErrorLine(this.part('sessions-error'));
    this.cpError = new ErrorLine(this.part('cp-error'));
    this.enableError = new ErrorLine(this.part('enable-error'));
    this.disableError = new ErrorLine(this.part('disable-error'));
    this.setupError = new ErrorLine(this.part('setup-error'));
    this.newPassword = new NewPassword(this.part('new-password'), {
      login: () => this.hooks.user()?.srn ?? this.hooks.user()?.username ?? '',
    });

    wireRevealButtons(root);
    digitsOnly(this.part('enable-code'));
    this.part('sessions-refresh').addEventListener('click', () => this.loadSessions());
    this.part('cp-form').addEventListener('submit', (e) => { e.preventDefault(); this.changePassword(); });
    this.part('current').addEventListener('input', () => this.currentError(''));
    this.part('setup-form').addEventListener('submit', (e) => { e.preventDefault(); this.setupTotp(); });
    this.part('setup-cancel').addEventListener('click', () => this.closeSetup(true));
    this.part('enable-form').addEventListener('submit', (e) => { e.preventDefault(); this.enableTotp(); });
    this.part('tfa-on').addEventListener('submit', (e) => { e.preventDefault(); this.disableTotp(); });
    this.part('recovery-done').addEventListener('click', () => this.hideRecoveryCodes());
  }

  /** One of this card's own elements, by its data-part name. */
  part(name) {
    return part(this.root, name);
  }

  /** Logged in. `totpOn` is what we know (unknown counts as off). */
  enter({ totpOn }) {
    this.leave();
    this.totpOn = Boolean(totpOn);
    this.renderTotp();
    this.loadSessions().catch(() => {});
  }

  /** Logged out: forget everything shown, recovery codes above all. */
  leave() {
    this.list.replaceChildren(el('li', { className: 'muted', text: 'Loading…' }));
    this.sessionsError.clear();
    for (const name of ['current', 'enable-code', 'disable-password', 'setup-password']) this.part(name).value = '';
    this.newPassword.reset();
    resetRevealButtons(this.root);
    this.currentError('');
    this.cpError.clear();
    show(this.part('cp-done'), false);
    this.closeSetup(false);
    this.hideRecoveryCodes(false);
    this.disableError.clear();
    this.setupError.clear();
    this.totpOn = false;
    this.renderTotp();
  }

  // ---- sessions -------------------------------------------------------------------------

  async loadSessions() {
    const btn = this.part('sessions-refresh');
    busy(btn, true);
    try {
      const data = await api.get('/api/auth/sessions');
      this.sessionsError.clear();
      this.renderSessions(Array.isArray(data?.sessions) ? data.sessions : []);
    } catch (err) {
      this.sessionsError.text(`Couldn't load your sessions: ${err.message}`);
      if (this.list.querySelector('li.muted')) this.list.replaceChildren();
    } finally {
      busy(btn, false);
    }
  }

  renderSessions(sessions) {
    const rows = [...sessions].sort(sessionSort).map((s) => this.sessionRow(s));
    if (!rows.length) rows.push(el('li', { className: 'muted', text: 'No active sessions.' }));
    this.list.replaceChildren(...rows);
    const others = sessions.filter((s) => !s.current).length;
    setText(this.part('sessions-status'), others
      ? `Logged in on ${others + 1} devices or browsers.` : 'Logged in only on this device.');
  }

  sessionRow(s) {
    const device = shortUserAgent(s.user_agent);
    const since = parseTime(s.created_at);
    const ip = s.ip ? String(s.ip) : 'unknown IP';
    const facts = [`IP ${ip}`, since ? `since ${formatWhen(since)}` : null,
      s.remember ? 'remembered' : null].filter(Boolean).join(' · ');
    const title = el('p', { className: 'session-device' },
      el('span', { text: device, title: s.user_agent ? String(s.user_agent) : undefined }),
      s.current ? el('span', { className: 'badge', text: 'This device' }) : null);
    let button = null;
    if (!s.current) {
      button = el('button', {
        type: 'button', className: 'btn btn-quiet btn-small', text: 'Sign out',
        'aria-label': `Sign out ${device}, ${facts}`,
      });
      button.addEventListener('click', () => this.revoke(s.id, button));
    }
    return el('li', { className: s.current ? 'session current' : 'session', dataset: { sessionId: String(s.id) } },
      el('div', { className: 'session-info' }, title, el('p', { className: 'muted small', text: facts })),
      button);
  }

  async revoke(id, button) {
    busy(button, true);
    this.sessionsError.clear();
    try {
      await api.del(`/api/auth/sessions/${encodeURIComponent(id)}`);
      button.closest('li')?.remove();
      setText(this.part('sessions-status'), 'Signed that device out.');
      this.part('sessions-title').focus?.();
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        button.closest('li')?.remove(); // already gone
      } else {
        this.sessionsError.text(`Couldn't sign that device out: ${err.message}`);
        busy(button, false);
        return;
      }
    }
    this.loadSessions().catch(() => {});
  }

  // ---- change password ----------------------------------------------------------------------

  currentError(message) {
    fieldError(this.part('current'), this.part('current-error'), message);
  }

  async changePassword() {
    this.cpError.clear();
    this.currentError('');
    show(this.part('cp-done'), false);
    const current = this.part('current').value;
    if (!current) {
      this.currentError('Enter your current password.');
      this.part('current').focus();
      return;
    }
    if (!this.newPassword.check()) return;
    const btn = this.part('cp-submit');
    busy(btn, true);
    try {
      await api.post('/api/auth/password/change', {
        current_password: current, new_password: this.newPassword.input.value,
      });
      this.part('current').value = '';
      this.newPassword.reset();
      setText(this.part('cp-done'), 'Password changed. Your other devices have been logged out.');
      show(this.part('cp-done'), true);
      this.loadSessions().catch(() => {});
    } catch (err) {
      if (this.newPassword.serverError(err)) return;
      if (err instanceof ApiError && err.code === 'invalid_credentials') {
        this.currentError('Your current password is not right.');
        this.part('current').select();
        return;
      }
      this.cpError.error(err);
    } finally {
      busy(btn, false);
    }
  }

  // ---- two-step verification ------------------------------------------------------------------

  renderTotp() {
    setText(this.part('tfa-state'), this.totpOn
      ? "Two-step verification is on: logging in asks for a code from your authenticator app."
      : 'Two-step verification is off.');
    this.part('tfa-state').classList.toggle('on', this.totpOn);
    show(this.part('tfa-off'), !this.totpOn);
    show(this.part('tfa-on'), this.totpOn);
  }

  closeSetup(focus) {
    show(this.part('setup-panel'), false);
    show(this.part('setup-form'), true);
    this.part('qr').removeAttribute('src');
    setText(this.part('secret'), '');
    this.part('setup-link').setAttribute('href', '#');
    this.part('enable-code').value = '';
    this.enableError.clear();
    if (focus) this.part('setup-password').focus();
  }

  async setupTotp() {
    // The secret is shown only after the password is typed again (a borrowed session can't bind its phone).
    const password = this.part('setup-password').value;
    this.setupError.clear();
    if (!password) {
      this.setupError.text('Enter your password to turn two-step verification on.');
      this.part('setup-password').focus();
      return;
    }
    const btn = this.part('setup');
    busy(btn, true);
    this.enableError.clear();
    try {
      const data = await api.post('/api/auth/totp/setup', { password });
      this.part('setup-password').value = '';
      const qr = typeof data.qr === 'string' && /^data:image\//.test(data.qr) ? data.qr : null;
      if (qr) this.part('qr').src = qr;
      show(this.part('qr'), Boolean(qr));
      setText(this.part('secret'), groupSecret(data.secret));
      const uri = typeof data.otpauth_uri === 'string' && data.otpauth_uri.startsWith('otpauth://')
        ? data.otpauth_uri : '#';
      this.part('setup-link').setAttribute('href', uri);
      show(this.part('setup-form'), false);
      show(this.part('setup-panel'), true);
      this.part('enable-code').focus();
    } catch (err) {
      if (err instanceof ApiError && (err.status === 409 || /enabled/.test(err.code))) {
        this.totpOn = true; // it was on already: the server knows better
        this.renderTotp();
        return;
      }
      this.setupError.error(err, { credentials: 'Wrong password.' });
      if (err instanceof ApiError && err.code === 'invalid_credentials') this.part('setup-password').select();
    } finally {
      busy(btn, false);
    }
  }

  async enableTotp() {
    const code = this.part('enable-code').value.trim();
    if (!/^\d{6}$/.test(code)) {
      this.enableError.text('Enter the 6-digit code your app shows.');
      this.part('enable-code').focus();
      return;
    }
    const btn = this.part('enable');
    busy(btn, true);
    this.enableError.clear();
    try {
      const data = await api.post('/api/auth/totp/enable', { code });
      this.closeSetup(false);
      this.totpOn = true;
      this.renderTotp();
      this.showRecoveryCodes(Array.isArray(data?.recovery_codes) ? data.recovery_codes : []);
    } catch (err) {
      this.enableError.error(err, {
        code: "That code didn't work. Check the time on your phone is right and enter the code the app shows now.",
      });
      this.part('enable-code').select();
    } finally {
      busy(btn, false);
    }
  }

  showRecoveryCodes(codes) {
    this.part('recovery-codes').replaceChildren(...codes.map((c) => el('li', { text: String(c) })));
    show(this.part('recovery'), codes.length > 0);
    if (codes.length) this.part('recovery-title').focus();
  }

  hideRecoveryCodes(focus = true) {
    this.part('recovery-codes').replaceChildren(); // shown once: don't keep them in the page
    show(this.part('recovery'), false);
    if (focus) this.part('tfa-title').focus?.();
  }

  async disableTotp() {
    const password = this.part('disable-password').value;
    if (!password) {
      this.disableError.text('Enter your password to turn two-step verification off.');
      this.part('disable-password').focus();
      return;
    }
    const btn = this.part('disable');
    busy(btn, true);
    this.disableError.clear();
    try {
      await api.post('/api/auth/totp/disable', { password });
      this.part('disable-password').value = '';
      this.totpOn = false;
      this.hideRecoveryCodes(false);
      this.renderTotp();
      this.part('setup-password').focus();
    } catch (err) {
      if (err instanceof ApiError && (err.status === 409 || /not_enabled/.test(err.code))) {
        this.totpOn = false;
        this.renderTotp();
        return;
      }
      this.disableError.error(err, { credentials: 'Wrong password.' });
      if (err instanceof ApiError && err.code === 'invalid_credentials') this.part('disable-password').select();
    } finally {
      busy(btn, false);
    }
  }
}
