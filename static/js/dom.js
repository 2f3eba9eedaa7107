// Tiny DOM helpers. Everything is built with createElement/textContent (never innerHTML),
// so server-supplied text can't inject markup, and nothing needs inline styles or handlers
// (the page must run under a strict Content-Security-Policy).

/**
 * getElementById that fails loudly if the page and the script disagree. Only page controllers
 * (app.js, proctor/main.js) use it, to hand each component its root element.
 */
export function $(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`missing element #${id}`);
  return node;
}

function describe(root) {
  return root.id ? `#${root.id}` : `<${String(root.nodeName).toLowerCase()}>`;
}

/**
 * The element marked data-part="name" inside a component's root. Components find their children
 * this way, not by page-wide ids, so they work wherever the page puts (or clones) them.
 */
export function part(root, name) {
  const node = root.querySelector(`[data-part="${name}"]`);
  if (!node) throw new Error(`missing [data-part="${name}"] in ${describe(root)}`);
  return node;
}

/** Like part(), but null when the part is optional and absent. */
export function maybePart(root, name) {
  return root.querySelector(`[data-part="${name}"]`);
}

/** Every element marked data-part="name" inside root, in document order. */
export function allParts(root, name) {
  return [...root.querySelectorAll(`[data-part="${name}"]`)];
}

const ID_REFS = ['for', 'aria-controls', 'aria-describedby', 'aria-labelledby'];

/**
 * A copy of a <template>'s content for one place on the page. Ids must be unique but labels and
 * ARIA relations need them, so the template names its parts only (data-part="srn", for="srn",
 * aria-describedby="policy error"); the copy gets id="PREFIX-srn" and every reference follows.
 */
export function cloneTemplate(template, prefix) {
  const copy = template.content.cloneNode(true);
  for (const node of copy.querySelectorAll('[data-part]')) node.id = `${prefix}-${node.dataset.part}`;
  for (const attr of ID_REFS) {
    for (const node of copy.querySelectorAll(`[${attr}]`)) {
      const names = node.getAttribute(attr).split(/\s+/).filter(Boolean);
      node.setAttribute(attr, names.map((n) => `${prefix}-${n}`).join(' '));
    }
  }
  return copy;
}

/** el('p', {className: 'x', text: 'hi'}, child1, child2) */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (key === 'text') node.textContent = value;
    else if (key === 'className') node.className = value;
    else if (key === 'htmlFor') node.htmlFor = value; // a label's `for` (setAttribute would write "htmlfor")
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

/**
 * Show/hide buttons under root: <button data-reveal aria-controls="id1 id2" aria-pressed="false">.
 * The fields it controls are looked up inside root too. Each component wires its own.
 */
export function wireRevealButtons(root) {
  for (const btn of root.querySelectorAll('button[data-reveal]')) {
    btn.addEventListener('click', () => {
      const pressed = btn.getAttribute('aria-pressed') !== 'true';
      btn.setAttribute('aria-pressed', String(pressed)); // a toggle: its name stays "Show password"
      for (const id of (btn.getAttribute('aria-controls') || '').split(/\s+/).filter(Boolean)) {
        const input = root.querySelector(`#${CSS.escape(id)}`);
        if (input) input.type = pressed ? 'text' : 'password';
      }
    });
  }
}

/** Put every show/hide button under `root` back to "hidden" (e.g. after logging out). */
export function resetRevealButtons(root) {
  for (const btn of root.querySelectorAll('button[data-reveal][aria-pressed="true"]')) btn.click();
}

/** Keep only digits (at most `max`) in a code field, whatever was typed or pasted. */
export function digitsOnly(input, max = 6) {
  input.addEventListener('input', () => {
    const digits = input.value.replace(/\D/g, '').slice(0, max);
    if (digits !== input.value) input.value = digits;
  });
}

/** A field's own error line: the words, and aria-invalid on the field while there are any. */
export function fieldError(input, node, message) {
  setText(node, message);
  if (message) input.setAttribute('aria-invalid', 'true');
  else input.removeAttribute('aria-invalid');
}
