// Small widgets the forms of both pages share: an error line that counts down a lockout, a busy
// button, the "Send code" button, a new password with its rules, and WAI-ARIA tabs.
//
// Each takes its root element and finds its children inside it (data-part), so the same widget
// serves the login card, the activation and reset forms and the Security card.

import { ApiError, api } from './api.js';
import { block, countdown, el, fieldError, part, setText, show } from './dom.js';
import { passwordPolicy } from './config.js';
import { formatWait } from './format.js';

const RESEND_COOLDOWN_S = 30;
const CODE_SENT_TEXT = 'If this SRN is registered, a 6-digit code was sent to its mobile.';
const WRONG_CODE = 'That code is wrong or has expired. Check the SMS, or send a new code.';

/** Words for a failed call; `wrong` overrides what a 401 for what was typed says. */
function messageFor(err, wrong = {}) {
  if (!(err instanceof ApiError)) return 'Something went wrong. Please try again.';
  if (err.code === 'invalid_credentials' || err.code === 'http_401') {
    return wrong.credentials ?? 'Wrong SRN or password.';
  }
  if (err.code === 'invalid_code') return wrong.code ?? WRONG_CODE;
  return err.message;
}

/** A submit button that says what it is doing ("Logging in…") and can't be pressed twice. */
export function busy(button, text, on) {
  if (on) {
    button.dataset.idleText = button.textContent;
    setText(button, text);
  } else if (button.dataset.idleText) {
    setText(button, button.dataset.idleText);
    delete button.dataset.idleText;
  }
  block(button, 'busy', on);
}

/**
 * An error line that can count down: "Too many attempts. Your account is locked — try again
 * in 14 min 32 s." for a 423, the same idea for a 429 (too many tries from this network).
 */
export class ErrorLine {
  /** @param {HTMLElement} node  the line itself (a role="alert" paragraph) */
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

/**
 * "Send code": always the same answer (the server never says whether the SRN exists), then 30 s
 * of rest. Root holds data-part srn, send, sent (the status line) and code.
 */
export class CodeSender {
  /** @param {HTMLElement} root  @param {{path: string, error: ErrorLine}} opts */
  constructor(root, { path, error }) {
    this.srn = part(root, 'srn');
    this.button = part(root, 'send');
    this.status = part(root, 'sent');
    this.code = part(root, 'code');
    this.path = path;
    this.error = error;
    this.cancel = null;
    this.button.addEventListener('click', () => this.send());
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
 * A new password with its confirmation, the rules list (from the server's policy, ticked as the
 * user types) and per-field errors, including the server's 400 weak_password. Root holds
 * data-part password, password2, password-error, password2-error and policy (the <ul>).
 */
export class NewPassword {
  /** @param {HTMLElement} root  @param {{login: () => string}} opts  the SRN or username it must not contain */
  constructor(root, { login }) {
    this.input = part(root, 'password');
    this.input2 = part(root, 'password2');
    this.errorNode = part(root, 'password-error');
    this.error2Node = part(root, 'password2-error');
    this.list = part(root, 'policy');
    this.login = login;
    this.policy = null;
    this.input.addEventListener('input', () => {
      this.tick();
      fieldError(this.input, this.errorNode, '');
    });
    this.input2.addEventListener('input', () => fieldError(this.input2, this.error2Node, ''));
    this.loadPolicy();
  }

  /** Render the rules once the policy is known (asked again on reset if it failed). */
  async loadPolicy() {
    if (this.policy) return;
    const policy = await passwordPolicy();
    if (!policy || this.policy) return;
    this.policy = policy;
    this.list.replaceChildren(...policy.rules.map((r) => el('li', { dataset: { rule: String(r.id) },
      text: String(r.text) })));
    this.tick();
  }

  loginName() {
    return (this.login() || '').trim().toLowerCase();
  }

  /** Tick the rules the page can judge; "not a common password" only the server knows. */
  tick() {
    const pw = this.input.value;
    const login = this.loginName();
    const met = {
      length: Boolean(this.policy) && pw.length >= this.policy.min_length
        && pw.length <= this.policy.max_length,
      login: Boolean(pw && login && !pw.toLowerCase().includes(login)),
    };
    for (const item of this.list.children) item.classList.toggle('met', Boolean(met[item.dataset.rule]));
  }

  clear() {
    fieldError(this.input, this.errorNode, '');
    fieldError(this.input2, this.error2Node, '');
  }

  reset() {
    this.input.value = '';
    this.input2.value = '';
    this.clear();
    this.tick();
    this.loadPolicy();
  }

  /** Checks what can be checked here; shows the problem and returns false if there is one. */
  check() {
    this.clear();
    const pw = this.input.value;
    const login = this.loginName();
    const { min_length: min, max_length: max } = this.policy ?? {};
    let problem = null;
    if (min && pw.length < min) {
      problem = [this.input, this.errorNode, `Use at least ${min} characters.`];
    } else if (max && pw.length > max) {
      problem = [this.input, this.errorNode, `Use at most ${max} characters.`];
    } else if (login && pw.toLowerCase().includes(login)) { // as the server: not even inside it
      problem = [this.input, this.errorNode, "Don't use your SRN or username in your password."];
    } else if (pw !== this.input2.value) {
      problem = [this.input2, this.error2Node, "The two passwords don't match."];
    }
    if (!problem) return true;
    fieldError(...problem);
    problem[0].focus();
    return false;
  }

  /** A 400 weak_password goes next to the field; returns whether it was one. */
  serverError(err) {
    if (!(err instanceof ApiError) || err.code !== 'weak_password') return false;
    const rules = this.policy?.rules.map((r) => r.text).join('; ');
    fieldError(this.input, this.errorNode,
      err.message || `Choose a stronger password${rules ? ` (${rules})` : ''}.`);
    this.input.focus();
    this.input.select();
    return true;
  }
}

/**
 * WAI-ARIA tabs: arrows move between tabs, Tab goes into the panel. Root holds the
 * [role="tab"] buttons, each naming its [role="tabpanel"] (also inside root) by aria-controls.
 */
export class Tabs {
  /** @param {HTMLElement} root  @param {(name: string) => void} [onSelect]  called with the tab's data-tab */
  constructor(root, onSelect = () => {}) {
    this.tabs = [...root.querySelectorAll('[role="tab"]')];
    this.panels = new Map(this.tabs.map((tab) => [tab,
      root.querySelector(`#${CSS.escape(tab.getAttribute('aria-controls'))}`)]));
    this.onSelect = onSelect;
    this.tabs.forEach((tab, i) => {
      tab.addEventListener('click', () => this.select(tab.dataset.tab));
      tab.addEventListener('keydown', (e) => {
        const n = this.tabs.length;
        const next = { ArrowRight: i + 1, ArrowDown: i + 1, ArrowLeft: i - 1 + n, ArrowUp: i - 1 + n,
          Home: 0, End: n - 1 }[e.key];
        if (next === undefined) return;
        e.preventDefault();
        const to = this.tabs[next % n];
        this.select(to.dataset.tab);
        to.focus();
      });
    });
  }

  get active() {
    return this.tabs.find((t) => t.getAttribute('aria-selected') === 'true')?.dataset.tab;
  }

  select(name) {
    for (const tab of this.tabs) {
      const selected = tab.dataset.tab === name;
      tab.setAttribute('aria-selected', String(selected));
      tab.tabIndex = selected ? 0 : -1;
      show(this.panels.get(tab), selected);
    }
    this.onSelect(name);
  }
}
