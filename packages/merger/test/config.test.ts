/** The mergekit YAML: strict validation with exact messages, parameter resolution, command-line overrides. */
import { describe, expect, it } from "vitest";
import { configFromText } from "../src/config/load.js";
import { applyOverrides } from "../src/config/overrides.js";
import {
  evaluateSetting,
  gradientT,
  layerCount,
  layerIndexOf,
  resolveParameter,
} from "../src/config/resolve.js";

const GOOD = `
models:
  - model: ./base
  - model: ./a
    parameters:
      weight: 0.5
      density: [0.2, 0.8]
  - model: s3://bucket/b+s3://bucket/lora-b
    parameters:
      weight: 0.3
merge_method: ties
base_model: ./base
parameters:
  normalize: true
  int8_mask: true
  lambda: 1.0
dtype: bfloat16
out_dtype: float16
tokenizer_source: base
`;

function error(text: string, overrides: { path: string; value: string }[] = []): string {
  try {
    configFromText(text, "cfg.yml", overrides);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error("expected the config to be rejected");
}

describe("config validation", () => {
  it("reads a mergekit config unchanged", () => {
    const { config } = configFromText(GOOD, "cfg.yml");
    expect(config.mergeMethod).toBe("ties");
    expect(config.baseModel).toEqual({ model: "./base", lora: null });
    expect(config.models[2]!.model).toEqual({ model: "s3://bucket/b", lora: "s3://bucket/lora-b" });
    expect(config.models[1]!.parameters).toEqual({ weight: 0.5, density: [0.2, 0.8] });
    expect(config.dtype).toBe("BF16");
    expect(config.outDtype).toBe("F16");
    expect(config.tokenizerSource).toBe("base");
  });

  it("names an unknown key and suggests the nearest", () => {
    expect(error(GOOD.replace("merge_method:", "merge_methd:"))).toBe(
      'cfg.yml: merge_methd: unknown key "merge_methd" (known: models, base_model, merge_method, parameters, dtype, out_dtype, tokenizer_source, tokenizer, chat_template, slices, modules); did you mean "merge_method"?',
    );
    expect(error(GOOD.replace("      density: [0.2, 0.8]", "      densty: [0.2, 0.8]"))).toBe(
      'cfg.yml: models.1.parameters.densty: unknown parameter "densty" (known: weight, density, gamma, epsilon, normalize, rescale, lambda, int8_mask); did you mean "density"?',
    );
    expect(error(GOOD.replace("  - model: ./a\n", "  - model: ./a\n    weight: 1\n"))).toBe(
      'cfg.yml: models.1.weight: unknown key "weight" (known: model, parameters)',
    );
  });

  it("suggests the key a transposition typo meant (modles → models, not modules)", () => {
    expect(error(GOOD.replace("models:", "modles:"))).toMatch(/; did you mean "models"\?$/);
    expect(error(GOOD.replace("base_model:", "base_modle:"))).toMatch(/; did you mean "base_model"\?$/);
    expect(error(GOOD.replace("      weight: 0.5", "      wieght: 0.5"))).toMatch(
      /; did you mean "weight"\?$/,
    );
  });

  it("checks every parameter value when the config is read, naming the file and YAML path", () => {
    expect(error(GOOD.replace("      weight: 0.5", '      weight: "heavy"'))).toBe(
      'cfg.yml: models.1.parameters.weight: must be a number, got "heavy"',
    );
    expect(error(GOOD.replace("      density: [0.2, 0.8]", "      density: 1.7"))).toBe(
      "cfg.yml: models.1.parameters.density: must be in (0, 1] (the fraction of each task vector kept), got 1.7",
    );
    expect(error(GOOD.replace("      density: [0.2, 0.8]", "      density: [0.2, 0]"))).toBe(
      "cfg.yml: models.1.parameters.density.1: must be in (0, 1] (the fraction of each task vector kept), got 0",
    );
    expect(
      error(GOOD.replace("      density: [0.2, 0.8]", "      density: [{filter: mlp, value: -0.5}]")),
    ).toBe(
      "cfg.yml: models.1.parameters.density.0.value: must be in (0, 1] (the fraction of each task vector kept), got -0.5",
    );
    expect(error(GOOD.replace("  normalize: true", "  normalize: maybe"))).toBe(
      'cfg.yml: parameters.normalize: must be true or false, got "maybe"',
    );
    expect(error(GOOD, [{ path: "models.2.parameters.density", value: "1.5" }])).toBe(
      "cfg.yml: models.2.parameters.density: must be in (0, 1] (the fraction of each task vector kept), got 1.5",
    );
    expect(configFromText(GOOD.replace("[0.2, 0.8]", "1"), "cfg.yml").config.models[1]!.parameters).toEqual({
      weight: 0.5,
      density: 1,
    });
  });

  it("rejects misplaced, malformed and unsupported fields", () => {
    expect(error(GOOD.replace("      weight: 0.5\n", "      weight: 0.5\n      normalize: false\n"))).toBe(
      'cfg.yml: models.1.parameters.normalize: "normalize" applies to the whole merge: set it under the top-level parameters',
    );
    expect(error(GOOD.replace("dtype: bfloat16", "dtype: bfloat17"))).toMatch(
      /^cfg\.yml: dtype: unknown float dtype "bfloat17"/,
    );
    expect(error(GOOD.replace("tokenizer_source: base", "tokenizer_source: union"))).toBe(
      'cfg.yml: tokenizer_source: "union" is not supported: only "base" (the base model\'s tokenizer, embeddings cropped or padded to it)',
    );
    expect(error(`${GOOD}slices: []\n`)).toBe(
      "cfg.yml: slices: layer-range configs (slices, modules) are not supported by lethe-merge: list whole models under models",
    );
    expect(error(GOOD.replace("      density: [0.2, 0.8]", "      density: []"))).toBe(
      "cfg.yml: models.1.parameters.density: an empty list has no value",
    );
    expect(
      error(GOOD.replace("      density: [0.2, 0.8]", "      density: [{filter: mlp, value: 0.5}, 0.3]")),
    ).toBe(
      "cfg.yml: models.1.parameters.density: a list must hold only values (a gradient) or only {filter, value} entries",
    );
    expect(error(GOOD.replace("merge_method: ties", ""))).toBe(
      "cfg.yml: merge_method: required (for example ties)",
    );
    expect(error(GOOD.replace("  - model: ./a", "  - model: ./a+./b+./c"))).toBe(
      'cfg.yml: models.1.model: "./a+./b+./c": expected MODEL or MODEL+LORA, found 2 "+"',
    );
    expect(error("models: [")).toMatch(/^cfg\.yml: not valid YAML/);
  });
});

describe("parameter resolution", () => {
  it("interpolates gradients at t = layer / (L - 1) like mergekit", () => {
    expect(evaluateSetting([0, 0.3, 0.7, 1], "x", 0)).toBe(0);
    expect(evaluateSetting([0, 0.3, 0.7, 1], "x", 1)).toBe(1);
    // t = 0.5: scaled 1.5 → halfway between 0.3 and 0.7, computed as mergekit does in doubles.
    expect(evaluateSetting([0, 0.3, 0.7, 1], "x", 0.5)).toBe(0.5 * 0.3 + 0.5 * 0.7);
    expect(evaluateSetting([0.2, 0.8], "x", 1 / 3)).toBe((1 - 1 / 3) * 0.2 + (1 / 3) * 0.8);
    // A list of non-numbers is a stepwise pick.
    expect(evaluateSetting([true, false, true], "x", 0.6)).toBe(false);
    expect(gradientT(3, 4)).toBe(1);
    expect(gradientT(0, 1)).toBe(1);
    expect(gradientT(null, 32)).toBe(0);
    expect(layerIndexOf("model.layers.12.mlp.up_proj.weight")).toBe(12);
    expect(layerIndexOf("transformer.h.3.attn.c_attn.weight")).toBe(3);
    expect(layerIndexOf("model.embed_tokens.weight")).toBeNull();
    expect(layerCount({ num_hidden_layers: 16 }, [])).toBe(16);
    expect(layerCount(null, ["model.layers.0.a", "model.layers.7.b"])).toBe(8);
  });

  it("takes the first matching filter and falls through to the next level when none matches", () => {
    const weight = { name: "weight", type: "number" as const };
    const model = {
      label: "./a",
      path: "models.1",
      parameters: {
        weight: [
          { filter: "mlp", value: 0.25 },
          { filter: "attn", value: [0, 1] },
        ],
      },
    };
    const global = { weight: 0.9 };
    const at = (tensor: string, t: number) => resolveParameter(weight, { tensor, t, model, global }, true);
    expect(at("model.layers.0.mlp.up_proj.weight", 0)).toEqual({ value: 0.25, origin: "model" });
    expect(at("model.layers.1.self_attn.q_proj.weight", 1)).toEqual({ value: 1, origin: "model" });
    expect(at("model.norm.weight", 0)).toEqual({ value: 0.9, origin: "global" });
    expect(
      resolveParameter(
        { name: "density", type: "number", default: 1 },
        { tensor: "x", t: 0, model, global },
        true,
      ),
    ).toEqual({
      value: 1,
      origin: "default",
    });
  });

  it("reports a missing weight as mergekit does, and type errors with their path", () => {
    const weight = { name: "weight", type: "number" as const };
    const model = { label: "./a", path: "models.1", parameters: {} };
    expect(() =>
      resolveParameter(weight, { tensor: "model.norm.weight", t: 0, model, global: {} }, true),
    ).toThrow("Missing required parameter weight for ./a.model.norm.weight");
    const bad = { label: "./a", path: "models.1", parameters: { weight: "heavy" } };
    expect(() =>
      resolveParameter(weight, { tensor: "model.norm.weight", t: 0, model: bad, global: {} }, true),
    ).toThrow('models.1.parameters.weight: weight must be a number, got "heavy" (for model.norm.weight)');
    expect(
      resolveParameter(
        { name: "normalize", type: "boolean" },
        { tensor: "x", t: 0, global: { normalize: 1 } },
        true,
      )?.value,
    ).toBe(true);
  });
});

describe("command-line overrides", () => {
  it("sets a field by its dotted path, parsing the value as YAML", () => {
    const { config } = configFromText(GOOD, "cfg.yml", [
      { path: "models.1.parameters.density", value: "0.6" },
      { path: "models.2.parameters.density", value: "[0.1, 0.9]" },
      { path: "parameters.lambda", value: "1.5" },
      { path: "merge_method", value: "dare_ties" },
      { path: "dtype", value: "float32" },
    ]);
    expect(config.models[1]!.parameters["density"]).toBe(0.6);
    expect(config.models[2]!.parameters["density"]).toEqual([0.1, 0.9]);
    expect(config.parameters["lambda"]).toBe(1.5);
    expect(config.mergeMethod).toBe("dare_ties");
    expect(config.dtype).toBe("F32");
  });

  it("validates overridden paths and values like the file", () => {
    expect(error(GOOD, [{ path: "models.5.parameters.density", value: "0.6" }])).toBe(
      "--models.5.parameters.density=0.6: models has 3 entries (indices 0–2)",
    );
    expect(error(GOOD, [{ path: "models.1.parameters.densty", value: "0.6" }])).toBe(
      'cfg.yml: models.1.parameters.densty: unknown parameter "densty" (known: weight, density, gamma, epsilon, normalize, rescale, lambda, int8_mask); did you mean "density"?',
    );
    expect(error(GOOD, [{ path: "dtype.x", value: "1" }])).toBe(
      "--dtype.x=1: dtype is a value, not a mapping or list",
    );
  });

  it("does not modify the document it is given", () => {
    const doc = { models: [{ model: "a" }] };
    const out = applyOverrides(doc, [{ path: "models.0.parameters.weight", value: "2" }]);
    expect(out).toEqual({ models: [{ model: "a", parameters: { weight: 2 } }] });
    expect(doc).toEqual({ models: [{ model: "a" }] });
  });
});
