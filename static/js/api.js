// Thin fetch wrapper for the proctor JSON API.
//
// Why a wrapper: every call needs the same things — same-origin cookies, JSON in/out,
// the CSRF header on POSTs, a timeout (a hung request must not freeze the page), and
// errors turned into one shape ({status, code, message}) so the UI can always show
// `message` to the student. Cross-cutting conditions (maintenance, expired login) are
// announced as events so each caller doesn't have to handle them.

const DEFAULT_TIMEOUT_MS = 15000;

/** Error thrown for every failed call. status 0 means the server was not reached. */
export class ApiError extends Error {
  constructor(status, code, message, extra = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    /** Seconds until trying again makes sense (423 lockout, 429, 503), or null. */
    this.retryAfter = Number.isFinite(extra.retryAfter) ? extra.retryAfter : null;
    /** The whole `error` object from the server (may carry more fields). */
    this.details = extra.details ?? {};
  }

  /** Worth retrying later: network trouble, timeouts, rate limits and server-side errors. */
  get retryable() {
    return this.status === 0 || this.status === 408 || this.status === 429 || this.status >= 500;
  }
}

/**
 * Events:
 *  - "maintenance" (detail: {message, retryAfter, path}) on a 503 with code "maintenance"
 *  - "unauthorized" (detail: {path}) on a 401 that means "not logged in": a 401 from an
 *    /api/auth/ call that only rejects what was typed (wrong password or code) is not one
 *  - "ok" (detail: {path}) after any successful response
 */
export const apiEvents = new EventTarget();

// The CSRF token lives only in memory: it comes from /api/me and /api/auth/login
// responses and is re-read after a reload via /api/me.
let csrfToken = null;

export function setCsrfToken(token) {
  csrfToken = typeof token === 'string' && token ? token : null;
}

function fallbackMessage(status) {
  if (status === 401) return 'Please log in again.';
  if (status === 403) return 'You are not allowed to do that.';
  if (status === 404) return 'Not found.';
  if (status === 429) return 'Too many attempts. Please wait a minute and try again.';
  if (status === 503) return 'The service is temporarily unavailable. Please try again shortly.';
  if (status >= 500) return 'Something went wrong on the server. Please try again.';
  return `The request failed (HTTP ${status}).`;
}

/** Retry-After is either delta-seconds or an HTTP date; null when absent or unreadable. */
export function parseRetryAfter(value, now = Date.now()) {
  if (value === null || value === undefined || value === '') return null;
  const text = String(value).trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  const at = Date.parse(text);
  return Number.isFinite(at) ? Math.max(0, (at - now) / 1000) : null;
}

function retryAfterOf(info, data, res) {
  for (const v of [info.retry_after_s, data?.retry_after_s]) {
    const n = Number(v);
    if (v !== undefined && v !== null && Number.isFinite(n)) return Math.max(0, n);
  }
  return parseRetryAfter(res.headers.get('Retry-After'));
}

function emit(type, detail) {
  apiEvents.dispatchEvent(new CustomEvent(type, { detail }));
}

async function parseBody(res) {
  const text = await res.text();
  if (!text) return {};
  try {
    return JSON.parse(text);
  } catch {
    return null; // e.g. an HTML error page from a proxy
  }
}

async function request(method, path, body, options = {}) {
  const { timeoutMs = DEFAULT_TIMEOUT_MS, retryOnCsrf = true, keepalive = false } = options;
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  // Before the first login there may be no token yet; the server decides whether the
  // login call needs one, so we simply send it whenever we have it.
  if (method !== 'GET' && csrfToken) headers['X-CSRF-Token'] = csrfToken;

  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  let res;
  let data;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
      keepalive,
      signal: controller.signal,
    });
    data = await parseBody(res);
  } catch (err) {
    if (controller.signal.aborted) {
      throw new ApiError(0, 'timeout',
        'The server took too long to answer. Check your internet connection and try again.');
    }
    throw new ApiError(0, 'network',
      "Can't reach the server. Check your internet connection and try again.");
  } finally {
    clearTimeout(timer);
  }

  // Keep any token the server hands out (login, /api/me, and possibly a pre-login 401).
  if (data && typeof data.csrf_token === 'string') setCsrfToken(data.csrf_token);

  if (res.ok) {
    emit('ok', { path });
    return data ?? {};
  }

  const info = data && typeof data.error === 'object' && data.error ? data.error : {};
  const code = typeof info.code === 'string' && info.code ? info.code : `http_${res.status}`;
  const message = typeof info.message === 'string' && info.message
    ? info.message : fallbackMessage(res.status);

  // A stale CSRF token (e.g. rotated by a login in another tab) is recoverable:
  // re-read it from /api/me and try the POST once more.
  if (res.status === 403 && /csrf/i.test(code) && retryOnCsrf && method !== 'GET') {
    try {
      await request('GET', '/api/me', undefined, { retryOnCsrf: false });
      return await request(method, path, body, { ...options, retryOnCsrf: false });
    } catch {
      // fall through to report the original error
    }
  }

  const retryAfter = retryAfterOf(info, data, res);
  if (res.status === 503 && code === 'maintenance') emit('maintenance', { message, retryAfter, path });
  // Auth calls answer 401 for a wrong password or code (invalid_credentials, invalid_code):
  // that is the student's typo, not an expired login.
  const typedWrong = path.startsWith('/api/auth/') && code !== 'unauthorized';
  if (res.status === 401 && !typedWrong) emit('unauthorized', { path });
  throw new ApiError(res.status, code, message, { retryAfter, details: info });
}

export const api = {
  get: (path, options) => request('GET', path, undefined, options),
  post: (path, body = {}, options) => request('POST', path, body, options),
  put: (path, body = {}, options) => request('PUT', path, body, options),
  del: (path, options) => request('DELETE', path, undefined, options),
};
