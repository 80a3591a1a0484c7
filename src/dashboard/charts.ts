/**
 * Inline SVG charts built on the server from numbers (no chart library, no script needed to draw them).
 * Each chart is `role="img"` with an `aria-label` summarising the data, and its series carry `data-*` attributes
 * the browser tests read.
 */
import { escapeHtml, Html, isoTime } from './html.ts';

export interface Series {
  name: string;
  /** CSS class giving the colour (see assets.ts). */
  cls: string;
  values: readonly number[];
}

const f = (n: number) => (Math.round(n * 10) / 10).toString();

/** Stacked columns: one per bucket, the series stacked bottom-up. */
export function stackedBars(opts: { id: string; label: string; starts: readonly number[]; series: readonly Series[]; width?: number; height?: number }): Html {
  const W = opts.width ?? 720;
  const H = opts.height ?? 200;
  const pad = { l: 40, r: 8, t: 10, b: 22 };
  const n = opts.starts.length;
  const totals = opts.starts.map((_, i) => opts.series.reduce((s, x) => s + (x.values[i] ?? 0), 0));
  const max = Math.max(1, ...totals);
  const cw = (W - pad.l - pad.r) / Math.max(1, n);
  const bw = Math.max(1, cw * 0.8);
  const y = (v: number) => pad.t + (H - pad.t - pad.b) * (1 - v / max);
  const parts: string[] = [];
  parts.push(`<line class="axis" x1="${pad.l}" y1="${y(0)}" x2="${W - pad.r}" y2="${y(0)}"/>`);
  parts.push(`<text class="tick" x="${pad.l - 4}" y="${y(max) + 4}" text-anchor="end">${max}</text>`);
  parts.push(`<text class="tick" x="${pad.l - 4}" y="${y(0)}" text-anchor="end">0</text>`);
  for (let i = 0; i < n; i++) {
    let acc = 0;
    const x = pad.l + i * cw + (cw - bw) / 2;
    for (const s of opts.series) {
      const v = s.values[i] ?? 0;
      if (v <= 0) continue;
      const top = y(acc + v);
      const h = y(acc) - top;
      parts.push(
        `<rect class="${s.cls}" data-series="${escapeHtml(s.name)}" data-value="${v}" x="${f(x)}" y="${f(top)}" width="${f(bw)}" height="${f(Math.max(h, 0.5))}"><title>${escapeHtml(`${isoTime(opts.starts[i]!)} ${s.name}: ${v}`)}</title></rect>`,
      );
      acc += v;
    }
  }
  const labelEvery = Math.max(1, Math.ceil(n / 6));
  for (let i = 0; i < n; i += labelEvery) {
    const t = new Date(opts.starts[i]!).toISOString().slice(11, 16);
    parts.push(`<text class="tick" x="${f(pad.l + i * cw + cw / 2)}" y="${H - 6}" text-anchor="middle">${t}</text>`);
  }
  const sum = opts.series.map((s) => `${s.name} ${s.values.reduce((a, b) => a + b, 0)}`).join(', ');
  const legend = opts.series.map((s) => `<span class="legend"><i class="${s.cls}"></i>${escapeHtml(s.name)}</span>`).join('');
  return new Html(
    `<figure class="chart"><svg id="${escapeHtml(opts.id)}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${escapeHtml(`${opts.label}: ${sum}`)}">${parts.join('')}</svg><figcaption>${legend}</figcaption></figure>`,
  );
}

/** Horizontal bars with a label and a value each. */
export function hbars(opts: { id: string; label: string; rows: readonly { label: string; value: number; cls?: string; note?: string }[]; unit?: string }): Html {
  if (opts.rows.length === 0) return new Html(`<p class="muted" id="${escapeHtml(opts.id)}">None.</p>`);
  const W = 720;
  const rowH = 22;
  const labelW = 200;
  const H = opts.rows.length * rowH + 4;
  const max = Math.max(1, ...opts.rows.map((r) => r.value));
  const parts = opts.rows.map((r, i) => {
    const w = ((W - labelW - 80) * r.value) / max;
    const yy = i * rowH + 2;
    return (
      `<text class="tick" x="${labelW - 6}" y="${yy + 15}" text-anchor="end">${escapeHtml(r.label)}</text>` +
      `<rect class="${r.cls ?? 'bar'}" data-series="${escapeHtml(r.label)}" data-value="${r.value}" x="${labelW}" y="${yy + 3}" width="${f(Math.max(w, 1))}" height="${rowH - 6}"><title>${escapeHtml(r.note ?? `${r.label}: ${r.value}`)}</title></rect>` +
      `<text class="tick" x="${f(labelW + Math.max(w, 1) + 6)}" y="${yy + 15}">${r.value}${escapeHtml(opts.unit ?? '')}</text>`
    );
  });
  return new Html(`<svg id="${escapeHtml(opts.id)}" class="hbars" viewBox="0 0 ${W} ${H}" role="img" aria-label="${escapeHtml(opts.label)}">${parts.join('')}</svg>`);
}
