// A small live line chart in SVG: no library, a few series over the last minutes.

const NS = "http://www.w3.org/2000/svg";
const W = 600;
const H = 140;
const PAD = 28;

function svg(tag, attrs) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

/** series: [{ label, cls, values: [numbers] }] sampled at the same instants. */
export function lineChart(series, { unit = "" } = {}) {
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img" });
  const all = series.flatMap((s) => s.values);
  const max = Math.max(1, ...all);
  const n = Math.max(2, ...series.map((s) => s.values.length));
  const x = (i) => PAD + ((W - PAD - 4) * i) / (n - 1);
  const y = (v) => H - 16 - ((H - 24) * v) / max;
  for (const frac of [0, 0.5, 1]) {
    const v = max * frac;
    root.append(svg("line", { x1: PAD, x2: W - 4, y1: y(v), y2: y(v), class: "grid-line" }));
    const label = svg("text", { x: PAD - 4, y: y(v) + 4, class: "axis" });
    label.textContent = `${Number.isInteger(v) ? v : v.toFixed(1)}${unit}`;
    root.append(label);
  }
  for (const s of series) {
    if (!s.values.length) continue;
    const points = s.values.map((v, i) => `${x(i + n - s.values.length).toFixed(1)},${y(v).toFixed(1)}`);
    root.append(svg("polyline", { points: points.join(" "), class: `line ${s.cls}` }));
  }
  root.setAttribute("aria-label", series.map((s) => `${s.label}: ${s.values.at(-1) ?? 0}`).join(", "));
  return root;
}
