// Logging in, the same way on the student page and the proctor page: a password form, then the
// two-step (authenticator) prompt when the account has it, with lockout countdowns and the
// same error words on both.
//
//   LoginSteps    the card: the login methods, swapped for the TOTP step when the server asks
//   PasswordForm  a login name (SRN or username) and password, with optional "remember me"
//   TotpStep      an authenticator or recovery code for the challenge the first step returned

import { ApiError, api } from './api.js';
import { block, maybePart, part, resetRevealButtons, show, wireRevealButtons } from './dom.js';
import { ErrorLine, busy } from './widgets.js';

const WRONG_TOTP = "That code didn't work. Enter the code your app shows now (it changes every "
  + '30 seconds), or one of your recovery codes.';

/** The two-step prompt. Root holds data-part code, error, submit and cancel; it is the form or holds it. */
export class TotpStep {
  /** @param {HTMLElement} root  @param {{done: (data: object) => Promise<void>, back: () => void}} hooks */
  constructor(root, hooks) {
    this.root = root;
    this.hooks = hooks;
    this.code = part(root, 'code');
    this.submitBtn = part(root, 'submit');
    this.error = new ErrorLine(part(root, 'error'));
    this.challenge = null;
    this.remember = false;
    const form = root.matches('form') ? root : root.querySelector('form');
    form.addEventListener('submit', (e) => { e.preventDefault(); this.submit(); });
    part(root, 'cancel').addEventListener('click', () => this.hooks.back());
  }

  get active() {
    return this.challenge !== null;
  }

  ask(challenge, remember) {
    this.challenge = challenge;
    this.remember = remember;
    this.error.clear();
    this.code.value = '';
    show(this.root, true);
    this.code.focus();
  }

  leave() {
    this.challenge = null;
    this.error.clear();
    this.code.value = '';
    show(this.root, false);
  }

  setMaintenance(on) {
    block(this.submitBtn, 'maintenance', on);
  }

  async submit() {
    const code = this.code.value.replace(/\s+/g, '');
    if (!code) {
      this.error.text('Enter the code from your authenticator app, or a recovery code.');
      this.code.focus();
      return;
    }
    busy(this.submitBtn, 'Checking…', true);
    this.error.clear();
    try {
      const data = await api.post('/api/auth/totp', { challenge: this.challenge, code, remember: this.remember });
      this.leave();
      await this.hooks.done(data);
    } catch (err) {
      this.error.error(err, { code: WRONG_TOTP, credentials: WRONG_TOTP });
      if (err instanceof ApiError && err.status === 401) this.code.select();
    } finally {
      busy(this.submitBtn, '', false);
    }
  }
}

/**
 * The login card. Root holds data-part methods (every way of giving a first factor) and totp
 * (the TotpStep). Any first step hands its answer to answer().
 */
export class LoginSteps {
  /**
   * @param {HTMLElement} root
   * @param {object} hooks
   * @param {(data: object, how: {totp: boolean}) => Promise<void>} hooks.loggedIn
   * @param {() => void} hooks.back   "Back" from the TOTP step
   */
  constructor(root, hooks) {
    this.hooks = hooks;
    this.methods = part(root, 'methods');
    this.totp = new TotpStep(part(root, 'totp'), {
      done: (data) => {
        show(this.methods, true);
        return hooks.loggedIn(data, { totp: true });
      },
      back: () => hooks.back(),
    });
  }

  /** A login-like answer: either in, or the account has two-step verification. */
  async answer(data, remember) {
    if (data?.totp_required) {
      show(this.methods, false);
      this.totp.ask(String(data.challenge ?? ''), remember);
      return;
    }
    await this.hooks.loggedIn(data, { totp: false });
  }

  /** Back to the login methods (logged out, or "Back" from the TOTP step). */
  leaveTotp() {
    this.totp.leave();
    show(this.methods, true);
  }

  setMaintenance(on) {
    this.totp.setMaintenance(on);
  }
}

/**
 * Login name and password. Root is the <form>, holding data-part login, password, error, submit
 * and, if the page offers it, remember (a checkbox).
 */
export class PasswordForm {
  /**
   * @param {HTMLFormElement} root
   * @param {object} opts
   * @param {'srn'|'username'} opts.field      what the login name is sent as
   * @param {string} opts.what                 the login name in words ("SRN", "username")
   * @param {string} [opts.wrong]              the words for a wrong name or password
   * @param {(data: object, remember: boolean) => Promise<void>} opts.answer
   * @param {() => void} [opts.starting]       called as a login starts (to clear other notices)
   */
  constructor(root, opts) {
    this.root = root;
    this.opts = opts;
    this.login = part(root, 'login');
    this.password = part(root, 'password');
    this.remember = maybePart(root, 'remember');
    this.submitBtn = part(root, 'submit');
    this.error = new ErrorLine(part(root, 'error'));
    wireRevealButtons(root);
    root.addEventListener('submit', (e) => { e.preventDefault(); this.submit(); });
  }

  reset() {
    this.password.value = '';
    this.error.clear();
    resetRevealButtons(this.root);
  }

  setMaintenance(on) {
    block(this.submitBtn, 'maintenance', on);
  }

  async submit() {
    const login = this.login.value.trim();
    const password = this.password.value;
    if (!login || !password) {
      this.error.text(`Enter your ${this.opts.what} and password.`);
      (login ? this.password : this.login).focus();
      return;
    }
    busy(this.submitBtn, 'Logging in…', true);
    this.error.clear();
    this.opts.starting?.();
    const remember = Boolean(this.remember?.checked);
    const body = { [this.opts.field]: login, password };
    if (this.remember) body.remember = remember;
    try {
      const data = await api.post('/api/auth/login', body);
      this.password.value = '';
      await this.opts.answer(data, remember);
    } catch (err) {
      this.error.error(err, { credentials: this.opts.wrong });
      if (err instanceof ApiError && err.code === 'invalid_credentials') this.password.select();
    } finally {
      busy(this.submitBtn, '', false);
    }
  }
}
