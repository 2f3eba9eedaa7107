// First-login enrollment: three profile photos from the webcam preview.
//
// Each photo is taken after a short countdown so the student can settle and look at the
// camera. Thumbnails are drawn into <canvas> elements rather than <img src="data:…">,
// so a strict CSP doesn't need to allow data: images.

import { api } from './api.js';
import { allParts, part, setText, show } from './dom.js';

const PHOTO_COUNT = 3;
const COUNTDOWN_S = 3;
const JPEG_QUALITY = 0.9;
const SUBMIT_TIMEOUT_MS = 60000; // the server runs face detection on every photo

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export class Enrollment {
  /**
   * @param {HTMLElement} root  the enrollment card: one data-part="shot" (with thumb and retake)
   *   per photo, and capture, submit, status, error
   * @param {import('./camera.js').Camera} camera
   * @param {(enrollment: string) => void} onDone  called with "approved" or "pending"
   */
  constructor(root, camera, onDone) {
    this.camera = camera;
    this.onDone = onDone;
    this.photos = new Array(PHOTO_COUNT).fill(null);
    this.busy = false;
    this.card = root;
    this.captureBtn = part(root, 'capture');
    this.submitBtn = part(root, 'submit');
    this.error = part(root, 'error');
    this.statusLine = part(root, 'status');
    this.slots = allParts(root, 'shot').map((item, i) => {
      const slot = { item, canvas: part(item, 'thumb'), retake: part(item, 'retake') };
      slot.retake.addEventListener('click', () => this.take(i));
      return slot;
    });
    if (this.slots.length !== PHOTO_COUNT) {
      throw new Error(`the enrollment card has ${this.slots.length} photo slots, not ${PHOTO_COUNT}`);
    }
    this.captureBtn.addEventListener('click', () => {
      const next = this.photos.indexOf(null);
      if (next >= 0) this.take(next);
    });
    this.submitBtn.addEventListener('click', () => this.submit());
    camera.onChange(() => this.render());
  }

  /** Show the card with a clean slate (e.g. after a new login). */
  open() {
    this.photos.fill(null);
    for (const slot of this.slots) {
      slot.canvas.getContext('2d').clearRect(0, 0, slot.canvas.width, slot.canvas.height);
      slot.item.classList.remove('bad');
    }
    setText(this.error, '');
    setText(this.statusLine, '');
    show(this.card, true);
    this.render();
  }

  close() {
    show(this.card, false);
    this.camera.showCountdown(null);
  }

  render() {
    const next = this.photos.indexOf(null);
    const live = this.camera.live;
    show(this.captureBtn, next >= 0);
    if (next >= 0) setText(this.captureBtn, `Take photo ${next + 1} of ${PHOTO_COUNT}`);
    this.captureBtn.disabled = this.busy || !live;
    this.slots.forEach((slot, i) => {
      const taken = this.photos[i] !== null;
      show(slot.retake, taken);
      slot.retake.disabled = this.busy || !live;
      slot.item.classList.toggle('taken', taken);
      slot.canvas.setAttribute('aria-label', taken ? `Photo ${i + 1}` : `Photo ${i + 1} — not taken yet`);
    });
    this.submitBtn.disabled = this.busy || next >= 0;
  }

  async take(index) {
    if (this.busy) return;
    this.busy = true;
    setText(this.error, '');
    this.slots[index].item.classList.remove('bad');
    this.render();
    try {
      if (!this.camera.live) await this.camera.open();
      for (let s = COUNTDOWN_S; s > 0; s -= 1) {
        this.camera.showCountdown(String(s));
        setText(this.statusLine, `Photo ${index + 1} in ${s}… look straight at the camera.`);
        await sleep(1000);
      }
      this.photos[index] = this.capture(this.slots[index].canvas);
      setText(this.statusLine, `Photo ${index + 1} taken.`);
    } catch (err) {
      setText(this.error, this.camera.live
        ? `Could not take the photo: ${err?.message || err}`
        : 'Turn the camera on first (see the camera card).');
    } finally {
      this.camera.showCountdown(null);
      this.busy = false;
      this.render();
    }
  }

  /** Grab the current frame at full resolution; also paint the thumbnail. */
  capture(thumb) {
    const video = this.camera.video;
    const w = video.videoWidth;
    const h = video.videoHeight;
    if (!w || !h) throw new Error('the camera picture is not ready yet — try again in a moment');
    const full = document.createElement('canvas');
    full.width = w;
    full.height = h;
    full.getContext('2d').drawImage(video, 0, 0, w, h);

    // Thumbnail: scale to cover the thumbnail box, cropping the overflow evenly.
    const ctx = thumb.getContext('2d');
    const scale = Math.max(thumb.width / w, thumb.height / h);
    const dw = w * scale;
    const dh = h * scale;
    ctx.clearRect(0, 0, thumb.width, thumb.height);
    ctx.drawImage(full, (thumb.width - dw) / 2, (thumb.height - dh) / 2, dw, dh);

    return full.toDataURL('image/jpeg', JPEG_QUALITY);
  }

  async submit() {
    if (this.busy || this.photos.includes(null)) return;
    this.busy = true;
    setText(this.error, '');
    setText(this.statusLine, 'Checking your photos…');
    this.render();
    try {
      const res = await api.post('/api/enrollment', { photos: this.photos },
        { timeoutMs: SUBMIT_TIMEOUT_MS });
      setText(this.statusLine, '');
      this.onDone(res.enrollment === 'approved' ? 'approved' : 'pending');
    } catch (err) {
      setText(this.statusLine, '');
      setText(this.error, err.message);
      // "photo 2: no face found …" → point at the photo to retake (1-based, as in the message).
      const m = /photo\s+(\d+)/i.exec(err.message || '');
      const n = m ? Number(m[1]) : 0;
      if (err.code === 'bad_photo' && n >= 1 && n <= PHOTO_COUNT) {
        this.slots[n - 1].item.classList.add('bad');
        this.busy = false;
        this.render();
        this.slots[n - 1].retake.focus();
      }
    } finally {
      this.busy = false;
      this.render();
    }
  }
}
