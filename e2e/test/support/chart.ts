/**
 * A dashboard panel's data as a picture, without Grafana: a Prometheus `query_range` matrix drawn
 * as an inline SVG line chart in a self-contained HTML page (no scripts, no external resources),
 * screenshotted with headless Chromium (the Debian package, driven by playwright-core).
 */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS } from './chromium.js';

/** One line: [unix seconds, value] points (NaN breaks the line). */
export interface ChartSeries {
  name: string;
  points: [number, number][];
}

export interface ChartOptions {
  title: string;
  /** A line under the title, e.g. the PromQL expression. */
  subtitle?: string;
  /** How values are printed: `s` as durations, anything else as plain numbers with the unit appended. */
  unit?: string;
  width?: number;
  height?: number;
}

/** A Prometheus `query_range` answer (`data.result` of a matrix). */
export interface PromMatrixItem {
  metric: Record<string, string>;
  values: [number, string][];
}

/**
 * Series from a matrix; `legend` is a Grafana-style legend format (`{{source}} → {{target}}`).
 * Prometheus leaves out the steps where a series had no sample (a target that was down): with
 * `step` (seconds) given, such holes become NaN points, so the line breaks there.
 */
export function seriesFromMatrix(result: PromMatrixItem[], legend: string, step?: number): ChartSeries[] {
  return result
    .map((r) => {
      const points: [number, number][] = [];
      for (const [t, v] of r.values) {
        const prev = points[points.length - 1];
        if (step !== undefined && prev && t - prev[0] > step * 1.5) points.push([prev[0] + step, NaN]);
        points.push([t, Number(v)]);
      }
      return { name: legend.replace(/\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/g, (_, l: string) => r.metric[l] ?? ''), points };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

const PALETTE = ['#7eb26d', '#eab839', '#6ed0e0', '#ef843c', '#e24d42', '#1f78c1', '#ba43a9', '#705da0', '#508642', '#cca300'];
/** Lines on top of each other (every pair caught up at 0) stay distinguishable by their dashes. */
const DASHES = ['', '6 3', '2 3', '10 3 2 3'];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** 1, 2 or 5 times a power of ten, so that about `n` steps cover `span`. */
function niceStep(span: number, n: number): number {
  const raw = span / n;
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  const m = raw / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

export function formatValue(v: number, unit = ''): string {
  if (!Number.isFinite(v)) return String(v);
  if (unit === 's') {
    if (v === 0) return '0 s';
    if (Math.abs(v) < 1) return `${+(v * 1000).toPrecision(3)} ms`;
    if (Math.abs(v) < 120) return `${+v.toPrecision(3)} s`;
    return `${+(v / 60).toPrecision(3)} min`;
  }
  const s = Math.abs(v) >= 1000 || v === Math.round(v) ? String(Math.round(v)) : String(+v.toPrecision(3));
  return unit ? `${s} ${unit}` : s;
}

function clock(t: number): string {
  return new Date(t * 1000).toISOString().slice(11, 19);
}

/** The chart as an SVG element (a string). */
export function chartSvg(series: ChartSeries[], opts: ChartOptions): string {
  const width = opts.width ?? 960;
  const height = opts.height ?? 420;
  const m = { left: 70, right: 36, top: 16, bottom: 44 };
  const w = width - m.left - m.right;
  const h = height - m.top - m.bottom;
  const pts = series.flatMap((s) => s.points).filter(([, v]) => Number.isFinite(v));
  const t0 = pts.length ? Math.min(...pts.map(([t]) => t)) : 0;
  const t1 = pts.length ? Math.max(...pts.map(([t]) => t)) : 1;
  const vmax = pts.length ? Math.max(...pts.map(([, v]) => v)) : 0;
  const vmin = Math.min(0, ...pts.map(([, v]) => v));
  const yStep = niceStep(vmax - vmin > 0 ? vmax - vmin : 1, 5);
  const yTop = Math.max(yStep, Math.ceil(vmax / yStep) * yStep);
  const yBottom = Math.floor(vmin / yStep) * yStep;
  const x = (t: number): number => m.left + (t1 === t0 ? w / 2 : ((t - t0) / (t1 - t0)) * w);
  const y = (v: number): number => m.top + h - ((v - yBottom) / (yTop - yBottom)) * h;

  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
  );
  parts.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="#181b1f"/>`);
  for (let v = yBottom; v <= yTop + yStep / 2; v += yStep) {
    const yy = y(v).toFixed(1);
    parts.push(`<line x1="${m.left}" x2="${m.left + w}" y1="${yy}" y2="${yy}" stroke="#2c3235"/>`);
    parts.push(`<text x="${m.left - 8}" y="${yy}" dy="4" text-anchor="end" fill="#ccccdc">${esc(formatValue(v, opts.unit))}</text>`);
  }
  const span = t1 - t0;
  const tStep = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600].find((s) => span / s <= 8) ?? 7200;
  for (let t = Math.ceil(t0 / tStep) * tStep; t <= t1; t += tStep) {
    const xx = x(t).toFixed(1);
    parts.push(`<line x1="${xx}" x2="${xx}" y1="${m.top}" y2="${m.top + h}" stroke="#2c3235"/>`);
    parts.push(`<text x="${xx}" y="${m.top + h + 18}" text-anchor="middle" fill="#ccccdc">${clock(t)}</text>`);
  }
  parts.push(`<rect x="${m.left}" y="${m.top}" width="${w}" height="${h}" fill="none" stroke="#464c54"/>`);
  parts.push(`<text x="${m.left + w}" y="${m.top + h + 36}" text-anchor="end" fill="#8e8e8e" font-size="11">time (UTC)</text>`);
  series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length] as string;
    const dash = DASHES[i % DASHES.length] as string;
    // Split at gaps (NaN) so a missing scrape shows as a gap, as Grafana draws it.
    let run: string[] = [];
    const flush = (): void => {
      if (run.length === 1) parts.push(`<circle cx="${run[0]?.split(',')[0]}" cy="${run[0]?.split(',')[1]}" r="2" fill="${color}"/>`);
      if (run.length > 1)
        parts.push(
          `<polyline fill="none" stroke="${color}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''} points="${run.join(' ')}"/>`,
        );
      run = [];
    };
    for (const [t, v] of s.points) {
      if (Number.isFinite(v)) run.push(`${x(t).toFixed(1)},${y(v).toFixed(1)}`);
      else flush();
    }
    flush();
  });
  if (pts.length === 0)
    parts.push(`<text x="${m.left + w / 2}" y="${m.top + h / 2}" text-anchor="middle" fill="#ccccdc" font-size="16">No data</text>`);
  parts.push('</svg>');
  return parts.join('\n');
}

/** A self-contained page: title, subtitle, the chart, and a legend table (last and max per series). */
export function chartHtml(series: ChartSeries[], opts: ChartOptions): string {
  const rows = series
    .map((s, i) => {
      const vals = s.points.map(([, v]) => v).filter(Number.isFinite);
      const last = vals.length ? formatValue(vals[vals.length - 1] as number, opts.unit) : '–';
      const max = vals.length ? formatValue(Math.max(...vals), opts.unit) : '–';
      const color = PALETTE[i % PALETTE.length] as string;
      const dash = DASHES[i % DASHES.length] as string;
      const swatch = `<svg class="sw" width="26" height="8"><line x1="0" x2="26" y1="4" y2="4" stroke="${color}" stroke-width="3"${dash ? ` stroke-dasharray="${dash}"` : ''}/></svg>`;
      return `<tr><td>${swatch}${esc(s.name)}</td><td>${esc(last)}</td><td>${esc(max)}</td></tr>`;
    })
    .join('\n');
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>${esc(opts.title)}</title>
<style>
  body { margin: 0; background: #111217; color: #ccccdc; font-family: sans-serif; }
  main { display: inline-block; padding: 16px 20px; background: #181b1f; border: 1px solid #2c3235; margin: 8px; }
  h1 { font-size: 16px; font-weight: 500; margin: 0 0 4px; }
  .sub { font-family: monospace; font-size: 12px; color: #8e8e8e; margin: 0 0 10px; max-width: ${(opts.width ?? 960) - 20}px; word-break: break-all; }
  table { border-collapse: collapse; font-size: 12px; margin-top: 8px; }
  th, td { text-align: left; padding: 2px 18px 2px 0; }
  th { color: #8e8e8e; font-weight: 500; }
  .sw { margin: 0 8px 2px 0; vertical-align: middle; }
</style></head>
<body><main id="panel">
<h1>${esc(opts.title)}</h1>
${opts.subtitle ? `<p class="sub">${esc(opts.subtitle)}</p>` : ''}
${chartSvg(series, opts)}
<table><thead><tr><th>series</th><th>last</th><th>max</th></tr></thead><tbody>
${rows}
</tbody></table>
</main></body></html>
`;
}

/** Open `html` in headless Chromium and write a PNG of its panel to `outPath`. */
export async function screenshotHtml(html: string, outPath: string): Promise<void> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 800 }, deviceScaleFactor: 1 });
    // Nothing external to load: the page is one string.
    await page.route('**/*', (route) => route.abort());
    await page.setContent(html, { waitUntil: 'load' });
    await mkdir(dirname(outPath), { recursive: true });
    await page.locator('#panel').screenshot({ path: outPath });
  } finally {
    await browser.close();
  }
}
