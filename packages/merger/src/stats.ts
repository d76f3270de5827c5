/**
 * What a merge did, per layer and per model: kept fraction (trimming), how much of what was kept the sign
 * vote rejected, the sign-conflict rate, and ‖δ‖₂ before and after trimming; and the same totals over
 * the whole model. Written into the checkpoint manifest's metrics (and handed to a tracker when one is
 * configured).
 */
import type { TensorStats } from "./engine/gta-tensor.js";

interface ModelSums {
  elements: number;
  kept: number;
  keptNonzero: number;
  agreed: number;
  sqBefore: number;
  sqAfter: number;
}

interface GroupSums {
  elements: number;
  conflicts: number;
  models: Map<string, ModelSums>;
}

export interface ModelSummary {
  kept_fraction: number;
  /** Of the kept nonzero elements, the fraction on the losing side of the sign vote. */
  rejected_fraction: number;
  l2_before: number;
  l2_after: number;
}

export interface GroupSummary {
  elements: number;
  sign_conflict_rate: number;
  models: Record<string, ModelSummary>;
}

export interface MergeStats {
  tensors: number;
  merged_tensors: number;
  elements: number;
  total: GroupSummary;
  /** Keyed by layer index, or "other" for tensors outside the layers. */
  layers: Record<string, GroupSummary>;
}

function emptyGroup(): GroupSums {
  return { elements: 0, conflicts: 0, models: new Map() };
}

export class StatsCollector {
  private readonly total = emptyGroup();
  private readonly layers = new Map<string, GroupSums>();
  private tensors = 0;
  private merged = 0;

  /** Record a copied tensor (no statistics). */
  addCopied(): void {
    this.tensors++;
  }

  add(layer: number | null, labels: readonly string[], stats: TensorStats): void {
    this.tensors++;
    this.merged++;
    const key = layer === null ? "other" : String(layer);
    let group = this.layers.get(key);
    if (!group) {
      group = emptyGroup();
      this.layers.set(key, group);
    }
    for (const g of [group, this.total]) {
      g.elements += stats.numel;
      g.conflicts += stats.conflicts;
      stats.models.forEach((m, i) => {
        const label = labels[i]!;
        let sums = g.models.get(label);
        if (!sums) {
          sums = { elements: 0, kept: 0, keptNonzero: 0, agreed: 0, sqBefore: 0, sqAfter: 0 };
          g.models.set(label, sums);
        }
        sums.elements += stats.numel;
        sums.kept += m.kept;
        sums.keptNonzero += m.keptNonzero;
        sums.agreed += m.agreed;
        sums.sqBefore += m.l2Before * m.l2Before;
        sums.sqAfter += m.l2After * m.l2After;
      });
    }
  }

  summary(): MergeStats {
    const summarize = (g: GroupSums): GroupSummary => ({
      elements: g.elements,
      sign_conflict_rate: g.elements ? g.conflicts / g.elements : 0,
      models: Object.fromEntries(
        [...g.models].map(([label, s]) => [
          label,
          {
            kept_fraction: s.elements ? s.kept / s.elements : 0,
            rejected_fraction: s.keptNonzero ? (s.keptNonzero - s.agreed) / s.keptNonzero : 0,
            l2_before: Math.sqrt(s.sqBefore),
            l2_after: Math.sqrt(s.sqAfter),
          },
        ]),
      ),
    });
    const layerKeys = [...this.layers.keys()].sort((a, b) =>
      a === "other" ? 1 : b === "other" ? -1 : Number(a) - Number(b),
    );
    return {
      tensors: this.tensors,
      merged_tensors: this.merged,
      elements: this.total.elements,
      total: summarize(this.total),
      layers: Object.fromEntries(layerKeys.map((k) => [k, summarize(this.layers.get(k)!)])),
    };
  }
}

/** Flat metric names for the manifest (and a tracker): totals per model, plus the per-layer table. */
export function statsAsMetrics(stats: MergeStats, seconds: number): Record<string, unknown> {
  const metrics: Record<string, unknown> = {
    "merge/seconds": seconds,
    "merge/tensors": stats.tensors,
    "merge/merged_tensors": stats.merged_tensors,
    "merge/elements": stats.elements,
    "merge/sign_conflict_rate": stats.total.sign_conflict_rate,
  };
  for (const [label, m] of Object.entries(stats.total.models)) {
    metrics[`merge/${label}/kept_fraction`] = m.kept_fraction;
    metrics[`merge/${label}/rejected_fraction`] = m.rejected_fraction;
    metrics[`merge/${label}/l2_before`] = m.l2_before;
    metrics[`merge/${label}/l2_after`] = m.l2_after;
  }
  metrics["merge/layers"] = stats.layers;
  return metrics;
}
