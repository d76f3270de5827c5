/** Public API of the dashboard (re-exported by the package index). */
export { DASHBOARD_USAGE, DEFAULT_PORT, runDashboardCli } from "./cli.js";
export type { RunDetail, RunSummary, SweepView, TableInfo } from "./data.js";
export { buildLineage, type Lineage, type LineageNode } from "./lineage.js";
export { type Dashboard, type DashboardOptions, startDashboard } from "./server.js";
