// Wording for the proctor page. The reason words come from the student page's format.js, so a
// proctor reads exactly what the student was shown ("Face doesn't match your profile photo").

import { REASON_TEXT, formatWhen, parseTime, statusText } from '../format.js';

export { statusText };

/** A flag's kind (one of the failing reasons) in words. */
export function kindText(kind) {
  if (REASON_TEXT[kind]) return REASON_TEXT[kind];
  const s = String(kind ?? '').replace(/_/g, ' ').trim();
  return s ? s[0].toUpperCase() + s.slice(1) : 'Unknown anomaly';
}

export const REVIEW_TEXT = Object.freeze({
  open: 'Not reviewed yet',
  acknowledged: 'Acknowledged',
  dismissed: 'Dismissed',
  confirmed: 'Confirmed — time voided',
});

export function reviewText(review) {
  return REVIEW_TEXT[review] ?? String(review ?? '');
}

/** What the page does after each review action, for the status line. */
export const ACTION_DONE = Object.freeze({
  acknowledge: 'acknowledged',
  dismiss: 'dismissed',
  confirm: 'confirmed; the flagged time was voided',
  confirm_session: 'confirmed; the whole session\u2019s credit was voided',
  undo: 'reopened; the voided time was restored',
});

const pad = (n) => String(n).padStart(2, '0');

/** "14:03:27" in the browser's time zone. */
export function clockTime(date) {
  if (!(date instanceof Date) || Number.isNaN(date.getTime())) return '';
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/** A server time for lists: "14:03:27" today, "11 Apr 10:00" on another day. */
export function whenText(value) {
  const date = value instanceof Date ? value : parseTime(value);
  if (!date) return '';
  const now = new Date();
  const today = date.getFullYear() === now.getFullYear() && date.getMonth() === now.getMonth()
    && date.getDate() === now.getDate();
  return today ? clockTime(date) : formatWhen(date);
}

/** Epoch milliseconds of a server time, or null. */
export function ms(value) {
  const d = parseTime(value);
  return d ? d.getTime() : null;
}

/** "Asha Rao (SRN123)" */
export function studentText(student) {
  const name = String(student?.name ?? '').trim();
  const srn = String(student?.srn ?? '').trim();
  if (name && srn) return `${name} (${srn})`;
  return name || srn || 'Unknown student';
}

/** The tile's level: an unreviewed flag outranks everything, then not verified. */
export function levelOf(session) {
  if ((session.open_flags?.length ?? 0) > 0) return 'flagged';
  return session.state === 'verified' ? 'verified' : 'unverified';
}

export function plural(n, one, many = `${one}s`) {
  return `${n} ${n === 1 ? one : many}`;
}
