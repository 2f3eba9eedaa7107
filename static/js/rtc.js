// What both WebRTC ends in the browser need: the student's stream (stream.js) and the proctor's
// live view (proctor/viewer.js).

import { serverConfig } from './config.js';

/** ICE servers for RTCPeerConnection; [] when unknown (host candidates still work on a LAN). */
export async function iceServers() {
  try {
    const c = await serverConfig();
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
