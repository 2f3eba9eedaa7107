// Tiny DOM helpers. Everything is built with createElement/textContent (never innerHTML),
// so server-supplied text can't inject markup, and nothing needs inline styles or handlers
// (the page must run under a strict Content-Security-Policy).

/** getElementById that fails loudly if the page and the script disagree. */
export function $(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`missing element #${id}`);
  return node;
}

/** el('p', {className: 'x', text: 'hi'}, child1, child2) */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (key === 'text') node.textContent = value;
    else if (key === 'className') node.className = value;
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key in node && typeof value !== 'string') node[key] = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined && child !== false) node.append(child);
  }
  return node;
}

export function show(node, visible = true) {
  node.hidden = !visible;
}

/** Set text only when it changes, so aria-live regions don't re-announce the same words. */
export function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

const blockers = new WeakMap();

/**
 * Disable a control for a named reason ("busy", "cooldown", "maintenance", …). It is enabled
 * again only once every reason has been lifted, so independent timers can't undo each other.
 */
export function block(node, reason, on = true) {
  let reasons = blockers.get(node);
  if (!reasons) {
    reasons = new Set();
    blockers.set(node, reasons);
  }
  if (on) reasons.add(reason);
  else reasons.delete(reason);
  node.disabled = reasons.size > 0;
}

/**
 * Count down from `seconds`: tick(wholeSecondsLeft) now and whenever the number changes, then
 * done() at zero. Runs off the wall clock, so a throttled background tab stays right.
 * Returns a function that cancels it (done is then not called).
 */
export function countdown(seconds, tick, done) {
  const end = Date.now() + Math.max(0, Number(seconds) || 0) * 1000;
  let last = null;
  let timer = null;
  const step = () => {
    const left = Math.max(0, Math.ceil((end - Date.now()) / 1000));
    if (left !== last) {
      last = left;
      if (left > 0) tick(left);
    }
    if (left <= 0) {
      clearInterval(timer);
      timer = null;
      done?.();
    }
  };
  timer = setInterval(step, 250);
  step();
  return () => {
    if (timer !== null) clearInterval(timer);
    timer = null;
  };
}

/** Show/hide buttons: <button data-reveal aria-controls="id1 id2" aria-pressed="false">. */
export function wireRevealButtons(root = document) {
  for (const btn of root.querySelectorAll('button[data-reveal]')) {
    btn.addEventListener('click', () => {
      const pressed = btn.getAttribute('aria-pressed') !== 'true';
      btn.setAttribute('aria-pressed', String(pressed)); // a toggle: its name stays "Show password"
      for (const id of (btn.getAttribute('aria-controls') || '').split(/\s+/).filter(Boolean)) {
        const input = document.getElementById(id);
        if (input) input.type = pressed ? 'text' : 'password';
      }
    });
  }
}

/** Put every show/hide button under `root` back to "hidden" (e.g. after logging out). */
export function resetRevealButtons(root = document) {
  for (const btn of root.querySelectorAll('button[data-reveal][aria-pressed="true"]')) btn.click();
}
