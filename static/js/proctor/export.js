// The CSV export: two dates (default: this month so far) → a download link to
// /api/proctor/export.csv?from=YYYY-MM-DD&to=YYYY-MM-DD.

import { part, setText } from '../dom.js';

const pad = (n) => String(n).padStart(2, '0');
const iso = (d) => `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;

function invalid(input, on) {
  if (on) input.setAttribute('aria-invalid', 'true');
  else input.removeAttribute('aria-invalid');
}

/** This month so far, in UTC days like the export itself. */
export function thisMonth(now = new Date()) {
  return { from: iso(new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1))), to: iso(now) };
}

export function exportUrl(from, to) {
  return `/api/proctor/export.csv?${new URLSearchParams({ from, to })}`;
}

export class ExportForm {
  /** @param {HTMLFormElement} root  the form: data-part from, to, error, link */
  constructor(root) {
    this.form = root;
    this.from = part(root, 'from');
    this.to = part(root, 'to');
    this.link = part(root, 'link');
    this.error = part(root, 'error');
    const { from, to } = thisMonth();
    this.from.value = from;
    this.to.value = to;
    this.update();
    for (const input of [this.from, this.to]) input.addEventListener('input', () => this.update());
    // Enter in a date field downloads, like pressing the link.
    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      if (this.update()) this.link.click();
    });
    this.link.addEventListener('click', (e) => {
      if (!this.update()) e.preventDefault();
    });
  }

  /** Validate and refresh the link; false (with the reason shown) when the range is unusable. */
  update() {
    const from = this.from.value;
    const to = this.to.value;
    let problem = '';
    if (!from || !to) problem = 'Choose both dates.';
    else if (from > to) problem = 'The “From” date must not be after the “To” date.';
    setText(this.error, problem);
    invalid(this.from, Boolean(problem) && (!from || from > to));
    invalid(this.to, Boolean(problem) && !to);
    this.link.setAttribute('aria-disabled', String(Boolean(problem)));
    if (problem) return false;
    this.link.href = exportUrl(from, to);
    this.link.download = `proctor-${from}-to-${to}.csv`;
    setText(this.link, 'Download CSV');
    return true;
  }
}
