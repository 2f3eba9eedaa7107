// What GET /api/config tells every page: ICE servers, the sample interval, the password policy.
//
// Asked once per page and shared, because the student page needs it for the camera stream and the
// password forms, and the proctor page for the live view. A failed answer is forgotten, so the
// next caller asks again instead of being stuck with nothing.

import { api } from './api.js';

let pending = null;

/** The whole config object; rejects (and is asked again next time) when the server can't answer. */
export function serverConfig() {
  if (!pending) {
    pending = api.get('/api/config').catch((err) => {
      pending = null;
      throw err;
    });
  }
  return pending;
}

/**
 * {min_length, max_length, rules: [{id, text}]} as the server enforces it, or null when unknown:
 * the forms then check nothing themselves and leave it to the server's 400 weak_password.
 */
export async function passwordPolicy() {
  try {
    const p = (await serverConfig())?.password_policy;
    return p && Array.isArray(p.rules) ? p : null;
  } catch {
    return null;
  }
}
