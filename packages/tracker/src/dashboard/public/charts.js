// SVG charts the dashboard draws itself: uPlot (used for the curves) has no heatmap, parallel
// coordinates, annotated scatter or graph layout, and these are small enough to write plainly.

const SVG_NS = "http://www.w3.org/2000/svg";

export function svg(tag, attrs = {}, parent = null, text = null) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs))
    if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  if (text !== null) el.textContent = text;
  if (parent) parent.appendChild(el);
  return el;
}

const PALETTE = [
  "#3b5bdb",
  "#e8590c",
  "#2f9e44",
  "#c2255c",
  "#7048e8",
  "#0c8599",
  "#f08c00",
  "#5c940d",
  "#862e9c",
  "#1864ab",
];

export function seriesColor(i) {
  return PALETTE[i % PALETTE.length];
}

// A perceptually ordered ramp (dark blue → teal → yellow), sampled at t ∈ [0, 1].
const RAMP = [
  [68, 1, 84],
  [59, 82, 139],
  [33, 145, 140],
  [94, 201, 98],
  [253, 231, 37],
];

export function rampColor(t) {
  if (t === null || t === undefined || Number.isNaN(t)) return "#ced4da";
  const x = Math.min(1, Math.max(0, t)) * (RAMP.length - 1);
  const i = Math.min(RAMP.length - 2, Math.floor(x));
  const f = x - i;
  const c = RAMP[i].map((v, k) => Math.round(v + f * (RAMP[i + 1][k] - v)));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

export function formatNumber(v) {
  if (v === null || v === undefined) return "–";
  if (typeof v !== "number") return String(v);
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(3);
  return v.toPrecision(4).replace(/\.?0+$/, "");
}

function extent(values) {
  const finite = values.filter((v) => typeof v === "number" && Number.isFinite(v));
  if (finite.length === 0) return [0, 1];
  let lo = Math.min(...finite);
  let hi = Math.max(...finite);
  if (lo === hi) {
    lo -= 0.5;
    hi += 0.5;
  }
  return [lo, hi];
}

/** Round tick values (1, 2, 5 × 10ᵏ steps) inside [lo, hi]. */
export function niceTicks(lo, hi, count = 5) {
  const raw = (hi - lo) / count;
  if (!(raw > 0)) return [lo];
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  const step = (f >= 7.5 ? 10 : f >= 3.5 ? 5 : f >= 1.5 ? 2 : 1) * mag;
  const ticks = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step)
    ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

function linear([d0, d1], [r0, r1]) {
  return (v) => r0 + ((v - d0) / (d1 - d0)) * (r1 - r0);
}

function clear(container) {
  container.replaceChildren();
}

function empty(container, message) {
  clear(container);
  const p = document.createElement("p");
  p.className = "hint empty";
  p.textContent = message;
  container.appendChild(p);
}

/**
 * A heatmap: rows × cols of values, each cell coloured by its value scaled within its row
 * (`normalize: "row"`, for metrics of different units) or within the whole grid.
 */
export function drawHeatmap(
  container,
  { rows, cols, values, normalize = "row", rowTitle = "", colTitle = "" },
) {
  if (rows.length === 0 || cols.length === 0) return empty(container, "Nothing to draw.");
  clear(container);
  const cell = Math.max(14, Math.min(44, Math.floor(900 / cols.length)));
  const left = 170;
  const top = 34;
  const width = left + cols.length * cell + 20;
  const height = top + rows.length * cell + 40;
  const root = svg("svg", { width, height, class: "heatmap", role: "img" }, container);
  const all = values.flat();
  const scales = rows.map((_, r) => extent(normalize === "row" ? values[r] : all));
  rows.forEach((row, r) => {
    svg("text", { x: left - 6, y: top + r * cell + cell / 2 + 4, "text-anchor": "end" }, root, row);
    cols.forEach((col, c) => {
      const v = values[r][c];
      const [lo, hi] = scales[r];
      const rect = svg(
        "rect",
        {
          class: "heat-cell",
          x: left + c * cell,
          y: top + r * cell,
          width: cell,
          height: cell,
          fill: typeof v === "number" ? rampColor((v - lo) / (hi - lo)) : "#f1f3f5",
          "data-row": row,
          "data-col": col,
          "data-value": v ?? "",
        },
        root,
      );
      svg("title", {}, rect, `${row} @ ${colTitle} ${col}: ${formatNumber(v)}`);
      if (cell >= 40 && typeof v === "number") {
        const t = (v - lo) / (hi - lo);
        svg(
          "text",
          {
            class: "heat-value",
            x: left + c * cell + cell / 2,
            y: top + r * cell + cell / 2 + 4,
            "text-anchor": "middle",
            style: `fill: ${t > 0.6 ? "#1d2430" : "#ffffff"}`,
            "pointer-events": "none",
          },
          root,
          formatNumber(v),
        );
      }
    });
  });
  const every = Math.ceil(cols.length / 40);
  cols.forEach((col, c) => {
    if (c % every === 0)
      svg("text", { x: left + c * cell + cell / 2, y: top - 8, "text-anchor": "middle" }, root, String(col));
  });
  svg("text", { x: left, y: 14 }, root, `${colTitle} →`);
  if (rowTitle) svg("text", { x: 4, y: 14 }, root, rowTitle);
  svg(
    "text",
    { x: left, y: top + rows.length * cell + 24 },
    root,
    normalize === "row" ? "colour scaled per row (min → max)" : "colour scaled over the grid (min → max)",
  );
}

/**
 * Parallel coordinates: one vertical axis per dimension (numbers on a linear scale, anything else as
 * evenly spaced categories), one polyline per item coloured by `color` (null → grey, dashed).
 */
export function drawParallel(container, { dims, items, color, colorLabel }) {
  if (dims.length === 0 || items.length === 0) return empty(container, "No trials to draw.");
  clear(container);
  const margin = 110;
  const width = Math.max(560, 2 * margin + 230 * (dims.length - 1));
  const height = 340;
  const top = 30;
  const bottom = height - 30;
  const root = svg("svg", { width, height, class: "parallel", role: "img" }, container);
  const xs = dims.map((_, i) =>
    dims.length === 1 ? width / 2 : margin + (i * (width - 2 * margin)) / (dims.length - 1),
  );
  const scales = dims.map((dim) => {
    const vals = items.map((it) => it[dim.key]);
    const numeric = vals.every((v) => v === null || v === undefined || typeof v === "number");
    if (numeric) {
      const [lo, hi] = extent(vals);
      const y = linear([lo, hi], [bottom, top]);
      return { numeric, y, ticks: niceTicks(lo, hi, 4) };
    }
    const cats = [...new Set(vals.map((v) => JSON.stringify(v)))].sort();
    const y = (v) =>
      cats.length === 1
        ? (top + bottom) / 2
        : bottom - (cats.indexOf(JSON.stringify(v)) * (bottom - top)) / (cats.length - 1);
    return { numeric, y, cats };
  });
  const [cLo, cHi] = extent(color);
  items.forEach((item, n) => {
    const points = dims.map((dim, i) => {
      const v = item[dim.key];
      if (v === null || v === undefined) return null;
      return [xs[i], scales[i].y(v)];
    });
    let d = "";
    let pen = false;
    for (const p of points) {
      if (!p) {
        pen = false;
        continue;
      }
      d += `${pen ? "L" : "M"}${p[0].toFixed(1)},${p[1].toFixed(1)}`;
      pen = true;
    }
    const c = color[n];
    const path = svg(
      "path",
      {
        class: typeof c === "number" ? "pc-line" : "pc-line no-metric",
        d,
        stroke: typeof c === "number" ? rampColor((c - cLo) / (cHi - cLo)) : null,
        "data-item": item.id,
      },
      root,
    );
    svg("title", {}, path, `${item.id}${typeof c === "number" ? ` · ${colorLabel} ${formatNumber(c)}` : ""}`);
    // With one axis there is no line to draw: mark each trial's value on it.
    if (dims.length === 1 && points[0]) {
      const dot = svg("circle", { class: "pc-dot", cx: points[0][0], cy: points[0][1], r: 4 }, root);
      svg("title", {}, dot, item.id);
    }
  });
  dims.forEach((dim, i) => {
    const g = svg("g", { class: "axis" }, root);
    svg("line", { x1: xs[i], x2: xs[i], y1: top, y2: bottom }, g);
    const title = svg(
      "text",
      { x: xs[i], y: top - 12, "text-anchor": "middle", "font-weight": 600 },
      g,
      truncate(dim.label, 30),
    );
    svg("title", {}, title, dim.label);
    const s = scales[i];
    const labels = s.numeric
      ? s.ticks.map((t) => [s.y(t), formatNumber(t)])
      : s.cats.map((c) => [s.y(JSON.parse(c)), c.replace(/^"|"$/g, "")]);
    for (const [y, text] of labels) {
      svg("line", { x1: xs[i] - 4, x2: xs[i], y1: y, y2: y }, g);
      // Category values (paths, names) keep their end, which tells them apart, within the axis spacing.
      const label = svg("text", { x: xs[i] - 7, y: y + 4, "text-anchor": "end" }, g, truncateStart(text, 16));
      if (label.textContent !== text) svg("title", {}, label, text);
    }
  });
}

/**
 * Indices of the Pareto-optimal points: no other point is at least as good on both axes and better on
 * one. "Good" is higher unless `xLower` / `yLower`.
 */
export function paretoFront(points, xLower = false, yLower = false) {
  const sx = xLower ? -1 : 1;
  const sy = yLower ? -1 : 1;
  const front = [];
  points.forEach((p, i) => {
    const dominated = points.some(
      (q, j) =>
        j !== i &&
        sx * q.x >= sx * p.x &&
        sy * q.y >= sy * p.y &&
        (sx * q.x > sx * p.x || sy * q.y > sy * p.y),
    );
    if (!dominated) front.push(i);
  });
  return front;
}

/** A scatter plot with the Pareto front drawn as a staircase and the best colour value ringed. */
export function drawScatter(
  container,
  { points, xLabel, yLabel, xLower, yLower, colorLabel, higherColorIsBetter = true },
) {
  const usable = points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  if (usable.length === 0) return empty(container, "No trial has both values.");
  clear(container);
  const [xLo, xHi] = pad(extent(usable.map((p) => p.x)));
  const [yLo, yHi] = pad(extent(usable.map((p) => p.y)));
  // The left margin fits the widest y tick label, so the rotated axis title never runs over the numbers.
  const yTickWidth = Math.max(...niceTicks(yLo, yHi).map((t) => formatNumber(t).length)) * 7;
  const height = 420;
  const m = { left: Math.max(64, 36 + yTickWidth), right: 20, top: 16, bottom: 48 };
  const width = 556 + m.left;
  const root = svg("svg", { width, height, class: "scatter", role: "img" }, container);
  const x = linear([xLo, xHi], [m.left, width - m.right]);
  const y = linear([yLo, yHi], [height - m.bottom, m.top]);
  const axes = svg("g", { class: "axis" }, root);
  svg("line", { x1: m.left, x2: width - m.right, y1: height - m.bottom, y2: height - m.bottom }, axes);
  svg("line", { x1: m.left, x2: m.left, y1: m.top, y2: height - m.bottom }, axes);
  for (const t of niceTicks(xLo, xHi)) {
    svg("line", { x1: x(t), x2: x(t), y1: height - m.bottom, y2: height - m.bottom + 4 }, axes);
    svg("text", { x: x(t), y: height - m.bottom + 16, "text-anchor": "middle" }, axes, formatNumber(t));
  }
  for (const t of niceTicks(yLo, yHi)) {
    svg("line", { x1: m.left - 4, x2: m.left, y1: y(t), y2: y(t) }, axes);
    svg("text", { x: m.left - 6, y: y(t) + 4, "text-anchor": "end" }, axes, formatNumber(t));
  }
  svg(
    "text",
    { x: (m.left + width - m.right) / 2, y: height - 10, "text-anchor": "middle", "font-weight": 600 },
    axes,
    `${xLabel}${xLower ? " (lower is better)" : ""}`,
  );
  svg(
    "text",
    {
      x: 14,
      y: (m.top + height - m.bottom) / 2,
      transform: `rotate(-90 14 ${(m.top + height - m.bottom) / 2})`,
      "text-anchor": "middle",
      "font-weight": 600,
    },
    axes,
    `${yLabel}${yLower ? " (lower is better)" : ""}`,
  );

  const front = new Set(paretoFront(usable, xLower, yLower));
  const frontPoints = [...front].map((i) => usable[i]).sort((a, b) => a.x - b.x);
  if (frontPoints.length > 0) {
    // Staircase through the front: between neighbours the front holds the worse y of the pair.
    let d = `M${x(frontPoints[0].x)},${y(frontPoints[0].y)}`;
    for (let i = 1; i < frontPoints.length; i++) {
      const prev = frontPoints[i - 1];
      const cur = frontPoints[i];
      d += ` L${x(cur.x)},${y(prev.y)} L${x(cur.x)},${y(cur.y)}`;
    }
    svg("path", { class: "pareto-front", d }, root);
  }
  const colors = usable.map((p) => p.c);
  const [cLo, cHi] = extent(colors);
  usable.forEach((p, i) => {
    const circle = svg(
      "circle",
      {
        class: front.has(i) ? "scatter-point pareto" : "scatter-point",
        cx: x(p.x),
        cy: y(p.y),
        r: 6,
        fill: typeof p.c === "number" ? rampColor((p.c - cLo) / (cHi - cLo)) : "#adb5bd",
        "data-id": p.id,
      },
      root,
    );
    svg(
      "title",
      {},
      circle,
      `${p.label}\n${xLabel}: ${formatNumber(p.x)}\n${yLabel}: ${formatNumber(p.y)}${typeof p.c === "number" ? `\n${colorLabel}: ${formatNumber(p.c)}` : ""}`,
    );
  });
  const scored = usable.filter((p) => typeof p.c === "number");
  let best = null;
  for (const p of scored) if (!best || (higherColorIsBetter ? p.c > best.c : p.c < best.c)) best = p;
  if (best)
    svg("circle", { class: "best-final", cx: x(best.x), cy: y(best.y), r: 11, "data-id": best.id }, root);
  return { front: frontPoints, best };
}

function pad([lo, hi]) {
  const d = (hi - lo) * 0.06;
  return [lo - d, hi + d];
}

/**
 * Layered layout of a DAG: a node's column is the length of the longest path reaching it, rows keep
 * the order nodes were first seen in. Edges are drawn as curves from a parent's right to a child's left.
 */
export function drawLineage(container, { nodes, edges }) {
  if (nodes.length === 0) return empty(container, "No run recorded an artifact.");
  clear(container);
  const parents = new Map(nodes.map((n) => [n.id, []]));
  for (const e of edges) parents.get(e.to)?.push(e.from);
  const depth = new Map();
  const visiting = new Set();
  const depthOf = (id) => {
    if (depth.has(id)) return depth.get(id);
    if (visiting.has(id)) return 0; // a cycle in bad metadata: cut it
    visiting.add(id);
    const ps = parents.get(id) ?? [];
    const d = ps.length === 0 ? 0 : 1 + Math.max(...ps.map(depthOf));
    visiting.delete(id);
    depth.set(id, d);
    return d;
  };
  const columns = [];
  for (const n of nodes) {
    const d = depthOf(n.id);
    if (!columns[d]) columns[d] = [];
    columns[d].push(n);
  }
  // Order rows to cut crossings: later columns by their parents' rows, then the first by its children's.
  const rowOf = new Map();
  const place = (col) => {
    col.forEach((n, r) => {
      rowOf.set(n.id, r);
    });
  };
  const meanRow = (ids, fallback) =>
    ids.length === 0 ? fallback : ids.reduce((a, id) => a + (rowOf.get(id) ?? fallback), 0) / ids.length;
  for (const col of columns) place(col ?? []);
  for (let c = 1; c < columns.length; c++) {
    const col = columns[c] ?? [];
    col.sort((a, b) => meanRow(parents.get(a.id) ?? [], 1e9) - meanRow(parents.get(b.id) ?? [], 1e9));
    place(col);
  }
  if (columns.length > 1) {
    const children = (id) => edges.filter((e) => e.from === id).map((e) => e.to);
    columns[0].sort((a, b) => meanRow(children(a.id), 1e9) - meanRow(children(b.id), 1e9));
  }
  const boxW = 230;
  const boxH = 46;
  const gapX = 80;
  const gapY = 18;
  const rowsMax = Math.max(...columns.map((c) => c?.length ?? 0));
  const width = columns.length * (boxW + gapX) + 20;
  const height = rowsMax * (boxH + gapY) + 30;
  const root = svg("svg", { width, height, class: "lineage", role: "img" }, container);
  const defs = svg("defs", {}, root);
  const marker = svg(
    "marker",
    {
      id: "arrow",
      viewBox: "0 0 10 10",
      refX: 10,
      refY: 5,
      markerWidth: 7,
      markerHeight: 7,
      orient: "auto-start-reverse",
    },
    defs,
  );
  svg("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#868e96" }, marker);
  const pos = new Map();
  columns.forEach((col, c) => {
    (col ?? []).forEach((n, r) => {
      pos.set(n.id, { x: 10 + c * (boxW + gapX), y: 14 + r * (boxH + gapY) });
    });
  });
  for (const e of edges) {
    const a = pos.get(e.from);
    const b = pos.get(e.to);
    if (!a || !b) continue;
    const x1 = a.x + boxW;
    const y1 = a.y + boxH / 2;
    const x2 = b.x;
    const y2 = b.y + boxH / 2;
    const mx = (x1 + x2) / 2;
    svg(
      "path",
      {
        class: "lineage-edge",
        d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`,
        "marker-end": "url(#arrow)",
        "data-from": e.from,
        "data-to": e.to,
      },
      root,
    );
  }
  for (const n of nodes) {
    const p = pos.get(n.id);
    const kind = (parents.get(n.id)?.length ?? 0) >= 2 ? " merge" : n.run_id === null ? " external" : "";
    const g = svg(
      "g",
      { class: `lineage-node${kind}`, transform: `translate(${p.x},${p.y})`, "data-id": n.id },
      root,
    );
    svg("rect", { width: boxW, height: boxH, rx: 6 }, g);
    const title = n.name ?? n.id.split("/").filter(Boolean).pop() ?? n.id;
    svg(
      "text",
      { x: 8, y: 18, "font-weight": 600 },
      g,
      truncate(`${title}${n.type ? ` · ${n.type}` : ""}`, 34),
    );
    svg(
      "text",
      { x: 8, y: 35, style: "fill: #6b7380" },
      g,
      n.run_name
        ? truncate(`${n.stage ? `${n.stage} · ` : ""}run ${n.run_name}`, 36)
        : (n.stage ?? truncateStart(n.uri, 36)), // a path keeps its end: the file or directory name
    );
    svg("title", {}, g, `${n.uri}${n.run_id ? `\nrecorded by run ${n.run_id}` : ""}`);
  }
}

function truncate(text, n) {
  return text.length > n ? `${text.slice(0, n - 1)}…` : text;
}

function truncateStart(text, n) {
  return text.length > n ? `…${text.slice(text.length - n + 1)}` : text;
}
