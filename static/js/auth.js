// Everything before the student is logged in: the password and SMS-code tabs, the lockout
// countdown, the two-step (authenticator) prompt, first-time activation and password reset.
//
// The logged-out views are addressed by the URL hash (#activate, #forgot, anything else is
// the login card), so the browser's Back button works between them.

import { ApiError, api } from './api.js';
import { $, block, countdown, el, resetRevealButtons, setText, show } from './dom.js';
import { formatWait } from './format.js';

const RESEND_COOLDOWN_S = 30;
export const CODE_SENT_TEXT = 'If this SRN is registered, a 6-digit code was sent to its mobile.';
export const PASSWORD_CHANGED_TEXT = 'Password changed. Sign in with your new password.';
export const MIN_PASSWORD_LENGTH = 10;

const WRONG_CODE = 'That code is wrong or has expired. Check the SMS, or send a new code.';
const WRONG_TOTP = "That code didn't work. Enter the code your app shows now (it changes every "
  + '30 seconds), or one of your recovery codes.';

function messageFor(err, wrong = {}) {
  if (!(err instanceof ApiError)) return 'Something went wrong. Please try again.';
  if (err.code === 'invalid_credentials' || err.code === 'http_401') {
    return wrong.credentials ?? 'Wrong SRN or password.';
  }
  if (err.code === 'invalid_code') return wrong.code ?? WRONG_CODE;
  return err.message;
}

/**
 * An error line that can count down: "Too many attempts. Your account is locked — try again
 * in 14 min 32 s." for a 423, the same idea for a 429 (too many tries from this network).
 */
export class ErrorLine {
  constructor(node) {
    this.node = node;
    this.cancel = null;
  }

  clear() {
    this.cancel?.();
    this.cancel = null;
    setText(this.node, '');
  }

  text(message) {
    this.clear();
    setText(this.node, message);
  }

  /** Show `err`; returns true when it was a lockout or rate limit. */
  error(err, wrong) {
    this.clear();
    const lead = err?.status === 423 ? 'Too many attempts. Your account is locked'
      : err?.status === 429 ? 'Too many attempts from this network' : null;
    if (!lead) {
      setText(this.node, messageFor(err, wrong));
      return false;
    }
    if (!(err.retryAfter > 0)) {
      setText(this.node, `${lead} — please try again later.`);
      return true;
    }
    // The line is a role="alert": announce it once, not once a second.
    const time = el('span', { 'aria-live': 'off', className: 'wait' });
    this.node.replaceChildren(`${lead} — try again in `, time, '.');
    this.cancel = countdown(err.retryAfter, (left) => setText(time, formatWait(left)), () => {
      this.cancel = null;
      setText(this.node, 'You can try again now.');
    });
    return true;
  }
}

/** "Send code": always the same answer (the server never says whether the SRN exists), then 30 s of rest. */
class CodeSender {
  constructor({ button, srn, status, error, code, path }) {
    Object.assign(this, { button, srn, status, error, code, path });
    this.cancel = null;
    button.addEventListener('click', () => this.send());
  }

  async send() {
    const srn = this.srn.value.trim();
    if (!srn) {
      this.error.text('Enter your SRN first.');
      this.srn.focus();
      return;
    }
    block(this.button, 'busy');
    setText(this.status, '');
    this.error.clear();
    try {
      await api.post(this.path, { srn });
      setText(this.status, CODE_SENT_TEXT);
      this.rest(RESEND_COOLDOWN_S);
      this.code.focus();
    } catch (err) {
      this.error.error(err);
      if (err instanceof ApiError && err.status === 429 && err.retryAfter > 0) this.rest(err.retryAfter);
    } finally {
      block(this.button, 'busy', false);
    }
  }

  rest(seconds) {
    this.cancel?.();
    block(this.button, 'cooldown');
    this.cancel = countdown(seconds, (left) => setText(this.button, `Send again in ${formatWait(left)}`), () => {
      this.cancel = null;
      block(this.button, 'cooldown', false);
      setText(this.button, 'Send a new code');
    });
  }

  reset() {
    this.cancel?.();
    this.cancel = null;
    block(this.button, 'cooldown', false);
    setText(this.button, 'Send code');
    setText(this.status, '');
  }
}

/**
 * A new password with its confirmation, the rules list (ticked as the student types) and
 * per-field errors, including the server's 400 weak_password.
 */
export class NewPassword {
  constructor({ input, input2, error, error2, policy, srn }) {
    Object.assign(this, { input, input2, srn });
    this.errorNode = error;
    this.error2Node = error2;
    this.policy = policy;
    input.addEventListener('input', () => {
      this.tick();
      this.fieldError(this.input, this.errorNode, '');
    });
    input2.addEventListener('input', () => this.fieldError(this.input2, this.error2Node, ''));
  }

  tick() {
    const pw = this.input.value;
    const srn = (this.srn() || '').trim().toUpperCase();
    this.policy.querySelector('[data-rule="length"]')
      ?.classList.toggle('met', pw.length >= MIN_PASSWORD_LENGTH);
    this.policy.querySelector('[data-rule="srn"]')
      ?.classList.toggle('met', Boolean(pw && srn && pw.trim().toUpperCase() !== srn));
  }

  fieldError(input, node, message) {
    setText(node, message);
    if (message) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  }

  clear() {
    this.fieldError(this.input, this.errorNode, '');
    this.fieldError(this.input2, this.error2Node, '');
  }

  reset() {
    this.input.value = '';
    this.input2.value = '';
    this.clear();
    this.tick();
  }

  /** Checks what can be checked here; shows the problem and returns false if there is one. */
  check() {
    this.clear();
    const pw = this.input.value;
    const srn = (this.srn() || '').trim().toUpperCase();
    let problem = null;
    if (pw.length < MIN_PASSWORD_LENGTH) {
      problem = [this.input, this.errorNode, `Use at least ${MIN_PASSWORD_LENGTH} characters.`];
    } else if (srn && pw.trim().toUpperCase() === srn) {
      problem = [this.input, this.errorNode, "Don't use your SRN as your password."];
    } else if (pw !== this.input2.value) {
      problem = [this.input2, this.error2Node, "The two passwords don't match."];
    }
    if (!problem) return true;
    this.fieldError(...problem);
    problem[0].focus();
    return false;
  }

  /** A 400 weak_password goes next to the field; returns whether it was one. */
  serverError(err) {
    if (!(err instanceof ApiError) || err.code !== 'weak_password') return false;
    this.fieldError(this.input, this.errorNode,
      err.message || 'Choose a stronger password: at least 10 characters, not a common password, not your SRN.');
    this.input.focus();
    this.input.select();
    return true;
  }
}

function busy(button, text, on) {
  if (on) {
    button.dataset.idleText = button.textContent;
    setText(button, text);
  } else if (button.dataset.idleText) {
    setText(button, button.dataset.idleText);
    delete button.dataset.idleText;
  }
  block(button, 'busy', on);
}

export class LoginFlow {
  /**
   * @param {object} hooks
   * @param {(name: string) => void} hooks.showView   'login' | 'activate' | 'forgot'
   * @param {() => boolean} hooks.isLoggedIn
   * @param {(data: object, how: {totp: boolean}) => Promise<void>} hooks.loggedIn
   */
  constructor(hooks) {
    this.hooks = hooks;
    this.challenge = null;
    this.challengeRemember = false;
    this.maintenance = null;

    this.loginError = new ErrorLine($('login-error'));
    this.otpError = new ErrorLine($('otp-error'));
    this.totpError = new ErrorLine($('totp-error'));
    this.actError = new ErrorLine($('act-error'));
    this.fpError = new ErrorLine($('fp-error'));

    this.otpSender = new CodeSender({
      button: $('otp-send'), srn: $('otp-srn'), status: $('otp-sent'), error: this.otpError,
      code: $('otp-code'), path: '/api/auth/otp/request',
    });
    this.actSender = new CodeSender({
      button: $('act-send'), srn: $('act-srn'), status: $('act-sent'), error: this.actError,
      code: $('act-code'), path: '/api/auth/activate/request',
    });
    this.fpSender = new CodeSender({
      button: $('fp-send'), srn: $('fp-srn'), status: $('fp-sent'), error: this.fpError,
      code: $('fp-code'), path: '/api/auth/password/forgot',
    });
    this.actPassword = new NewPassword({
      input: $('act-password'), input2: $('act-password2'), error: $('act-password-error'),
      error2: $('act-password2-error'), policy: $('act-policy'), srn: () => $('act-srn').value,
    });
    this.fpPassword = new NewPassword({
      input: $('fp-password'), input2: $('fp-password2'), error: $('fp-password-error'),
      error2: $('fp-password2-error'), policy: $('fp-policy'), srn: () => $('fp-srn').value,
    });

    this.wireTabs();
    $('login-form').addEventListener('submit', (e) => { e.preventDefault(); this.passwordLogin(); });
    $('otp-form').addEventListener('submit', (e) => { e.preventDefault(); this.otpLogin(); });
    $('totp-form').addEventListener('submit', (e) => { e.preventDefault(); this.totpLogin(); });
    $('totp-cancel').addEventListener('click', () => this.leaveTotp(true));
    $('act-form').addEventListener('submit', (e) => { e.preventDefault(); this.activate(); });
    $('fp-form').addEventListener('submit', (e) => { e.preventDefault(); this.resetPassword(); });
    for (const id of ['otp-code', 'act-code', 'fp-code']) {
      $(id).addEventListener('input', (e) => { // digits only, whatever was pasted
        const digits = e.target.value.replace(/\D/g, '').slice(0, 6);
        if (digits !== e.target.value) e.target.value = digits;
      });
    }
    window.addEventListener('hashchange', () => this.route());
  }

  // ---- views -------------------------------------------------------------------------

  viewFromHash() {
    const h = window.location.hash;
    if (h === '#activate') return 'activate';
    if (h === '#forgot') return 'forgot';
    return 'login';
  }

  /** Show the logged-out view the hash names (nothing happens while logged in). */
  route(focus = true) {
    if (this.hooks.isLoggedIn()) return;
    const view = this.viewFromHash();
    const srn = $('srn').value.trim() || $('otp-srn').value.trim();
    if (view !== 'login') show($('fp-done'), false);
    if (view === 'activate' && !$('act-srn').value) $('act-srn').value = srn;
    if (view === 'forgot' && !$('fp-srn').value) $('fp-srn').value = srn;
    this.hooks.showView(view);
    if (focus) $({ login: 'login-title', activate: 'act-title', forgot: 'fp-title' }[view]).focus();
  }

  clearHash() {
    if (window.location.hash) {
      window.history.replaceState(null, '', window.location.pathname + window.location.search);
    }
  }

  /** Logged out (or never in): the login card, with an optional message in #login-error. */
  showLoggedOut(message = '') {
    this.resetAll();
    this.loginError.text(message);
    if (this.viewFromHash() !== 'login') {
      this.route(false);
      return;
    }
    this.hooks.showView('login');
    (this.activeTab() === 'otp' ? $('otp-srn') : $('srn')).focus();
  }

  resetAll() {
    this.leaveTotp(false);
    for (const line of [this.loginError, this.otpError, this.actError, this.fpError]) line.clear();
    for (const id of ['password', 'otp-code', 'act-code', 'fp-code']) $(id).value = '';
    this.actPassword.reset();
    this.fpPassword.reset();
    resetRevealButtons($('login-view').parentElement);
  }

  /** Called with the text while maintenance is on, null when it ends. */
  setMaintenance(text) {
    this.maintenance = text;
    setText($('login-blocked'), text ?? '');
    for (const id of ['login-btn', 'otp-send', 'otp-login', 'totp-submit', 'act-send', 'act-submit',
      'fp-send', 'fp-submit']) {
      block($(id), 'maintenance', Boolean(text));
    }
  }

  // ---- tabs (WAI-ARIA tabs pattern: arrows move between tabs, Tab goes into the panel) ----

  wireTabs() {
    const tabs = [$('tab-password'), $('tab-otp')];
    tabs.forEach((tab, i) => {
      tab.addEventListener('click', () => this.selectTab(tab.id === 'tab-otp' ? 'otp' : 'password'));
      tab.addEventListener('keydown', (e) => {
        let next = null;
        if (e.key === 'ArrowRight' || e.key === 'ArrowDown') next = tabs[(i + 1) % tabs.length];
        else if (e.key === 'ArrowLeft' || e.key === 'ArrowUp') next = tabs[(i - 1 + tabs.length) % tabs.length];
        else if (e.key === 'Home') next = tabs[0];
        else if (e.key === 'End') next = tabs[tabs.length - 1];
        if (!next) return;
        e.preventDefault();
        this.selectTab(next.id === 'tab-otp' ? 'otp' : 'password');
        next.focus();
      });
    });
  }

  activeTab() {
    return $('tab-otp').getAttribute('aria-selected') === 'true' ? 'otp' : 'password';
  }

  selectTab(name) {
    const otp = name === 'otp';
    for (const [tab, panel, selected] of [['tab-password', 'panel-password', !otp], ['tab-otp', 'panel-otp', otp]]) {
      $(tab).setAttribute('aria-selected', String(selected));
      $(tab).tabIndex = selected ? 0 : -1;
      show($(panel), selected);
    }
    // Carry the SRN across, so switching method doesn't mean typing it again.
    const [from, to] = otp ? ['srn', 'otp-srn'] : ['otp-srn', 'srn'];
    if (!$(to).value && $(from).value) $(to).value = $(from).value;
  }

  // ---- logging in ----------------------------------------------------------------------

  async passwordLogin() {
    const srn = $('srn').value.trim();
    const password = $('password').value;
    if (!srn || !password) {
      this.loginError.text('Enter your SRN and password.');
      (srn ? $('password') : $('srn')).focus();
      return;
    }
    const btn = $('login-btn');
    busy(btn, 'Logging in…', true);
    this.loginError.clear();
    show($('fp-done'), false);
    const remember = $('remember').checked;
    try {
      const data = await api.post('/api/auth/login', { srn, password, remember });
      $('password').value = '';
      await this.finish(data, remember);
    } catch (err) {
      this.loginError.error(err);
      if (err instanceof ApiError && err.code === 'invalid_credentials') $('password').select();
    } finally {
      busy(btn, '', false);
    }
  }

  async otpLogin() {
    const srn = $('otp-srn').value.trim();
    const code = $('otp-code').value.trim();
    if (!srn || !code) {
      this.otpError.text(srn ? 'Enter the 6-digit code from the SMS.' : 'Enter your SRN.');
      (srn ? $('otp-code') : $('otp-srn')).focus();
      return;
    }
    const btn = $('otp-login');
    busy(btn, 'Logging in…', true);
    this.otpError.clear();
    const remember = $('otp-remember').checked;
    try {
      const data = await api.post('/api/auth/otp/verify', { srn, code, remember });
      $('otp-code').value = '';
      this.otpSender.reset();
      await this.finish(data, remember);
    } catch (err) {
      this.otpError.error(err);
      if (err instanceof ApiError && err.code === 'invalid_code') $('otp-code').select();
    } finally {
      busy(btn, '', false);
    }
  }

  /** A login-like answer: either in, or the account has two-step verification. */
  async finish(data, remember) {
    if (data?.totp_required) {
      this.askTotp(String(data.challenge ?? ''), remember);
      return;
    }
    this.clearHash();
    await this.hooks.loggedIn(data, { totp: false });
  }

  askTotp(challenge, remember) {
    this.challenge = challenge;
    this.challengeRemember = remember;
    this.totpError.clear();
    $('totp-code').value = '';
    show($('login-methods'), false);
    show($('totp-step'), true);
    this.hooks.showView('login');
    $('totp-code').focus();
  }

  leaveTotp(focus) {
    this.challenge = null;
    this.totpError.clear();
    $('totp-code').value = '';
    show($('totp-step'), false);
    show($('login-methods'), true);
    if (focus) (this.activeTab() === 'otp' ? $('otp-code') : $('password')).focus();
  }

  async totpLogin() {
    const code = $('totp-code').value.replace(/\s+/g, '');
    if (!code) {
      this.totpError.text('Enter the code from your authenticator app, or a recovery code.');
      $('totp-code').focus();
      return;
    }
    const btn = $('totp-submit');
    busy(btn, 'Checking…', true);
    this.totpError.clear();
    try {
      const data = await api.post('/api/auth/totp', {
        challenge: this.challenge, code, remember: this.challengeRemember,
      });
      this.leaveTotp(false);
      this.clearHash();
      await this.hooks.loggedIn(data, { totp: true });
    } catch (err) {
      this.totpError.error(err, { code: WRONG_TOTP, credentials: WRONG_TOTP });
      if (err instanceof ApiError && err.status === 401) $('totp-code').select();
    } finally {
      busy(btn, '', false);
    }
  }

  // ---- first-time activation, forgotten password ---------------------------------------------

  async activate() {
    const srn = $('act-srn').value.trim();
    const code = $('act-code').value.trim();
    this.actError.clear();
    if (!srn || !code) {
      this.actError.text(srn ? 'Enter the 6-digit code from the SMS (press "Send code" first).' : 'Enter your SRN.');
      (srn ? $('act-code') : $('act-srn')).focus();
      return;
    }
    if (!this.actPassword.check()) return;
    const btn = $('act-submit');
    busy(btn, 'Activating…', true);
    try {
      const data = await api.post('/api/auth/activate', { srn, code, new_password: $('act-password').value });
      this.actPassword.reset();
      $('act-code').value = '';
      this.actSender.reset();
      await this.finish(data, false);
    } catch (err) {
      if (!this.actPassword.serverError(err)) this.actError.error(err);
      if (err instanceof ApiError && err.code === 'invalid_code') $('act-code').select();
    } finally {
      busy(btn, '', false);
    }
  }

  async resetPassword() {
    const srn = $('fp-srn').value.trim();
    const code = $('fp-code').value.trim();
    this.fpError.clear();
    if (!srn || !code) {
      this.fpError.text(srn ? 'Enter the 6-digit code from the SMS (press "Send code" first).' : 'Enter your SRN.');
      (srn ? $('fp-code') : $('fp-srn')).focus();
      return;
    }
    if (!this.fpPassword.check()) return;
    const btn = $('fp-submit');
    busy(btn, 'Changing…', true);
    try {
      await api.post('/api/auth/password/reset', { srn, code, new_password: $('fp-password').value });
      this.fpPassword.reset();
      $('fp-code').value = '';
      this.fpSender.reset();
      // Back to the login card, SRN filled in, with the confirmation on top.
      this.clearHash();
      this.resetAll();
      this.selectTab('password');
      $('srn').value = srn;
      setText($('fp-done'), PASSWORD_CHANGED_TEXT);
      show($('fp-done'), true);
      this.hooks.showView('login');
      $('password').focus();
    } catch (err) {
      if (!this.fpPassword.serverError(err)) this.fpError.error(err);
      if (err instanceof ApiError && err.code === 'invalid_code') $('fp-code').select();
    } finally {
      busy(btn, '', false);
    }
  }
}
