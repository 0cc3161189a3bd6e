import { Canvas } from "./canvas.mjs";
import { encodePng } from "./png.mjs";

/**
 * @typedef {import("./canvas.mjs").Color} Color
 * @typedef {{ name: string, points: readonly (readonly [number, number])[], color?: Color }} Series  points [x, y], x increasing
 * @typedef {{ width?: number, height?: number, title?: string, xLabel?: string }} PlotOptions
 */

/** @type {Color[]} */
const PALETTE = [
  [31, 119, 180],
  [255, 127, 14],
  [44, 160, 44],
  [214, 39, 40],
];

/**
 * A line chart of one or more series (training loss, held-out loss) as PNG bytes.
 * @param {readonly Series[]} series
 * @param {PlotOptions} [options]
 * @returns {Uint8Array}
 */
export function lossCurvePng(series, options = {}) {
  const width = options.width ?? 720;
  const height = options.height ?? 420;
  const c = new Canvas(width, height);
  const left = 70,
    right = 20,
    top = 40,
    bottom = 50;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const all = series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const xs = all.map(([x]) => x);
  const ys = all.map(([, y]) => y);
  const [x0, x1] = all.length ? padRange(Math.min(...xs), Math.max(...xs), 0) : [0, 1];
  const [y0, y1] = all.length ? padRange(Math.min(...ys), Math.max(...ys), 0.05) : [0, 1];
  const px = (/** @type {number} */ x) => left + ((x - x0) / (x1 - x0)) * plotW;
  const py = (/** @type {number} */ y) => top + plotH - ((y - y0) / (y1 - y0)) * plotH;
  /** @type {Color} */
  const grey = [200, 200, 200];
  /** @type {Color} */
  const dark = [40, 40, 40];

  for (const t of ticks(y0, y1, 6)) {
    c.line(left, py(t), left + plotW, py(t), grey);
    const label = formatTick(t);
    c.text(left - 8 - Canvas.textWidth(label), py(t) - 5, label, dark);
  }
  for (const t of ticks(x0, x1, 8)) {
    c.line(px(t), top, px(t), top + plotH, grey);
    const label = formatTick(t);
    c.text(px(t) - Canvas.textWidth(label) / 2, top + plotH + 8, label, dark);
  }
  c.line(left, top, left, top + plotH, dark);
  c.line(left, top + plotH, left + plotW, top + plotH, dark);
  if (options.title) c.text(left, 12, options.title, dark);
  if (options.xLabel) c.text(left + plotW / 2 - Canvas.textWidth(options.xLabel) / 2, height - 18, options.xLabel, dark);

  series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length];
    const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    for (let k = 1; k < pts.length; k++) c.line(px(pts[k - 1][0]), py(pts[k - 1][1]), px(pts[k][0]), py(pts[k][1]), color, 2);
    if (pts.length === 1) c.rect(px(pts[0][0]) - 2, py(pts[0][1]) - 2, 5, 5, color);
    // Legend, top right.
    const ly = top + 8 + i * 16;
    const lx = left + plotW - 10 - Canvas.textWidth(s.name) - 22;
    c.rect(lx, ly + 3, 16, 4, color);
    c.text(lx + 22, ly, s.name, dark);
  });
  return encodePng(c);
}

/** @param {number} lo @param {number} hi @param {number} pad @returns {[number, number]} */
function padRange(lo, hi, pad) {
  if (hi === lo) return [lo - 1, hi + 1];
  const d = (hi - lo) * pad;
  return [lo - d, hi + d];
}

/**
 * "Nice" tick values (1, 2, 5 x 10^k steps) inside [lo, hi].
 * @param {number} lo @param {number} hi @param {number} count
 * @returns {number[]}
 */
export function ticks(lo, hi, count) {
  const raw = (hi - lo) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(Math.abs(t) < step * 1e-9 ? 0 : t);
  return out;
}

/** @param {number} t */
function formatTick(t) {
  if (Math.abs(t) >= 10000) return `${Math.round(t / 1000)}K`;
  return Number.isInteger(t) ? String(t) : String(Number(t.toPrecision(3)));
}
