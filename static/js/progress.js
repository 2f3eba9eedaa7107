// The topic picker and the progress dashboard, both built from the server's module lists.

import { el } from './dom.js';
import { formatDuration, formatHoursOf, moduleLabel, percent } from './format.js';

/** Fill <select id="topic"> with one <optgroup> per module, keeping the choice if possible. */
export function fillTopicPicker(select, modules, preferredId) {
  const keep = preferredId || select.value;
  select.replaceChildren(el('option', { value: '', text: 'Choose a topic…' }));
  for (const module of modules) {
    const group = el('optgroup', { label: moduleLabel(module) });
    for (const topic of module.topics ?? []) {
      group.append(el('option', { value: String(topic.id), text: topic.title }));
    }
    select.append(group);
  }
  const ids = new Set(modules.flatMap((m) => (m.topics ?? []).map((t) => String(t.id))));
  select.value = keep && ids.has(String(keep)) ? String(keep) : '';
}

/** The module that contains a topic, or null. */
export function moduleOfTopic(modules, topicId) {
  return modules.find((m) => (m.topics ?? []).some((t) => String(t.id) === String(topicId))) ?? null;
}

function moduleCard(module, open) {
  const required = Number(module.required_seconds) || 0;
  const done = Number(module.credited_seconds) || 0;
  const label = moduleLabel(module);
  const headingId = `module-${String(module.id).replace(/[^\w-]/g, '_')}-title`;
  const complete = required > 0 && done >= required;

  const rows = (module.topics ?? []).map((t) => el('tr', {},
    el('th', { scope: 'row', text: t.title }),
    el('td', { text: formatDuration(t.credited_seconds) })));
  const table = el('table', { className: 'topics' },
    el('caption', { className: 'visually-hidden', text: `Time credited per topic, ${label}` }),
    el('thead', {}, el('tr', {},
      el('th', { scope: 'col', text: 'Topic' }),
      el('th', { scope: 'col', text: 'Credited' }))),
    el('tbody', {}, ...rows));

  const details = el('details', {}, el('summary', { text: 'Time per topic' }), table);
  details.open = open;

  return el('article', { className: 'module', dataset: { moduleId: String(module.id) } },
    el('h3', { id: headingId, text: label }),
    el('p', { className: 'module-figures' },
      el('span', { text: formatHoursOf(done, required) }),
      el('span', { className: 'pct', text: ` · ${percent(done, required)}%` }),
      complete ? el('span', { className: 'badge', text: 'Complete' }) : null),
    el('progress', {
      max: Math.max(required, 1),
      value: Math.min(done, Math.max(required, 1)),
      'aria-labelledby': headingId,
    }),
    details);
}

/** Re-render the dashboard, keeping whichever topic tables the student had expanded. */
export function renderProgress(container, modules) {
  const open = new Set([...container.querySelectorAll('article.module')]
    .filter((a) => a.querySelector('details')?.open)
    .map((a) => a.dataset.moduleId));
  if (!modules.length) {
    container.replaceChildren(el('p', { text: 'No modules are available yet.' }));
    return;
  }
  container.replaceChildren(...modules.map((m) => moduleCard(m, open.has(String(m.id)))));
}
