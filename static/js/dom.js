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
