// The student page before login: the login card (password or a code by SMS, then the two-step
// prompt if the account has it), first-time activation and the forgotten-password reset.
//
// The logged-out views are addressed by the URL hash (#activate, #forgot, anything else is
// the login card), so the browser's Back button works between them.

import { ApiError, api } from './api.js';
import { CodeForm } from './code-form.js';
import { block, digitsOnly, part, setText, show } from './dom.js';
import { LoginSteps, PasswordForm } from './login.js';
import { CodeSender, ErrorLine, Tabs, busy } from './widgets.js';

const PASSWORD_CHANGED_TEXT = 'Password changed. Sign in with your new password.';
const SMS_TEXT = "We'll text a code to the mobile number registered with your SRN.";

const ACTIVATE = {
  prefix: 'act',
  title: 'Activate your account',
  lead: `${SMS_TEXT} Then choose your password.`,
  submit: 'Activate and log in',
  busy: 'Activating…',
  sendPath: '/api/auth/activate/request',
  path: '/api/auth/activate',
};

const FORGOT = {
  prefix: 'fp',
  title: 'Reset your password',
  lead: `${SMS_TEXT} The code is valid for 15 minutes.`,
  note: 'Changing your password signs you out on every device.',
  submit: 'Change password',
  busy: 'Changing…',
  sendPath: '/api/auth/password/forgot',
  path: '/api/auth/password/reset',
};

/** Logging in with a code sent by SMS. Root is the form: srn, send, sent, code, remember, error, submit. */
class SmsLogin {
  /** @param {HTMLFormElement} root  @param {(data: object, remember: boolean) => Promise<void>} answer */
  constructor(root, answer) {
    this.answer = answer;
    this.srn = part(root, 'srn');
    this.code = part(root, 'code');
    this.remember = part(root, 'remember');
    this.submitBtn = part(root, 'submit');
    this.error = new ErrorLine(part(root, 'error'));
    this.sender = new CodeSender(root, { path: '/api/auth/otp/request', error: this.error });
    digitsOnly(this.code);
    root.addEventListener('submit', (e) => { e.preventDefault(); this.submit(); });
  }

  reset() {
    this.code.value = '';
    this.error.clear();
  }

  setMaintenance(on) {
    block(this.sender.button, 'maintenance', on);
    block(this.submitBtn, 'maintenance', on);
  }

  async submit() {
    const srn = this.srn.value.trim();
    const code = this.code.value.trim();
    if (!srn || !code) {
      this.error.text(srn ? 'Enter the 6-digit code from the SMS.' : 'Enter your SRN.');
      (srn ? this.code : this.srn).focus();
      return;
    }
    busy(this.submitBtn, 'Logging in…', true);
    this.error.clear();
    const remember = this.remember.checked;
    try {
      const data = await api.post('/api/auth/otp/verify', { srn, code, remember });
      this.code.value = '';
      this.sender.reset();
      await this.answer(data, remember);
    } catch (err) {
      this.error.error(err);
      if (err instanceof ApiError && err.code === 'invalid_code') this.code.select();
    } finally {
      busy(this.submitBtn, '', false);
    }
  }
}

export class StudentLogin {
  /**
   * @param {object} roots
   * @param {HTMLElement} roots.login      the login card
   * @param {HTMLElement} roots.activate   an empty section for the activation form
   * @param {HTMLElement} roots.forgot     an empty section for the reset form
   * @param {HTMLTemplateElement} roots.template  the code-and-new-password form both are made from
   * @param {object} hooks
   * @param {(name: string) => void} hooks.showView   'login' | 'activate' | 'forgot'
   * @param {() => boolean} hooks.isLoggedIn
   * @param {(data: object, how: {totp: boolean}) => Promise<void>} hooks.loggedIn
   */
  constructor(roots, hooks) {
    this.hooks = hooks;
    const card = roots.login;
    this.title = part(card, 'title');
    this.done = part(card, 'done');
    this.blocked = part(card, 'blocked');

    this.steps = new LoginSteps(card, {
      loggedIn: async (data, how) => {
        this.clearHash();
        await hooks.loggedIn(data, how);
      },
      back: () => {
        this.steps.leaveTotp();
        this.focusMethod();
      },
    });
    const answer = async (data, remember) => {
      if (data?.totp_required) hooks.showView('login'); // activation may end on the login card's prompt
      await this.steps.answer(data, remember);
    };
    this.password = new PasswordForm(part(card, 'password-form'), {
      field: 'srn', what: 'SRN', answer, starting: () => show(this.done, false),
    });
    this.sms = new SmsLogin(part(card, 'sms-form'), answer);
    this.tabs = new Tabs(part(card, 'methods'), (name) => this.carrySrn(name));
    this.activate = new CodeForm(roots.activate, roots.template, {
      ...ACTIVATE, done: (data) => answer(data, false),
    });
    this.forgot = new CodeForm(roots.forgot, roots.template, {
      ...FORGOT, done: (_, srn) => this.passwordChanged(srn),
    });
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
    const form = { activate: this.activate, forgot: this.forgot }[view];
    if (form) {
      show(this.done, false);
      form.open(this.password.login.value.trim() || this.sms.srn.value.trim());
    }
    this.hooks.showView(view);
    if (focus) (form?.title ?? this.title).focus();
  }

  clearHash() {
    if (window.location.hash) {
      window.history.replaceState(null, '', window.location.pathname + window.location.search);
    }
  }

  /** Logged out (or never in): the login card, with an optional message in its error line. */
  showLoggedOut(message = '') {
    this.resetAll();
    this.password.error.text(message);
    if (this.viewFromHash() !== 'login') {
      this.route(false);
      return;
    }
    this.hooks.showView('login');
    (this.tabs.active === 'otp' ? this.sms.srn : this.password.login).focus();
  }

  resetAll() {
    this.steps.leaveTotp();
    for (const form of [this.password, this.sms, this.activate, this.forgot]) form.reset();
  }

  /** Called with the text while maintenance is on, null when it ends. */
  setMaintenance(text) {
    setText(this.blocked, text ?? '');
    for (const form of [this.password, this.sms, this.steps, this.activate, this.forgot]) {
      form.setMaintenance(Boolean(text));
    }
  }

  focusMethod() {
    (this.tabs.active === 'otp' ? this.sms.code : this.password.password).focus();
  }

  /** Carry the SRN across tabs, so switching method doesn't mean typing it again. */
  carrySrn(tab) {
    const [from, to] = tab === 'otp' ? [this.password.login, this.sms.srn] : [this.sms.srn, this.password.login];
    if (!to.value && from.value) to.value = from.value;
  }

  /** After a reset: back to the login card, SRN filled in, with the confirmation on top. */
  passwordChanged(srn) {
    this.clearHash();
    this.resetAll();
    this.tabs.select('password');
    this.password.login.value = srn;
    setText(this.done, PASSWORD_CHANGED_TEXT);
    show(this.done, true);
    this.hooks.showView('login');
    this.password.password.focus();
  }
}
