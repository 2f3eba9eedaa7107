// The session timeline on a <canvas>: credited intervals as green bands, failed samples as red
// ticks (one row per reason), flags as spans, voided time (adjustments) marked. A text summary
// goes with it (the canvas's aria-label and a visible line), so none of it is colour or
// picture alone.

import { formatClock } from '../format.js';
import { clockTime, kindText, ms, plural } from './words.js';

const COLORS = {
  ok: '#2e8b4e',
  okBg: '#e5f4ea',
  fail: '#b3261e',
  rowBg: '#f1f4f7',
  grid: '#d5dce3',
  text: '#1c2530',
  muted: '#4f5b67',
  adj: '#6a3d9a',
  flag: { open: '#b3261e', acknowledged: '#c98a16', dismissed: '#8a96a3', confirmed: '#6e1116' },
};
// Failing reasons in a fixed order, so rows don't jump between refreshes.
const REASON_ORDER = ['mismatch', 'multiple_faces', 'no_face', 'camera_lost', 'tab_hidden', 'low_quality',
  'verifier_unavailable', 'not_started'];
const STEPS_S = [5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800];

function span(start, end, t0, t1) {
  const a = Math.max(start, t0);
  const b = Math.min(end, t1);
  return b > a ? [a, b] : null;
}

/** Everything the chart and its summary need, in epoch milliseconds. */
export function prepare(data, now = Date.now()) {
  const session = data?.session ?? {};
  const samples = (Array.isArray(data?.samples) ? data.samples : [])
    .map((s) => ({ at: ms(s.at), reason: String(s.reason ?? '') })).filter((s) => s.at !== null);
  const intervals = (Array.isArray(data?.intervals) ? data.intervals : [])
    .map((i) => ({ start: ms(i.start ?? i.start_at), end: ms(i.end ?? i.end_at) }))
    .filter((i) => i.start !== null && i.end !== null);
  const flags = (Array.isArray(data?.flags) ? data.flags : []).map((f) => ({
    ...f, start: ms(f.started_at), end: ms(f.ended_at),
  })).filter((f) => f.start !== null);
  const adjustments = (Array.isArray(data?.adjustments) ? data.adjustments : []).map((a) => ({
    ...a, start: ms(a.start ?? a.start_at), end: ms(a.end ?? a.end_at), when: ms(a.at),
  }));

  const ended = ms(session.ended_at);
  const times = [...samples.map((s) => s.at), ...intervals.flatMap((i) => [i.start, i.end]),
    ...flags.map((f) => f.start)];
  let t0 = ms(session.started_at) ?? (times.length ? Math.min(...times) : now);
  let t1 = ended ?? Math.max(now, ...times);
  if (t1 - t0 < 60000) t1 = t0 + 60000; // at least a minute wide, so a fresh session is readable
  if (!Number.isFinite(t0)) t0 = now - 60000;

  const failed = new Map();
  for (const s of samples) {
    if (s.reason && s.reason !== 'ok') failed.set(s.reason, (failed.get(s.reason) ?? 0) + 1);
  }
  const reasons = [...failed.keys()].sort((a, b) => {
    const ia = REASON_ORDER.indexOf(a);
    const ib = REASON_ORDER.indexOf(b);
    return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.localeCompare(b);
  });
  const verifiedMs = intervals.reduce((sum, i) => sum + Math.max(0, i.end - i.start), 0);
  const voidedS = adjustments.reduce((sum, a) => sum + (Number(a.seconds) || 0), 0);
  const live = ended === null && session.live !== false;
  // Liveness head-turn checks, in the order issued (absent with liveness off).
  const challenges = (Array.isArray(data?.challenges) ? data.challenges : [])
    .map((c) => ({ ...c, at: ms(c.issued_at) })).filter((c) => c.at !== null);
  // Where anything still going on ends: now for a live session, its end otherwise.
  const edge = live ? Math.min(Math.max(now, t0), t1) : Math.min(ended ?? t1, t1);
  return {
    t0, t1, edge, samples, intervals, flags, adjustments, failed, reasons, verifiedMs, voidedS, live, challenges,
  };
}

/** One or two sentences saying what the chart shows. */
export function summarise(p) {
  const parts = [`Credited ${formatClock(p.verifiedMs / 1000)} of ${formatClock((p.t1 - p.t0) / 1000)}`];
  if (p.reasons.length) {
    parts.push(`failed checks: ${p.reasons.map((r) => `${p.failed.get(r)} × ${kindText(r)}`).join(', ')}`);
  } else {
    parts.push('no failed checks');
  }
  parts.push(plural(p.flags.length, 'flag'));
  if (p.challenges?.length) {
    const passed = p.challenges.filter((c) => c.passed === true).length;
    const failed = p.challenges.filter((c) => c.passed === false).length;
    const when = p.challenges.map((c) => `${clockTime(new Date(c.at))} ${c.passed === null ? 'open'
      : c.passed ? 'passed' : 'failed'}`).join(', ');
    parts.push(`${plural(p.challenges.length, 'head-turn check')}: ${passed} passed, ${failed} failed (${when})`);
  }
  if (p.adjustments.length) {
    parts.push(`${plural(p.adjustments.length, 'adjustment')} voiding ${formatClock(p.voidedS)}`);
  }
  return `${parts.join('; ')}.`;
}

function tickStep(spanMs, width) {
  const maxTicks = Math.max(2, Math.floor(width / 80));
  return (STEPS_S.find((s) => spanMs / (s * 1000) <= maxTicks) ?? STEPS_S[STEPS_S.length - 1]) * 1000;
}

/** Draw `p` (from prepare) on the canvas at its current CSS width. */
export function draw(canvas, p) {
  const narrow = canvas.clientWidth < 420;
  const labelW = narrow ? 92 : (canvas.clientWidth >= 640 ? 180 : 150);
  const rowH = 20;
  const gap = 6;
  const axisH = 22;
  const rows = [
    { key: 'ok', label: 'Verified' },
    ...p.reasons.map((r) => ({ key: 'fail', reason: r, label: kindText(r) })),
    { key: 'flag', label: 'Flags' },
  ];
  if (p.adjustments.length) rows.push({ key: 'adj', label: 'Time voided' });

  const cssW = Math.max(240, canvas.clientWidth || 600);
  const cssH = 6 + rows.length * (rowH + gap) + axisH;
  const dpr = Math.min(3, window.devicePixelRatio || 1);
  const W = Math.round(cssW * dpr);
  const H = Math.round(cssH * dpr);
  if (canvas.width !== W) canvas.width = W;
  if (canvas.height !== H) canvas.height = H;
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, cssW, cssH);
  ctx.font = `${narrow ? 11 : 12}px system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif`;
  ctx.textBaseline = 'middle';

  const x0 = labelW;
  const x1 = cssW - 8;
  const span0 = p.t1 - p.t0;
  const x = (t) => x0 + ((t - p.t0) / span0) * (x1 - x0);
  const chartBottom = 6 + rows.length * (rowH + gap) - gap;

  // Grid lines and the time axis.
  const step = tickStep(span0, x1 - x0);
  const first = Math.ceil(p.t0 / step) * step;
  ctx.strokeStyle = COLORS.grid;
  ctx.fillStyle = COLORS.muted;
  ctx.lineWidth = 1;
  ctx.textAlign = 'center';
  for (let t = first; t <= p.t1; t += step) {
    const xx = Math.round(x(t)) + 0.5;
    ctx.beginPath();
    ctx.moveTo(xx, 4);
    ctx.lineTo(xx, chartBottom + 4);
    ctx.stroke();
    const label = clockTime(new Date(t));
    ctx.fillText(step < 60000 ? label : label.slice(0, 5), Math.min(Math.max(xx, x0 + 20), x1 - 20),
      chartBottom + axisH / 2 + 4);
  }

  rows.forEach((row, i) => {
    const y = 6 + i * (rowH + gap);
    ctx.fillStyle = COLORS.rowBg;
    ctx.fillRect(x0, y, x1 - x0, rowH);
    ctx.fillStyle = COLORS.text;
    ctx.textAlign = 'right';
    let label = row.label;
    while (label.length > 4 && ctx.measureText(label).width > labelW - 10) label = `${label.slice(0, -2)}…`;
    ctx.fillText(label, labelW - 8, y + rowH / 2);

    if (row.key === 'ok') {
      ctx.fillStyle = COLORS.ok;
      for (const iv of p.intervals) {
        const s = span(iv.start, iv.end, p.t0, p.t1);
        if (s) ctx.fillRect(x(s[0]), y + 2, Math.max(1, x(s[1]) - x(s[0])), rowH - 4);
      }
    } else if (row.key === 'fail') {
      ctx.fillStyle = COLORS.fail;
      for (const smp of p.samples) {
        if (smp.reason === row.reason && smp.at >= p.t0 && smp.at <= p.t1) {
          ctx.fillRect(Math.round(x(smp.at)) - 1, y + 2, 2, rowH - 4);
        }
      }
    } else if (row.key === 'flag') {
      for (const f of p.flags) {
        const s = span(f.start, f.end ?? p.edge, p.t0, p.t1) ?? [f.start, f.start];
        const color = COLORS.flag[f.review] ?? COLORS.flag.open;
        const w = Math.max(3, x(s[1]) - x(s[0]));
        ctx.fillStyle = color;
        ctx.fillRect(x(s[0]), y + 3, w, rowH - 6);
        if (f.review === 'dismissed' || f.review === 'acknowledged') {
          ctx.fillStyle = '#ffffff';
          ctx.fillRect(x(s[0]) + 2, y + 6, Math.max(0, w - 4), rowH - 12); // hollow: reviewed, not voided
        }
        ctx.fillStyle = COLORS.flag.open;
        ctx.fillRect(x(s[0]) - 1, y, 2, rowH); // the start, always visible
      }
    } else if (row.key === 'adj') {
      for (const a of p.adjustments) {
        const s = a.start !== null && a.end !== null ? span(a.start, a.end, p.t0, p.t1) : null;
        ctx.fillStyle = COLORS.adj;
        if (s) {
          const w = Math.max(3, x(s[1]) - x(s[0]));
          // Hatched: voided credit.
          ctx.save();
          ctx.beginPath();
          ctx.rect(x(s[0]), y + 2, w, rowH - 4);
          ctx.clip();
          ctx.fillStyle = '#efe7f6';
          ctx.fillRect(x(s[0]), y + 2, w, rowH - 4);
          ctx.strokeStyle = COLORS.adj;
          ctx.lineWidth = 2;
          for (let hx = x(s[0]) - rowH; hx < x(s[0]) + w + rowH; hx += 6) {
            ctx.beginPath();
            ctx.moveTo(hx, y + rowH);
            ctx.lineTo(hx + rowH, y);
            ctx.stroke();
          }
          ctx.restore();
          // Also mark the voided span across the verified row above it.
          ctx.fillStyle = COLORS.adj;
          ctx.fillRect(x(s[0]), 6 + rowH - 3, w, 3);
        } else if (a.when !== null && a.when >= p.t0 && a.when <= p.t1) {
          const cx = x(a.when);
          ctx.beginPath();
          ctx.moveTo(cx, y + 2);
          ctx.lineTo(cx + 6, y + rowH / 2);
          ctx.lineTo(cx, y + rowH - 2);
          ctx.lineTo(cx - 6, y + rowH / 2);
          ctx.closePath();
          ctx.fill();
        }
      }
    }
  });

  // "Now" for a live session.
  if (p.live) {
    const xn = Math.round(x(p.edge)) - 0.5;
    ctx.strokeStyle = COLORS.text;
    ctx.setLineDash([3, 3]);
    ctx.beginPath();
    ctx.moveTo(xn, 2);
    ctx.lineTo(xn, chartBottom + 4);
    ctx.stroke();
    ctx.setLineDash([]);
  }
}
