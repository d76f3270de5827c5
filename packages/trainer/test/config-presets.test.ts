/**
 * Presets resolve to the values of the spec (../shared/docs/unlearning.md): the numbers below are copied from
 * its tables (§1.4, §2.1, §2.3) and facts (§6), not from presets.ts.
 */
import { describe, expect, it } from "vitest";
import { ConfigError } from "../src/config/errors.js";
import { parseOverride } from "../src/config/overrides.js";
import { PRESETS } from "../src/config/presets.js";
import { resolveTrainConfig } from "../src/config/resolve.js";
import { PRESET_NAMES } from "../src/config/schema.js";

const PATHS = { model: "base", out: "runs/x", data: { forget: "f.parquet", retain: "r.parquet" } };

function preset(name: string) {
  return resolveTrainConfig(PATHS, { preset: name });
}

const ALL_LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

describe("ZJU (§1.4, §6 facts 4 and 5)", () => {
  const table = {
    "zju-over": { npo: 0.4, kl: 0.4, nll: 0.2, batch: 1 },
    "zju-under": { npo: 0.3, kl: 0.3, nll: 0.4, batch: 2 },
  };
  for (const [name, row] of Object.entries(table)) {
    it(`${name}: NPO ${row.npo}, KL ${row.kl}, NLL ${row.nll}, batch ${row.batch} × accumulation 4`, () => {
      const c = preset(name);
      expect(c.loss.forget).toBe("npo");
      expect(c.loss.forget_weight).toBe(row.npo);
      expect(c.loss.retain_kl).toBe(row.kl);
      expect(c.loss.retain_nll).toBe(row.nll);
      expect(c.loss.npo).toEqual({ beta: 0.1, reduction: "batch_mean_token" });
      expect(c.loss.kl_positions).toBe("all");
      expect(c.batch_size).toBe(row.batch);
      expect(c.grad_accum).toBe(4);
      expect(c.epochs).toBe(5);
      expect(c.seed).toBe(42);
      expect(c.optim.lr).toBe(1e-4);
      expect(c.optim.weight_decay).toBe(0.01);
      expect(c.optim.warmup_steps).toBe("auto");
      expect(c.optim.schedule).toBe("linear");
      expect(c.params.mode).toBe("lora");
      expect(c.params.lora).toEqual({ r: 32, alpha: 32, dropout: 0.05, target_modules: ALL_LINEAR });
      expect(c.data.format).toBe("prompt_target");
      expect(c.data.max_len).toBe(256);
      expect(Math.floor(c.data.prompt_fraction * c.data.max_len)).toBe(204);
    });
  }
});

describe("RMU (§2.1, §6 fact 7)", () => {
  it("rmu-wmdp: layer 7, down_proj of layers 5–7, c 20, α 100, lr 5e-5, batch 4, 80 batches, one epoch", () => {
    const c = preset("rmu-wmdp");
    expect(c.loss.forget).toBe("rmu");
    expect(c.loss.rmu).toMatchObject({ layer: 7, steering_coeff: 20, alpha: 100, coeff: "once", mse: "all" });
    expect(c.params.mode).toBe("select");
    const select = new RegExp(`^${c.params.select}$`);
    const trained = Array.from({ length: 32 }, (_, i) => `model.layers.${i}.mlp.down_proj.weight`).filter(
      (n) => select.test(n),
    );
    expect(trained).toEqual([5, 6, 7].map((i) => `model.layers.${i}.mlp.down_proj.weight`));
    expect(select.test("model.layers.6.mlp.up_proj.weight")).toBe(false);
    expect(c.optim.lr).toBe(5e-5);
    expect(c.optim.schedule).toBe("constant");
    expect(c.optim.warmup_steps).toBe(0);
    expect([c.batch_size, c.grad_accum, c.epochs, c.max_steps, c.seed]).toEqual([4, 1, 1, 80, 42]);
    expect(c.data.format).toBe("text");
    expect(c.data.max_len).toBe(512);
    expect(c.loss.retain_kl + c.loss.retain_nll).toBe(0);
  });
});

describe("Adaptive RMU, Mr. Snuffleupagus (§2.3, §6 facts 8 and 9)", () => {
  const table = {
    "adaptive-rmu-7b": { layer: 26, updated: [24, 25, 26], beta: 5, batch: 12 },
    "adaptive-rmu-1b": { layer: 14, updated: [12, 13, 14], beta: 3, batch: 8 },
  };
  for (const [name, row] of Object.entries(table)) {
    it(`${name}: hook ${row.layer}, update ${row.updated.join(",")}, β ${row.beta}, α 900, batch ${row.batch}`, () => {
      const c = preset(name);
      expect(c.loss.forget).toBe("adaptive_rmu");
      expect(c.loss.rmu).toMatchObject({ layer: row.layer, beta: row.beta, alpha: 900, steering_coeff: 1 });
      expect(c.loss.rmu.coeff).toBe("per_epoch");
      const select = new RegExp(`^${c.params.select}$`);
      const names = Array.from({ length: 32 }, (_, i) => `model.layers.${i}.mlp.down_proj.weight`);
      expect(names.filter((n) => select.test(n))).toEqual(
        row.updated.map((i) => `model.layers.${i}.mlp.down_proj.weight`),
      );
      expect(c.params.mode).toBe("select");
      expect(c.batch_size).toBe(row.batch);
      expect(c.optim.lr).toBe(5e-5);
      expect(c.data.format).toBe("text");
      expect(c.data.task_max_len).toEqual({ Task1: 256, Task2: 105, Task3: 335 });
      expect(c.data.shuffle).toBe(true);
      expect(c.time_budget).toBe("1h");
      expect(c.epochs).toBe(100);
    });
  }
});

describe("sft", () => {
  it("memorises both splits by plain NLL", () => {
    const c = preset("sft");
    expect(c.loss.forget).toBe("sft");
    expect(c.loss.forget_weight).toBeGreaterThan(0);
    expect(c.loss.retain_nll).toBeGreaterThan(0);
    expect(c.loss.retain_kl).toBe(0);
  });
});

describe("layering: defaults < preset < file < overrides", () => {
  it("the file wins over the preset, a flag over both, and untouched preset values stay", () => {
    const c = resolveTrainConfig(
      { ...PATHS, preset: "zju-over", batch_size: 3, loss: { retain_nll: 0.5 } },
      { overrides: [parseOverride("--batch_size=6")!] },
    );
    expect(c.preset).toBe("zju-over");
    expect(c.batch_size).toBe(6);
    expect(c.loss.retain_nll).toBe(0.5);
    expect(c.loss.retain_kl).toBe(0.4);
    expect(c.loss.forget_weight).toBe(0.4);
  });

  it("--preset wins over the file's preset key", () => {
    const c = resolveTrainConfig({ ...PATHS, preset: "zju-over" }, { preset: "zju-under" });
    expect(c.preset).toBe("zju-under");
    expect(c.batch_size).toBe(2);
  });

  it("an unknown preset names the choices", () => {
    expect(() => preset("zju-ovr")).toThrow(ConfigError);
    expect(() => preset("zju-ovr")).toThrow(
      'preset: unknown preset "zju-ovr"; did you mean "zju-over"? (allowed: sft, zju-over, zju-under, rmu-wmdp, adaptive-rmu-1b, adaptive-rmu-7b)',
    );
  });

  it("every preset is listed and resolves", () => {
    expect(Object.keys(PRESETS).sort()).toEqual([...PRESET_NAMES].sort());
    for (const name of PRESET_NAMES) expect(preset(name).preset).toBe(name);
  });
});
