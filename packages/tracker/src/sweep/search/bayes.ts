/**
 * Bayesian search: a Gaussian process (Matérn-5/2, see gp.ts) over the unit cube of parameter positions
 * (`parameters.ts#position`, the same CDF normalisation W&B uses), and expected improvement maximised over
 * random candidates.
 *
 * 1. Observations: finished and hyperband-stopped trials give their metric extremum (as W&B reads it);
 *    failed and killed trials get `metric.impute` (worst / best / latest, default worst); running trials
 *    count only when `metric.impute_while_running` asks for it. Values are negated for `maximize`, so the
 *    GP always minimises, and standardised.
 * 2. Until there are `max(3, d + 1)` observations (d = searchable dimensions) it samples at random.
 * 3. Trials still running (parallel sweeps) enter as "kriging believer" points: their y is the posterior mean
 *    there, which shrinks the uncertainty around them so that parallel trials spread out.
 * 4. Candidates: 1000 uniform points plus 250 Gaussian perturbations (σ = 0.08) of the 5 best observations,
 *    each snapped through ppf → position so discrete parameters are scored at values they can take.
 * 5. Pick the candidate with the highest EI(x) = (f* − μ − ξ)Φ(z) + σφ(z), z = (f* − μ − ξ)/σ, ξ = 0.01.
 */
import type { SweepMetric } from "../config.js";
import { isSearchable, position, ppf, type SearchParameter } from "../parameters.js";
import type { Rng } from "../rng.js";
import { normalCdf, normalPdf } from "../special.js";
import { fitGaussianProcess, fitGaussianProcessWith } from "./gp.js";
import { sampleParameters } from "./random.js";
import { metricExtremum, type SearchStrategy, type TrialObservation } from "./strategy.js";

export interface BayesOptions {
  randomCandidates?: number;
  localCandidates?: number;
  xi?: number;
}

export function createBayesSearch(
  parameters: readonly SearchParameter[],
  metric: SweepMetric,
  rng: Rng,
  options: BayesOptions = {},
): SearchStrategy {
  const dims = parameters.filter((p) => isSearchable(p.spec));
  const randomCandidates = options.randomCandidates ?? 1000;
  const localCandidates = options.localCandidates ?? 250;
  const xi = options.xi ?? 0.01;
  const initialRandom = Math.max(3, dims.length + 1);

  const toPoint = (params: Record<string, unknown>) => dims.map((p) => position(p.spec, params[p.name]));
  const snap = (u: readonly number[]) => dims.map((p, i) => position(p.spec, ppf(p.spec, u[i]!)));
  const toParams = (u: readonly number[]) => {
    const params: Record<string, unknown> = {};
    for (const p of parameters) params[p.name] = ppf(p.spec, 0.5);
    dims.forEach((p, i) => {
      params[p.name] = ppf(p.spec, u[i]!);
    });
    return params;
  };

  return {
    size: undefined,
    next(trials) {
      if (dims.length === 0) return sampleParameters(parameters, rng);
      const { observed, pending } = observations(trials, metric);
      if (observed.length < initialRandom) return sampleParameters(parameters, rng);

      const xs = observed.map((o) => toPoint(o.params));
      const raw = observed.map((o) => o.y);
      const mean = raw.reduce((a, b) => a + b, 0) / raw.length;
      const sd = Math.sqrt(raw.reduce((a, b) => a + (b - mean) ** 2, 0) / raw.length) || 1;
      const ys = raw.map((y) => (y - mean) / sd);

      let gp = fitGaussianProcess(xs, ys);
      if (pending.length > 0) {
        const px = pending.map(toPoint);
        const believed = px.map((x) => gp.predict(x).mean);
        gp = fitGaussianProcessWith([...xs, ...px], [...ys, ...believed], gp.lengthScale, gp.noise) ?? gp;
      }

      const best = Math.min(...ys);
      const candidates: number[][] = [];
      for (let c = 0; c < randomCandidates; c++) candidates.push(snap(dims.map(() => rng.next())));
      const ranked = xs.map((x, i) => ({ x, y: ys[i]! })).sort((a, b) => a.y - b.y);
      const anchors = ranked.slice(0, 5);
      for (let c = 0; c < localCandidates; c++) {
        const anchor = anchors[c % anchors.length]!.x;
        candidates.push(snap(anchor.map((v) => Math.min(1, Math.max(0, v + 0.08 * rng.normal())))));
      }

      let chosen: number[] | undefined;
      let bestEi = 0;
      for (const x of candidates) {
        const { mean: mu, std } = gp.predict(x);
        const improvement = best - mu - xi;
        const z = improvement / std;
        const ei = improvement * normalCdf(z) + std * normalPdf(z);
        if (ei > bestEi) {
          bestEi = ei;
          chosen = x;
        }
      }
      return chosen ? toParams(chosen) : sampleParameters(parameters, rng);
    },
  };
}

interface Observation {
  params: Record<string, unknown>;
  /** The metric in minimisation form (negated for `maximize`). */
  y: number;
}

function observations(
  trials: readonly TrialObservation[],
  metric: SweepMetric,
): { observed: Observation[]; pending: Record<string, unknown>[] } {
  const sign = metric.goal === "maximize" ? -1 : 1;
  const extrema = trials.map((t) => metricExtremum(t, metric.goal));
  const known = extrema
    .filter((v): v is number => v !== undefined && Number.isFinite(v))
    .map((v) => sign * v);
  const worst = known.length > 0 ? Math.max(...known) : undefined;

  const imputed = (t: TrialObservation, strategy: "latest" | "best" | "worst"): number | undefined => {
    if (strategy === "best") {
      const e = metricExtremum(t, metric.goal);
      if (e !== undefined) return sign * e;
    }
    if (strategy === "latest") {
      const last = t.history.at(-1) ?? t.summary;
      if (last !== undefined) return sign * last;
    }
    return worst;
  };

  const observed: Observation[] = [];
  const pending: Record<string, unknown>[] = [];
  trials.forEach((t, i) => {
    let y: number | undefined;
    if (t.state === "finished" || t.state === "stopped") {
      const e = extrema[i];
      y = e !== undefined && Number.isFinite(e) ? sign * e : worst;
    } else if (t.state === "failed" || t.state === "killed") {
      y = imputed(t, metric.impute);
    } else if (metric.impute_while_running !== "false" && t.history.length > 0) {
      y = imputed(t, metric.impute_while_running);
    } else {
      pending.push(t.params);
      return;
    }
    if (y !== undefined) observed.push({ params: t.params, y });
  });
  return { observed, pending };
}
