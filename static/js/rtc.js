// What both WebRTC ends in the browser need: the student's stream (stream.js) and the proctor's
// live view (proctor/viewer.js).

import { api } from './api.js';

/**
 * ICE servers for RTCPeerConnection; [] when unknown (host candidates still work on a LAN).
 * Asked afresh for every connection, never from the shared config: the server only gives TURN
 * credentials to a signed-in page, and they may be short-lived (turn_secret).
 */
export async function iceServers() {
  try {
    const c = await api.get('/api/config');
    return Array.isArray(c?.ice_servers) ? c.ice_servers : [];
  } catch {
    return [];
  }
}

/**
 * Resolves once ICE gathering is complete, or after `timeoutMs` with what there is. The server
 * does not trickle ICE, so an offer must carry every candidate before it is sent.
 */
export function iceGathered(pc, timeoutMs) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener('icegatheringstatechange', onState);
      pc.removeEventListener('icecandidate', onCandidate);
      resolve();
    };
    const onState = () => { if (pc.iceGatheringState === 'complete') done(); };
    const onCandidate = (e) => { if (!e.candidate) done(); }; // null candidate = end of gathering
    const timer = setTimeout(done, timeoutMs);
    pc.addEventListener('icegatheringstatechange', onState);
    pc.addEventListener('icecandidate', onCandidate);
  });
}
