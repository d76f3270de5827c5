/**
 * Output-space forget losses on the policy's token log-probs (docs/unlearning.md §1.3, §4.1):
 *
 *   sft     ℓθ                                   plain NLL descent (memorising)
 *   ga      −ℓθ                                  gradient ascent
 *   npo     −(2/β)·log σ(β·(ℓθ − ℓref))          batch_mean_token: ℓ = the batch's mean token NLL (ZJU)
 *           −(2/β)·mean_i log σ(β·(ℓθ(i) − ℓref(i)))   sequence_sum: ℓ(i) = row i's summed NLL (open-unlearning)
 *   simnpo  −(2/β)·mean_i log σ(β·(ℓθ(i)/|y_i| − δ))   no reference
 *
 * Each returns the value and its cotangent with respect to the policy's per-token log-probs.
 */
import { type LossTerm, logSigmoid, meanTokenNll, rowNll, sigmoid, type TokenScores } from "./tokens.js";

export function sft(policy: TokenScores): LossTerm {
  return meanTokenNll(policy);
}

export function gradientAscent(policy: TokenScores): LossTerm {
  const nll = meanTokenNll(policy);
  return { value: -nll.value, cot: nll.cot.map((c) => -c) };
}

export function npo(
  policy: TokenScores,
  reference: TokenScores,
  beta: number,
  reduction: "batch_mean_token" | "sequence_sum",
): LossTerm {
  if (reduction === "batch_mean_token") {
    const theta = meanTokenNll(policy);
    const z = beta * (theta.value - meanTokenNll(reference).value);
    // dL/dℓθ = −(2/β)·(1 − σ(z))·β
    const dTheta = -2 * (1 - sigmoid(z));
    return { value: (-2 / beta) * logSigmoid(z), cot: theta.cot.map((c) => c * dTheta) };
  }
  const theta = rowNll(policy);
  const ref = rowNll(reference);
  const rows = policy.batch;
  let value = 0;
  const cot = new Float32Array(policy.logprobs.length);
  for (let b = 0; b < rows; b++) {
    const z = beta * (theta.sums[b]! - ref.sums[b]!);
    value += ((-2 / beta) * logSigmoid(z)) / rows;
    // ℓθ(b) = −Σ log p, so d/d log p = −dL/dℓθ(b)
    const dLogp = (2 * (1 - sigmoid(z))) / rows;
    for (let k = b * policy.seq; k < (b + 1) * policy.seq; k++) if (policy.scored[k]) cot[k] = dLogp;
  }
  return { value, cot };
}

export function simnpo(policy: TokenScores, beta: number, delta: number): LossTerm {
  const { sums, counts } = rowNll(policy);
  const rows = policy.batch;
  let value = 0;
  const cot = new Float32Array(policy.logprobs.length);
  for (let b = 0; b < rows; b++) {
    if (counts[b] === 0) throw new Error(`simnpo: row ${b} has no labelled token`);
    const z = beta * (sums[b]! / counts[b]! - delta);
    value += ((-2 / beta) * logSigmoid(z)) / rows;
    const dLogp = (2 * (1 - sigmoid(z))) / (counts[b]! * rows);
    for (let k = b * policy.seq; k < (b + 1) * policy.seq; k++) if (policy.scored[k]) cot[k] = dLogp;
  }
  return { value, cot };
}
