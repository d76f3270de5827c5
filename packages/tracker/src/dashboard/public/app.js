// The dashboard page: a run table with filters, loss curves (uPlot), layer-wise heatmaps, sweep views and
// artifact lineage, all from the JSON API of `lethe-track dashboard`.

import {
  drawHeatmap,
  drawLineage,
  drawParallel,
  drawScatter,
  formatNumber,
  seriesColor,
} from "/assets/charts.js";
import uPlot from "/assets/uplot.esm.js";

const state = {
  runs: [],
  sweeps: [],
  checked: new Set(),
  details: new Map(),
  sort: { key: "started_at", dir: -1 },
  plot: null,
};

const $ = (id) => document.getElementById(id);

async function api(path) {
  const res = await fetch(path);
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
  return res.json();
}

function setStatus(text) {
  $("status").textContent = text;
}

// ---- runs -------------------------------------------------------------------------------------

/** The value a filter token or a column refers to: run fields first, then summary, then config. */
function field(run, key) {
  if (key in run && typeof run[key] !== "object") return run[key];
  if (key in run.summary) return run.summary[key];
  if (key in run.config) return run.config[key];
  return undefined;
}

/**
 * Filter tokens, all of which must hold: `key=value` (string equality), `key>n` / `key<n` (numbers),
 * anything else a case-insensitive substring of id, name, group, sweep, job type or tags.
 */
export function matches(run, text) {
  for (const token of text.trim().split(/\s+/).filter(Boolean)) {
    const m = token.match(/^([^=<>]+)(=|>|<)(.+)$/);
    if (m) {
      const v = field(run, m[1]);
      if (m[2] === "=" && String(v) !== m[3]) return false;
      if (m[2] === ">" && !(typeof v === "number" && v > Number(m[3]))) return false;
      if (m[2] === "<" && !(typeof v === "number" && v < Number(m[3]))) return false;
      continue;
    }
    const hay = [run.id, run.name, run.group, run.sweep, run.job_type, ...run.tags]
      .filter(Boolean)
      .join(" ")
      .toLowerCase();
    if (!hay.includes(token.toLowerCase())) return false;
  }
  return true;
}

function filteredRuns() {
  const text = $("filter-text").value;
  const st = $("filter-state").value;
  const group = $("filter-group").value;
  return state.runs.filter(
    (r) => (!st || r.state === st) && (!group || r.group === group) && matches(r, text),
  );
}

/** Summary columns worth showing: the numeric keys most runs have, up to six. */
function summaryColumns(runs) {
  const counts = new Map();
  for (const r of runs)
    for (const [k, v] of Object.entries(r.summary))
      if (typeof v === "number") counts.set(k, (counts.get(k) ?? 0) + 1);
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, 6)
    .map(([k]) => k);
}

function fillSelect(select, values, keep = true, labels = null) {
  const previous = select.value;
  const fixed = [...select.querySelectorAll("option[data-fixed]")];
  select.replaceChildren(...fixed);
  values.forEach((v, i) => {
    const o = document.createElement("option");
    o.value = v;
    o.textContent = labels ? labels[i] : v;
    select.appendChild(o);
  });
  if (keep && [...select.options].some((o) => o.value === previous)) select.value = previous;
}

function renderRunTable() {
  const runs = filteredRuns();
  const cols = summaryColumns(state.runs);
  const head = $("runs-table").tHead;
  const body = $("runs-table").tBodies[0];
  const columns = [
    ["name", "name"],
    ["state", "state"],
    ["group", "group"],
    ["job_type", "job"],
    ["started_at", "started"],
    ...cols.map((c) => [c, c]),
  ];
  const headRow = document.createElement("tr");
  const all = document.createElement("th");
  const allBox = document.createElement("input");
  allBox.type = "checkbox";
  allBox.id = "check-all";
  allBox.checked = runs.length > 0 && runs.every((r) => state.checked.has(r.id));
  allBox.addEventListener("change", () => {
    for (const r of runs) allBox.checked ? state.checked.add(r.id) : state.checked.delete(r.id);
    renderRunTable();
  });
  all.appendChild(allBox);
  headRow.appendChild(all);
  for (const [key, label] of columns) {
    const th = document.createElement("th");
    th.textContent = label + (state.sort.key === key ? (state.sort.dir > 0 ? " ▲" : " ▼") : "");
    th.addEventListener("click", () => {
      state.sort = { key, dir: state.sort.key === key ? -state.sort.dir : 1 };
      renderRunTable();
    });
    headRow.appendChild(th);
  }
  head.replaceChildren(headRow);

  const { key, dir } = state.sort;
  const sorted = runs.slice().sort((a, b) => {
    const va = field(a, key);
    const vb = field(b, key);
    if (va === vb) return 0;
    if (va === undefined || va === null) return 1;
    if (vb === undefined || vb === null) return -1;
    return (va < vb ? -1 : 1) * dir;
  });
  body.replaceChildren(
    ...sorted.map((run) => {
      const tr = document.createElement("tr");
      tr.dataset.run = run.id;
      const td = document.createElement("td");
      const box = document.createElement("input");
      box.type = "checkbox";
      box.checked = state.checked.has(run.id);
      box.addEventListener("change", () => {
        box.checked ? state.checked.add(run.id) : state.checked.delete(run.id);
      });
      td.appendChild(box);
      tr.appendChild(td);
      for (const [k] of columns) {
        const cell = document.createElement("td");
        const v = field(run, k);
        if (k === "state") {
          const span = document.createElement("span");
          span.className = `state state-${v}`;
          span.textContent = v;
          cell.appendChild(span);
        } else if (k === "started_at") {
          cell.textContent = v ? new Date(v).toLocaleString() : "";
        } else {
          cell.textContent = typeof v === "number" ? formatNumber(v) : (v ?? "");
          if (typeof v === "number") cell.className = "num";
        }
        tr.appendChild(cell);
      }
      return tr;
    }),
  );
  $("run-count").textContent = `${runs.length} of ${state.runs.length} runs`;
}

/** The checked runs that pass the current filter, in table order. */
function selectedRuns() {
  return filteredRuns().filter((r) => state.checked.has(r.id));
}

async function detail(id) {
  if (!state.details.has(id)) state.details.set(id, await api(`/api/runs/${encodeURIComponent(id)}`));
  return state.details.get(id);
}

// ---- curves -----------------------------------------------------------------------------------

async function renderCurves() {
  const runs = selectedRuns();
  const details = await Promise.all(runs.map((r) => detail(r.id)));
  const keys = [...new Set(details.flatMap((d) => d.history_keys))].sort();
  const select = $("curve-metric");
  const before = select.value;
  fillSelect(select, keys);
  if (!keys.includes(before)) select.value = keys.find((k) => /loss/i.test(k)) ?? keys[0] ?? "";
  const metric = select.value;
  const container = $("curves-chart");
  if (state.plot) {
    state.plot.destroy();
    state.plot = null;
  }
  container.replaceChildren();
  if (!metric) {
    $("curve-info").textContent =
      runs.length === 0 ? "check some runs in the Runs view" : "the checked runs logged no numbers";
    return;
  }
  const withKey = details.filter((d) => d.history_keys.includes(metric));
  const columns = await Promise.all(
    withKey.map((d) =>
      api(`/api/runs/${encodeURIComponent(d.id)}/history?keys=${encodeURIComponent(metric)}`),
    ),
  );
  // uPlot wants one shared, sorted x axis: the union of the steps, null where a run has no value.
  const steps = [...new Set(columns.flatMap((c) => c._step))].sort((a, b) => a - b);
  const index = new Map(steps.map((s, i) => [s, i]));
  const series = columns.map((c) => {
    const ys = new Array(steps.length).fill(null);
    c._step.forEach((s, i) => {
      ys[index.get(s)] = c[metric][i];
    });
    return ys;
  });
  $("curve-info").textContent =
    `${withKey.length} run${withKey.length === 1 ? "" : "s"}, ${steps.length} steps`;
  const log = $("curve-log").checked;
  state.plot = new uPlot(
    {
      width: Math.max(600, container.clientWidth || 900),
      height: 420,
      scales: { x: { time: false }, y: log ? { distr: 3 } : {} },
      axes: [{ label: "step" }, { label: metric }],
      series: [
        { label: "step" },
        ...withKey.map((d, i) => ({
          label: d.name === d.id ? d.id : `${d.name} (${d.id})`,
          stroke: seriesColor(i),
          width: 1.6,
          spanGaps: true,
        })),
      ],
    },
    [steps, ...series],
    container,
  );
}

// ---- layers -----------------------------------------------------------------------------------

async function renderLayers() {
  const runs = selectedRuns();
  const details = await Promise.all(runs.map((r) => detail(r.id)));
  const withTables = details.filter((d) => d.tables.some((t) => t.layerwise));
  fillSelect(
    $("layer-run"),
    withTables.map((d) => d.id),
    true,
    withTables.map((d) => d.name),
  );
  const run = withTables.find((d) => d.id === $("layer-run").value);
  const tables = run ? run.tables.filter((t) => t.layerwise) : [];
  fillSelect(
    $("layer-table"),
    tables.map((t) => t.name),
  );
  const info = tables.find((t) => t.name === $("layer-table").value);
  const container = $("heatmap");
  if (!run || !info) {
    container.replaceChildren();
    const p = document.createElement("p");
    p.className = "hint empty";
    p.textContent = "None of the checked runs has a table with a `layer` column.";
    container.appendChild(p);
    fillSelect($("layer-value"), []);
    return;
  }
  const table = await api(`/api/runs/${encodeURIComponent(run.id)}/tables/${encodeURIComponent(info.name)}`);
  const layerCol = table.columns.indexOf("layer");
  const numericCols = table.columns.filter(
    (_name, i) => i !== layerCol && table.data.some((row) => typeof row[i] === "number"),
  );
  const categoryCols = table.columns.filter((name, i) => i !== layerCol && !numericCols.includes(name));
  const layers = [...new Set(table.data.map((row) => row[layerCol]))].sort((a, b) => a - b);
  if (categoryCols.length > 0) {
    // Long format (layer, module, value…): pivot to category × layer for one value column.
    fillSelect($("layer-value"), numericCols);
    const valueCol = table.columns.indexOf($("layer-value").value);
    const catCol = table.columns.indexOf(categoryCols[0]);
    const cats = [...new Set(table.data.map((row) => String(row[catCol])))];
    const values = cats.map((cat) =>
      layers.map((layer) => {
        const row = table.data.find((r) => r[layerCol] === layer && String(r[catCol]) === cat);
        return row && typeof row[valueCol] === "number" ? row[valueCol] : null;
      }),
    );
    drawHeatmap(container, {
      rows: cats,
      cols: layers,
      values,
      normalize: "all",
      rowTitle: categoryCols[0],
      colTitle: "layer",
    });
  } else {
    fillSelect($("layer-value"), []);
    const values = numericCols.map((c) => {
      const i = table.columns.indexOf(c);
      return layers.map((layer) => {
        const row = table.data.find((r) => r[layerCol] === layer);
        return row && typeof row[i] === "number" ? row[i] : null;
      });
    });
    drawHeatmap(container, {
      rows: numericCols,
      cols: layers,
      values,
      normalize: "row",
      rowTitle: "metric",
      colTitle: "layer",
    });
  }
}

// ---- sweeps -----------------------------------------------------------------------------------

/**
 * SemEval views of a run's summary: "forget" = 1 − mean of the forget-set scores (higher = more
 * forgotten), "retain" = mean of the retain-set scores, from the evaluator's `…/forget/<task>/<metric>`
 * and `…/retain/<task>/<metric>` keys; the final score is `…final`.
 */
export function semevalAxes(summary) {
  const forget = [];
  const retain = [];
  let final = null;
  for (const [k, v] of Object.entries(summary)) {
    if (typeof v !== "number") continue;
    if (/(^|\/)forget\/[^/]+\/(regurgitation|knowledge)$/.test(k)) forget.push(v);
    if (/(^|\/)retain\/[^/]+\/(regurgitation|knowledge)$/.test(k)) retain.push(v);
    if (/(^|\/)final$/.test(k)) final = v;
  }
  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
  return {
    forget: forget.length > 0 ? 1 - mean(forget) : null,
    retain: retain.length > 0 ? mean(retain) : null,
    final,
  };
}

const DERIVED = {
  "semeval:forget": "forget efficacy (1 − mean forget score)",
  "semeval:retain": "retain (mean retain score)",
};

function trialValue(trial, key) {
  if (key === "semeval:forget") return semevalAxes(trial.summary).forget;
  if (key === "semeval:retain") return semevalAxes(trial.summary).retain;
  if (key === "semeval:final") return semevalAxes(trial.summary).final;
  if (key === "metric") return trial.metric;
  const v = trial.summary[key];
  return typeof v === "number" ? v : null;
}

function renderSweeps() {
  fillSelect(
    $("sweep-select"),
    state.sweeps.map((s) => s.id),
    true,
    state.sweeps.map((s) => (s.name ? `${s.name} (${s.id})` : s.id)),
  );
  const sweep = state.sweeps.find((s) => s.id === $("sweep-select").value);
  if (!sweep) {
    $("sweep-info").textContent = "no sweeps in this runs directory";
    for (const id of ["parallel", "scatter"]) $(id).replaceChildren();
    return;
  }
  const best = sweep.trials.find((t) => t.run_id === sweep.best_run);
  const metricLogged = sweep.metric !== null && sweep.trials.some((t) => typeof t.metric === "number");
  $("sweep-info").textContent =
    `${sweep.method ?? "external"} sweep · ${sweep.trials.length} trials` +
    (sweep.metric ? ` · ${sweep.metric.goal} ${sweep.metric.name}` : "") +
    (best ? ` · best ${best.name}: ${formatNumber(best.metric)}` : "");
  const fixed = Object.entries(sweep.fixed);
  $("sweep-notes").textContent = [
    sweep.metric && !metricLogged
      ? `No trial logged ${sweep.metric.name}, so there is no best trial and the lines are grey` +
        (sweep.metric.name === "eval/final"
          ? ": the final score needs MMLU (give the trials --eval.mmlu DIR)."
          : ".")
      : "",
    fixed.length > 0
      ? `Same in every trial (not drawn as axes): ${fixed.map(([k, v]) => `${k} = ${typeof v === "string" ? v : JSON.stringify(v)}`).join(", ")}.`
      : "",
  ]
    .filter(Boolean)
    .join(" ");

  const dims = sweep.params.map((p) => ({ key: p, label: p }));
  if (metricLogged) dims.push({ key: "__metric", label: sweep.metric.name });
  const items = sweep.trials.map((t) => ({ id: t.name, ...t.params, __metric: t.metric }));
  drawParallel($("parallel"), {
    dims,
    items,
    color: sweep.trials.map((t) => t.metric),
    colorLabel: sweep.metric?.name ?? "",
  });

  // Scatter axes: the SemEval forget/retain views when the trials have evaluator keys, plus every numeric summary key.
  const keys = [
    ...new Set(
      sweep.trials.flatMap((t) =>
        Object.entries(t.summary)
          .filter(([, v]) => typeof v === "number")
          .map(([k]) => k),
      ),
    ),
  ].sort();
  const hasSemeval = sweep.trials.some((t) => semevalAxes(t.summary).forget !== null);
  const axisKeys = [...(hasSemeval ? Object.keys(DERIVED) : []), ...keys];
  const axisLabels = axisKeys.map((k) => DERIVED[k] ?? k);
  const sx = $("scatter-x");
  const sy = $("scatter-y");
  const sc = $("scatter-color");
  fillSelect(sx, axisKeys, true, axisLabels);
  fillSelect(sy, axisKeys, true, axisLabels);
  const colorKeys = [...(hasSemeval ? ["semeval:final"] : []), ...(sweep.metric ? ["metric"] : []), ...keys];
  fillSelect(
    sc,
    colorKeys,
    true,
    colorKeys.map((k) =>
      k === "semeval:final"
        ? "SemEval final score"
        : k === "metric"
          ? `sweep metric (${sweep.metric.name})`
          : k,
    ),
  );
  if (!sx.dataset.touched) sx.value = axisKeys.find((k) => /forget/i.test(k)) ?? axisKeys[0] ?? "";
  if (!sy.dataset.touched)
    sy.value = axisKeys.find((k) => /retain/i.test(k)) ?? axisKeys[1] ?? axisKeys[0] ?? "";
  const points = sweep.trials.map((t) => ({
    id: t.run_id,
    label: `${t.name} (${t.state})`,
    x: trialValue(t, sx.value),
    y: trialValue(t, sy.value),
    c: trialValue(t, sc.value),
  }));
  const colorIsMinimisedMetric = sc.value === "metric" && sweep.metric?.goal === "minimize";
  const result = drawScatter($("scatter"), {
    points: points.filter((p) => p.x !== null && p.y !== null),
    xLabel: DERIVED[sx.value] ?? sx.value,
    yLabel: DERIVED[sy.value] ?? sy.value,
    xLower: $("scatter-x-lower").checked,
    yLower: $("scatter-y-lower").checked,
    colorLabel: sc.selectedOptions[0]?.textContent ?? "",
    higherColorIsBetter: !colorIsMinimisedMetric,
  });
  $("scatter-info").textContent = result
    ? `${result.front.length} trial${result.front.length === 1 ? "" : "s"} on the Pareto front` +
      (result.best
        ? ` · best ${sc.selectedOptions[0]?.textContent}: ${formatNumber(result.best.c)} (${result.best.id})`
        : "")
    : "";

  const head = $("trials-table").tHead;
  const body = $("trials-table").tBodies[0];
  const cols = ["run", "state", ...(sweep.metric ? [sweep.metric.name] : []), ...sweep.params];
  const hr = document.createElement("tr");
  for (const c of cols) {
    const th = document.createElement("th");
    th.textContent = c;
    hr.appendChild(th);
  }
  head.replaceChildren(hr);
  body.replaceChildren(
    ...sweep.trials.map((t) => {
      const tr = document.createElement("tr");
      const cells = [
        t.name === t.run_id ? t.run_id : `${t.name} (${t.run_id})`,
        t.state,
        ...(sweep.metric ? [t.metric] : []),
        ...sweep.params.map((p) => t.params[p]),
      ];
      for (const v of cells) {
        const td = document.createElement("td");
        td.textContent =
          typeof v === "number"
            ? formatNumber(v)
            : typeof v === "object" && v !== null
              ? JSON.stringify(v)
              : (v ?? "");
        tr.appendChild(td);
      }
      if (t.run_id === sweep.best_run) tr.className = "best";
      return tr;
    }),
  );
}

// ---- lineage ----------------------------------------------------------------------------------

async function renderLineage() {
  drawLineage($("lineage"), await api("/api/lineage"));
}

// ---- shell ------------------------------------------------------------------------------------

const VIEWS = {
  runs: renderRunTable,
  curves: renderCurves,
  layers: renderLayers,
  sweeps: renderSweeps,
  lineage: renderLineage,
};

function currentView() {
  const name = location.hash.slice(1);
  return name in VIEWS ? name : "runs";
}

async function show() {
  const name = currentView();
  for (const section of document.querySelectorAll(".view"))
    section.classList.toggle("active", section.id === `view-${name}`);
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.view === name);
  document.body.dataset.view = name;
  document.body.dataset.ready = "false";
  try {
    await VIEWS[name]();
    setStatus("");
  } catch (err) {
    setStatus(String(err.message ?? err));
  }
  document.body.dataset.ready = "true";
}

async function load() {
  setStatus("loading…");
  const [{ runs }, { sweeps }] = await Promise.all([api("/api/runs"), api("/api/sweeps")]);
  const firstLoad = state.runs.length === 0;
  state.runs = runs;
  state.sweeps = sweeps;
  state.details.clear();
  if (firstLoad) for (const r of runs) state.checked.add(r.id);
  fillSelect($("filter-state"), [...new Set(runs.map((r) => r.state))].sort());
  fillSelect($("filter-group"), [...new Set(runs.map((r) => r.group).filter(Boolean))].sort());
  await show();
}

for (const select of [$("filter-state"), $("filter-group")])
  select.querySelector("option").dataset.fixed = "true";
$("filter-text").addEventListener("input", () => renderRunTable());
$("filter-state").addEventListener("change", () => renderRunTable());
$("filter-group").addEventListener("change", () => renderRunTable());
$("curve-metric").addEventListener("change", () => show());
$("curve-log").addEventListener("change", () => show());
for (const id of [
  "layer-run",
  "layer-table",
  "layer-value",
  "sweep-select",
  "scatter-color",
  "scatter-x-lower",
  "scatter-y-lower",
]) {
  $(id).addEventListener("change", () => show());
}
for (const id of ["scatter-x", "scatter-y"]) {
  $(id).addEventListener("change", () => {
    $(id).dataset.touched = "true";
    show();
  });
}
$("refresh").addEventListener("click", () => load());
window.addEventListener("hashchange", () => show());
load().catch((err) => setStatus(String(err.message ?? err)));
