// The topic picker and the progress dashboard, both built from the server's module lists.

import { el } from './dom.js';
import { formatDuration, formatHours, formatHoursOf, moduleLabel, percent } from './format.js';

/** Fill <select id="topic"> with one <optgroup> per module, keeping the choice if possible. */
export function fillTopicPicker(select, modules, preferredId) {
  const keep = preferredId || select.value;
  select.replaceChildren(el('option', { value: '', text: 'Choose a topic…' }));
  for (const module of modules) {
    if (module.chosen === false) continue;  // an elective module the student has not chosen
    const group = el('optgroup', { label: moduleLabel(module) });
    for (const topic of module.topics ?? []) {
      group.append(el('option', { value: String(topic.id), text: topic.title }));
    }
    select.append(group);
  }
  const ids = new Set(modules.filter((m) => m.chosen !== false)
    .flatMap((m) => (m.topics ?? []).map((t) => String(t.id))));
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
    el('h4', { id: headingId, text: label }),
    el('p', { className: 'module-figures' },
      el('span', { text: formatHoursOf(done, required) }),
      el('span', { className: 'pct', text: ` · ${percent(done, required)}%` }),
      module.elective ? el('span', { className: 'badge', text: module.chosen ? 'Your elective' : 'Not chosen' }) : null,
      complete ? el('span', { className: 'badge', text: 'Complete' }) : null),
    module.chosen === false ? null : el('p', { className: 'muted small', text: module.spmt_bookable
      ? 'Hours done: the SPMT for this module can be booked.'
      : `${formatHours(Math.max(0, required - done))} left before the SPMT can be booked.` }),
    el('progress', {
      max: Math.max(required, 1),
      value: Math.min(done, Math.max(required, 1)),
      'aria-labelledby': headingId,
    }),
    details);
}

/** One line of overall status: hours done of the required total (A + B + the chosen C and D). */
export function overallText(summary) {
  if (!summary || summary.required_seconds === undefined) return '';
  const pending = summary.electives_pending ?? [];
  const head = `${formatHoursOf(summary.credited_seconds, summary.required_seconds)} of the required total`;
  if (pending.length) return `${head}. Choose your Set ${pending.join(' and Set ')} elective to complete it.`;
  return summary.complete ? `${head}. All modules are done.` : `${head}.`;
}

/** Re-render the dashboard by set, keeping whichever topic tables the student had expanded. */
export function renderProgress(container, modules) {
  const open = new Set([...container.querySelectorAll('article.module')]
    .filter((a) => a.querySelector('details')?.open)
    .map((a) => a.dataset.moduleId));
  if (!modules.length) {
    container.replaceChildren(el('p', { text: 'No modules are available yet.' }));
    return;
  }
  const sets = [...new Set(modules.map((m) => m.set))];
  container.replaceChildren(...sets.map((name) => el('section', { className: 'set', 'aria-label': `Set ${name}` },
    el('h3', { className: 'set-title', text: `Set ${name}` }),
    ...modules.filter((m) => m.set === name).map((m) => moduleCard(m, open.has(String(m.id)))))));
}
