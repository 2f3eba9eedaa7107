// Webcam access and the live preview.
//
// One MediaStream is shared by the preview, the enrollment captures and the WebRTC
// session, so the browser asks for permission once and the camera light means one thing.
// The constraints are the ones the server expects; using them for the preview too means
// the camera check really checks what streaming will ask for.

import { part, setText, show } from './dom.js';

export const VIDEO_CONSTRAINTS = Object.freeze({
  video: {
    width: { min: 320, ideal: 640, max: 640 },
    height: { min: 240, ideal: 480, max: 480 },
    frameRate: { ideal: 10, max: 15 },
  },
  audio: false,
});

/** getUserMedia only exists in secure contexts (https, or http://localhost). */
export function cameraAvailable() {
  return Boolean(window.isSecureContext && navigator.mediaDevices?.getUserMedia);
}

const INSECURE_MESSAGE =
  'The camera only works on a secure page. Open this page over https:// ' +
  '(or http://localhost when the server runs on this computer).';

/** Plain-words explanation of a getUserMedia failure. */
export function explainCameraError(err) {
  if (!cameraAvailable()) return INSECURE_MESSAGE;
  switch (err?.name) {
    case 'NotAllowedError':
    case 'PermissionDeniedError':
    case 'SecurityError':
      return 'Camera access is blocked. Click the camera or lock icon in the address bar, ' +
        'set Camera to "Allow" for this site, then press "Turn camera on".';
    case 'NotFoundError':
    case 'DevicesNotFoundError':
    case 'OverconstrainedError':
    case 'ConstraintNotSatisfiedError':
      return 'No suitable camera was found. Connect a webcam that can show at least 320 × 240, ' +
        'then press "Turn camera on".';
    case 'NotReadableError':
    case 'TrackStartError':
      return 'Your camera is busy — another app or browser tab (for example a video call) is ' +
        'using it. Close that app, then press "Turn camera on".';
    case 'AbortError':
      return 'The camera could not start. Press "Turn camera on" to try again.';
    default:
      return `The camera could not start${err?.message ? ` (${err.message})` : ''}. ` +
        'Press "Turn camera on" to try again.';
  }
}

function liveTrack(stream) {
  const track = stream?.getVideoTracks()[0];
  return track && track.readyState === 'live' ? track : null;
}

/**
 * Owns the shared camera stream and the camera-check card (data-part video, message, button,
 * off, countdown). Listeners registered with onChange() hear about the camera turning on/off.
 */
export class Camera {
  /** @param {HTMLElement} root  the camera card */
  constructor(root) {
    this.stream = null;
    this.pending = null; // in-flight getUserMedia, so concurrent callers share one prompt
    this.listeners = new Set();
    this.video = part(root, 'video');
    this.message = part(root, 'message');
    this.button = part(root, 'button');
    this.placeholder = part(root, 'off');
    this.countdown = part(root, 'countdown');
    this.button.addEventListener('click', () => {
      this.open().catch(() => { /* already explained in the card */ });
    });
    this.render(null);
  }

  onChange(fn) {
    this.listeners.add(fn);
  }

  get live() {
    return liveTrack(this.stream) !== null;
  }

  get track() {
    return liveTrack(this.stream);
  }

  /** Returns a live stream, asking for the camera if needed. Throws the DOMException. */
  async open() {
    if (this.live) return this.stream;
    if (this.pending) return this.pending;
    if (!cameraAvailable()) {
      this.render(INSECURE_MESSAGE);
      throw Object.assign(new Error(INSECURE_MESSAGE), { name: 'InsecureContextError' });
    }
    setText(this.message, 'Starting the camera…');
    show(this.message, true);
    this.button.disabled = true;
    this.pending = navigator.mediaDevices.getUserMedia(VIDEO_CONSTRAINTS);
    try {
      const stream = await this.pending;
      this.attach(stream);
      return stream;
    } catch (err) {
      this.render(explainCameraError(err));
      throw err;
    } finally {
      this.pending = null;
      this.button.disabled = false;
    }
  }

  attach(stream) {
    this.close();
    this.stream = stream;
    const track = liveTrack(stream);
    // The camera can vanish mid-session (unplugged, taken by the OS): reflect it at once.
    track?.addEventListener('ended', () => {
      if (this.stream === stream) {
        this.render('The camera stopped sending pictures. Check that it is connected, then ' +
          'press "Turn camera on".');
        this.notify();
      }
    });
    this.video.srcObject = stream;
    this.video.play().catch(() => { /* autoplay + muted normally suffices */ });
    this.render(null);
    this.notify();
  }

  /** Stops the camera (the browser's camera light goes off). */
  close() {
    const stream = this.stream;
    this.stream = null;
    if (stream) {
      for (const t of stream.getTracks()) t.stop();
      this.video.srcObject = null;
      this.render(null);
      this.notify();
    }
  }

  render(errorText) {
    const live = this.live;
    show(this.placeholder, !live);
    show(this.button, !live);
    if (!cameraAvailable()) this.button.disabled = true;
    show(this.message, Boolean(errorText));
    this.message.classList.toggle('error', Boolean(errorText));
    setText(this.message, errorText ?? '');
  }

  /** Big digits over the preview while a photo is about to be taken; null hides them. */
  showCountdown(text) {
    setText(this.countdown, text ?? '');
    show(this.countdown, text !== null && text !== undefined);
  }

  notify() {
    for (const fn of this.listeners) fn(this.live);
  }
}
