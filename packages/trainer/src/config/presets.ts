/**
 * Presets as data: partial configs that reproduce the papers (sources are sections of
 * ../shared/docs/unlearning.md). A preset sits under the config file, which sits under command-line
 * overrides, so a preset never hides what the user wrote. Values the papers' code does not state are ours
 * and marked "ours"; values taken from a library default rather than the team's code are marked so.
 */
import type { PresetName } from "./schema.js";

export type PresetDocument = Record<string, unknown>;

/** ZJU's two specialised models share everything but the loss weights and the batch size (§1.4). */
function zju(weights: { npo: number; kl: number; nll: number }, batchSize: number): PresetDocument {
  return {
    data: {
      format: "prompt_target", // §1.2: prompt = input, target = output + EOS, labels on target only
      max_len: 256, // §1.4 table
      prompt_fraction: 0.8, // §1.2: prompt left-truncated to int(0.8·max_len) = 204 tokens
      shuffle: true, // HF Trainer's RandomSampler (§1.4: the HF trainer drives training)
    },
    params: {
      mode: "lora", // §1.4: LoRA, bias none
      lora: {
        r: 32, // §1.4 table
        alpha: 32, // §1.4 table
        dropout: 0.05, // §1.4 table
        target_modules: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"], // §1.4: every linear but lm_head
      },
    },
    loss: {
      forget: "npo", // §1.3
      forget_weight: weights.npo, // §1.4 ga_ratio; §6 fact 4
      npo: { beta: 0.1, reduction: "batch_mean_token" }, // §1.3: β = 0.1 hard-coded, ℓ = batch-mean token NLL
      retain_kl: weights.kl, // §1.4 gd_ratio (weights the KL term, despite its name); §6 fact 4
      kl_positions: "all", // §1.3: Σ over all B·T positions incl. padding / (B·T)
      retain_nll: weights.nll, // §1.4 gk_ratio (weights the NLL term); §6 fact 4
    },
    optim: {
      lr: 1e-4, // §1.4 table
      weight_decay: 0.01, // §1.4 table
      betas: [0.9, 0.999], // HF TrainingArguments default (paged_adamw_32bit, §1.4)
      eps: 1e-8, // HF TrainingArguments default
      warmup_steps: "auto", // §1.4: one epoch of optimizer steps, max(1, ⌊N_f/(bs·ga)⌋)
      schedule: "linear", // §1.4: HF default linear decay
      grad_clip: 1, // HF TrainingArguments default max_grad_norm
    },
    batch_size: batchSize, // §1.4 table: per-device batch
    grad_accum: 4, // §1.4 table
    epochs: 5, // §1.4 table
    seed: 42, // §1.4 table
  };
}

/** Mr. Snuffleupagus' Adaptive RMU submission (§2.3), per model size. */
function adaptiveRmu(size: { layer: number; beta: number; batchSize: number }): PresetDocument {
  const updated = [size.layer - 2, size.layer - 1, size.layer];
  return {
    data: {
      format: "text", // §2.3: input + " " + output, plain LM text
      task_max_len: { Task1: 256, Task2: 105, Task3: 335 }, // §2.3: per-topic token caps, right truncation
      shuffle: true, // §2.3: shuffled task schedules
    },
    params: {
      mode: "select", // §2.3: only mlp.down_proj (param index 6) of the updated layers
      select: `model\\.layers\\.(${updated.join("|")})\\.mlp\\.down_proj\\.weight`, // §2.3 table: updated layers
    },
    loss: {
      forget: "adaptive_rmu", // §2.3
      forget_weight: 1, // §2.3 step loss: mse_forget + α·mse_retain
      retain_kl: 0, // §2.3: no output-space retain term
      retain_nll: 0, // §2.3: no output-space retain term
      rmu: {
        layer: size.layer, // §2.3 table: hook layer ℓ
        steering_coeff: 1, // §2.3 table: c before scaling, u stays unit
        alpha: 900, // §2.3 table: α per task, 900 for all three
        beta: size.beta, // §2.3 table: scale β
        coeff: "per_epoch", // §2.3: re-estimated at each task's first batch of every epoch (compounds, §6 fact 8)
        mse: "all", // §2.2: the token average includes padding
      },
    },
    optim: {
      lr: 5e-5, // §2.3 table
      weight_decay: 0, // transformers.AdamW default (§2.3: "AdamW, transformers")
      betas: [0.9, 0.999], // transformers.AdamW default
      eps: 1e-6, // transformers.AdamW default
      warmup_steps: 0, // §2.3: no scheduler in the code
      schedule: "constant", // §2.3: no scheduler in the code
      grad_clip: null, // §2.3: no clipping in the code
    },
    batch_size: size.batchSize, // §2.3 table
    grad_accum: 1, // §2.3: one optimizer step per batch
    epochs: 100, // §2.3: up to 100 epochs, the 1-hour limit ends the run
    time_budget: "1h", // §0 and §2.3: the SemEval 1-hour limit
    seed: 42, // ours: the submission does not fix one
  };
}

export const PRESETS: Record<PresetName, PresetDocument> = {
  /** Memorise the data before unlearning (tests and the demo): plain NLL on forget and retain. All ours. */
  sft: {
    data: { format: "prompt_target", max_len: 256, prompt_fraction: 0.8, shuffle: true }, // ours: trains what the evaluator scores
    params: { mode: "full" }, // ours: tiny models train fully
    loss: { forget: "sft", forget_weight: 1, retain_kl: 0, retain_nll: 1 }, // ours: memorise both splits
    optim: {
      lr: 1e-3, // ours: fast memorisation on tiny models
      weight_decay: 0, // ours: memorisation, not generalisation
      warmup_steps: 0, // ours
      schedule: "constant", // ours
      grad_clip: 1, // ours
    },
    batch_size: 8, // ours
    grad_accum: 1, // ours
    epochs: 20, // ours
    seed: 42, // ours
  },
  /** ZJU model1, "over-forget" (§1.4; §6 facts 4 and 5). */
  "zju-over": zju({ npo: 0.4, kl: 0.4, nll: 0.2 }, 1),
  /** ZJU model2, "under-forget" (§1.4; §6 facts 4 and 5). */
  "zju-under": zju({ npo: 0.3, kl: 0.3, nll: 0.4 }, 2),
  /** WMDP RMU argparse defaults (§2.1; §6 fact 7). */
  "rmu-wmdp": {
    data: {
      format: "text", // §2.1: plain text, no prompt/target split
      max_len: 512, // §2.1: right truncation to 512 tokens (bio corpus and retain; 768 for the others)
      shuffle: false, // §2.1: topics interleaved round-robin in file order
    },
    params: { mode: "select", select: "model\\.layers\\.(5|6|7)\\.mlp\\.down_proj\\.weight" }, // §2.1: layer_ids 5,6,7, param_ids 6
    loss: {
      forget: "rmu", // §2.1
      forget_weight: 1, // §2.1: L = L_f + α·L_r
      retain_kl: 0, // §2.1: no output-space retain term
      retain_nll: 0, // §2.1: no output-space retain term
      rmu: {
        layer: 7, // §2.1: hook layer ℓ = 7
        steering_coeff: 20, // §2.1 argparse default c (the Zephyr recipe uses 6.5)
        alpha: 100, // §2.1 argparse default α (the Zephyr recipe uses 1200)
        coeff: "once", // §2.1: c·u fixed for the whole run
        mse: "all", // §2.1: torch mse_loss over every element, padding included
      },
    },
    optim: {
      lr: 5e-5, // §2.1
      weight_decay: 0.01, // torch.optim.AdamW default (§2.1: AdamW, lr only)
      betas: [0.9, 0.999], // torch.optim.AdamW default
      eps: 1e-8, // torch.optim.AdamW default
      warmup_steps: 0, // §2.1: no scheduler
      schedule: "constant", // §2.1: no scheduler
      grad_clip: null, // §2.1: no clipping in the code
    },
    batch_size: 4, // §2.1 argparse default
    grad_accum: 1, // §2.1: one step per batch
    epochs: 1, // §2.1: single epoch
    max_steps: 80, // §2.1: max_num_batches 80
    seed: 42, // §2.1 argparse default
  },
  /** Mr. Snuffleupagus on OLMo-1B (16 layers): hook 14, update 12–14, β 3, batch 8 (§2.3; §6 fact 9). */
  "adaptive-rmu-1b": adaptiveRmu({ layer: 14, beta: 3, batchSize: 8 }),
  /** Mr. Snuffleupagus on OLMo-7B (32 layers): hook 26, update 24–26, β 5, batch 12 (§2.3; §6 fact 9). */
  "adaptive-rmu-7b": adaptiveRmu({ layer: 26, beta: 5, batchSize: 12 }),
};
