// Pure formatting helpers (no DOM), kept apart so they are easy to check in isolation.

// The exact wording the student sees for each verification reason. The server's
// vocabulary is fixed by the contract; these strings are part of the UI contract too.
export const REASON_TEXT = Object.freeze({
  no_face: 'No face in view',
  multiple_faces: 'More than one person in view',
  mismatch: "Face doesn't match your profile photo",
  low_quality: 'Picture too dark or blurry',
  camera_lost: 'Camera feed lost',
  verifier_unavailable: 'Verification is catching up — time is paused',
  tab_hidden: 'This page is hidden — time is paused',
  static_image: 'Your camera shows a still picture — use your real camera',
  liveness_failed: 'Head-turn check missed — turn your head, not the laptop',
  virtual_camera: 'A virtual camera is in use',
  not_started: 'Starting verification…',
  ended: 'Session ended',
});

/** Text for the big status element: "Verified", or the reason in plain words. */
export function statusText(state, reason) {
  if (state === 'verified') return 'Verified';
  return REASON_TEXT[reason] ?? 'Not verified — time is paused';
}

function wholeSeconds(seconds) {
  const n = Number(seconds);
  // Floor, never round: we must never show time the server has not credited.
  return Number.isFinite(n) && n > 0 ? Math.floor(n) : 0;
}

/** 6 → "0:00:06", 45296 → "12:34:56". */
export function formatClock(seconds) {
  const total = wholeSeconds(seconds);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return `${h}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}`;
}

/** Hours with one decimal, floored: 45000 → "12.5 h", 144000 → "40 h". */
export function formatHours(seconds) {
  const tenths = Math.floor(wholeSeconds(seconds) / 360); // 0.1 h = 360 s
  const whole = tenths % 10 === 0;
  return `${whole ? tenths / 10 : (tenths / 10).toFixed(1)} h`;
}

/** "12.5 h of 40 h" */
export function formatHoursOf(done, required) {
  return `${formatHours(done)} of ${formatHours(required)}`;
}

/** Short human duration for tables: "3 h 5 min", "45 min", "0 min". */
export function formatDuration(seconds) {
  const total = wholeSeconds(seconds);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  return h > 0 ? `${h} h ${m} min` : `${m} min`;
}

/** "Set A — Corporate and Economic Laws" (tolerates a set given as "A" or "Set A"). */
export function moduleLabel(module) {
  const set = String(module?.set ?? '').trim();
  const title = String(module?.title ?? '').trim();
  if (!set) return title;
  const setName = /^set\b/i.test(set) ? set : `Set ${set}`;
  return title ? `${setName} — ${title}` : setName;
}

/** Whole percent, floored and clamped to 0..100. */
export function percent(done, required) {
  const r = Number(required);
  if (!Number.isFinite(r) || r <= 0) return 0;
  return Math.min(100, Math.max(0, Math.floor((wholeSeconds(done) / r) * 100)));
}

/** A wait in words, for countdowns: 872 → "14 min 32 s", 45 → "45 s", 3700 → "1 h 1 min 40 s". */
export function formatWait(seconds) {
  const total = Math.max(0, Math.ceil(Number(seconds) || 0)); // round up: never say "0 s" too early
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h > 0) return `${h} h ${m} min ${s} s`;
  return m > 0 ? `${m} min ${s} s` : `${s} s`;
}

/**
 * A server time as a Date: epoch seconds (number or numeric string; milliseconds if huge)
 * or an ISO 8601 string. null when it can't be read.
 */
export function parseTime(value) {
  if (value === null || value === undefined || value === '') return null;
  let n = typeof value === 'number' ? value : (/^\s*\d+(\.\d+)?\s*$/.test(String(value)) ? Number(value) : NaN);
  if (Number.isFinite(n)) {
    if (n > 1e11) n /= 1000; // already milliseconds
    return new Date(n * 1000);
  }
  const ms = Date.parse(String(value));
  return Number.isFinite(ms) ? new Date(ms) : null;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** "11 Apr 10:00" in the browser's time zone (24-hour clock, as ICAI notices write it). */
export function formatWhen(date) {
  if (!(date instanceof Date) || Number.isNaN(date.getTime())) return '';
  const hh = String(date.getHours()).padStart(2, '0');
  const mm = String(date.getMinutes()).padStart(2, '0');
  return `${date.getDate()} ${MONTHS[date.getMonth()]} ${hh}:${mm}`;
}

/** "Mozilla/5.0 (Windows NT 10.0; …) … Chrome/124 …" → "Chrome on Windows". */
export function shortUserAgent(ua) {
  const s = String(ua ?? '');
  if (!s.trim()) return 'Unknown device';
  const browser = [
    [/\bEdg(e|A|iOS)?\//, 'Edge'],
    [/\b(OPR|Opera)\//, 'Opera'],
    [/\bSamsungBrowser\//, 'Samsung Internet'],
    [/\b(Firefox|FxiOS)\//, 'Firefox'],
    [/\b(Chrome|Chromium|HeadlessChrome|CriOS)\//, 'Chrome'],
    [/\bVersion\/[\d.]+.*\bSafari\//, 'Safari'],
    [/\bcurl\//, 'curl'],
    [/\bpython/i, 'Python script'],
  ].find(([re]) => re.test(s))?.[1];
  const os = [
    [/\b(iPhone|iPad|iPod)\b/, 'iOS'],
    [/\bAndroid\b/, 'Android'],
    [/\bWindows\b/, 'Windows'],
    [/\bCrOS\b/, 'ChromeOS'],
    [/\bMac OS X\b|\bMacintosh\b/, 'macOS'],
    [/\bLinux\b/, 'Linux'],
  ].find(([re]) => re.test(s))?.[1];
  if (browser && os) return `${browser} on ${os}`;
  if (browser || os) return browser || os;
  return s.length > 40 ? `${s.slice(0, 37)}…` : s;
}
