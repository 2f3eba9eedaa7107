// The liveness challenge prompt: a big arrow, words and a countdown, announced to screen readers.
//
// Mirror convention (docs/liveness.md): `turn_left` is the student's own left. The preview is
// mirrored, so their own left is on the preview's left: turn_left is drawn as ← and turn_right as →.

import { countdown, part, setText, show } from './dom.js';

const ACTIONS = Object.freeze({
  turn_left: { arrow: '←', words: 'Turn your head to your left' },
  turn_right: { arrow: '→', words: 'Turn your head to your right' },
});

export class ChallengePrompt {
  /** @param {HTMLElement} root  the session card holding the challenge parts */
  constructor(root) {
    this.box = part(root, 'challenge');
    this.arrow = part(root, 'challenge-arrow');
    this.words = part(root, 'challenge-text');
    this.clock = part(root, 'challenge-countdown');
    this.id = null;
    this.cancel = null;
    this.hideTimer = null;
  }

  /** {"type": "challenge", challenge_id, action, timeout_s} from the server. */
  show(msg) {
    const action = ACTIONS[msg?.action];
    if (!action) return;
    this.stop();
    this.id = msg.challenge_id;
    this.box.dataset.action = msg.action;
    this.box.dataset.state = 'open';
    setText(this.arrow, action.arrow);
    setText(this.words, `${action.words}, then back.`);
    this.cancel = countdown(msg.timeout_s, (left) => setText(this.clock, `${left} s`),
      () => setText(this.clock, ''));
    show(this.box, true);
  }

  /** {"type": "challenge_result", challenge_id, passed}. */
  result(msg) {
    if (msg?.challenge_id !== this.id) return;
    this.stop();
    this.box.dataset.state = msg.passed ? 'passed' : 'failed';
    setText(this.arrow, msg.passed ? '✓' : '✗');
    setText(this.words, msg.passed ? 'Thanks — check passed.'
      : 'Check missed. Turn your head, not the laptop.');
    setText(this.clock, '');
    this.hideTimer = setTimeout(() => show(this.box, false), 3000);
  }

  stop() {
    this.cancel?.();
    this.cancel = null;
    clearTimeout(this.hideTimer);
    this.hideTimer = null;
  }

  hide() {
    this.stop();
    this.id = null;
    show(this.box, false);
  }
}
