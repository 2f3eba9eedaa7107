// "An SMS code, then a new password": first-time activation and the forgotten-password reset are
// the same form with different words and endpoints. Both are copies of one <template>
// (#code-form-template in index.html), cloned into the section the page gives each.

import { ApiError, api } from './api.js';
import {
  block, cloneTemplate, digitsOnly, part, resetRevealButtons, setText, show, wireRevealButtons,
} from './dom.js';
import { CodeSender, ErrorLine, NewPassword, busy } from './widgets.js';

/**
 * @typedef {object} CodeFormOptions
 * @property {string} prefix     ids of the copy: PREFIX-srn, PREFIX-code, … (labels and tests use them)
 * @property {string} title
 * @property {string} lead
 * @property {string} [note]     a line above the submit button
 * @property {string} submit     the submit button's words
 * @property {string} busy       …while the request runs
 * @property {string} sendPath   POST {srn}: sends the SMS code
 * @property {string} path       POST {srn, code, new_password}
 * @property {(data: object, srn: string) => Promise<void>} done
 */

export class CodeForm {
  /**
   * @param {HTMLElement} root  an empty section; the template's copy goes inside it
   * @param {HTMLTemplateElement} template
   * @param {CodeFormOptions} opts
   */
  constructor(root, template, opts) {
    this.root = root;
    this.opts = opts;
    root.replaceChildren(cloneTemplate(template, opts.prefix));
    this.title = part(root, 'title');
    root.setAttribute('aria-labelledby', this.title.id);
    setText(this.title, opts.title);
    setText(part(root, 'lead'), opts.lead);
    const note = part(root, 'note');
    setText(note, opts.note ?? '');
    show(note, Boolean(opts.note));
    this.submitBtn = part(root, 'submit');
    setText(this.submitBtn, opts.submit);

    this.srn = part(root, 'srn');
    this.code = part(root, 'code');
    this.error = new ErrorLine(part(root, 'error'));
    this.sender = new CodeSender(root, { path: opts.sendPath, error: this.error });
    this.password = new NewPassword(root, { login: () => this.srn.value });
    digitsOnly(this.code);
    wireRevealButtons(root);
    part(root, 'form').addEventListener('submit', (e) => { e.preventDefault(); this.submit(); });
  }

  /** About to be shown: start from the SRN the login card had, unless one was typed here already. */
  open(srn) {
    if (!this.srn.value) this.srn.value = srn;
  }

  reset() {
    this.error.clear();
    this.code.value = '';
    this.password.reset();
    resetRevealButtons(this.root);
  }

  setMaintenance(on) {
    block(this.sender.button, 'maintenance', on);
    block(this.submitBtn, 'maintenance', on);
  }

  async submit() {
    const srn = this.srn.value.trim();
    const code = this.code.value.trim();
    this.error.clear();
    if (!srn || !code) {
      this.error.text(srn ? 'Enter the 6-digit code from the SMS (press "Send code" first).' : 'Enter your SRN.');
      (srn ? this.code : this.srn).focus();
      return;
    }
    if (!this.password.check()) return;
    busy(this.submitBtn, this.opts.busy, true);
    try {
      const data = await api.post(this.opts.path, { srn, code, new_password: this.password.input.value });
      this.password.reset();
      this.code.value = '';
      this.sender.reset();
      await this.opts.done(data, srn);
    } catch (err) {
      if (!this.password.serverError(err)) this.error.error(err);
      if (err instanceof ApiError && err.code === 'invalid_code') this.code.select();
    } finally {
      busy(this.submitBtn, '', false);
    }
  }
}
