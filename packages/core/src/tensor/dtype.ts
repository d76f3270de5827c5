/**
 * Element types as safetensors names them, with their sizes. Float conversions live in `convert.ts`.
 * Sub-byte and f8 types are listed so files holding them can be read and passed through untouched.
 */
export const DTYPE_BITS = {
  BOOL: 8,
  U8: 8,
  I8: 8,
  I16: 16,
  U16: 16,
  F16: 16,
  BF16: 16,
  I32: 32,
  U32: 32,
  F32: 32,
  F64: 64,
  I64: 64,
  U64: 64,
  C64: 64,
  F4: 4,
  F6_E2M3: 6,
  F6_E3M2: 6,
  F8_E5M2: 8,
  F8_E4M3: 8,
  F8_E8M0: 8,
  F8_E4M3FNUZ: 8,
  F8_E5M2FNUZ: 8,
} as const;

export type DType = keyof typeof DTYPE_BITS;

/** The float types Lethe computes in; everything else is passed through as raw bytes. */
export type FloatDType = "F32" | "F16" | "BF16" | "F64";

export const DTYPES = Object.keys(DTYPE_BITS) as DType[];

export function isDType(name: string): name is DType {
  return Object.hasOwn(DTYPE_BITS, name);
}

export function isFloatDType(dtype: DType): dtype is FloatDType {
  return dtype === "F32" || dtype === "F16" || dtype === "BF16" || dtype === "F64";
}

export function dtypeBits(dtype: DType): number {
  return DTYPE_BITS[dtype];
}

/** Byte size of `numel` elements, or null when it is not a whole number of bytes (sub-byte types). */
export function byteLength(dtype: DType, numel: number): number | null {
  const bits = numel * DTYPE_BITS[dtype];
  return bits % 8 === 0 ? bits / 8 : null;
}

/** Hugging Face `torch_dtype` names for the float dtypes, as written in config.json. */
export const TORCH_DTYPE: Record<FloatDType, string> = {
  F32: "float32",
  F16: "float16",
  BF16: "bfloat16",
  F64: "float64",
};

/** Parse the dtype spellings users write (mergekit YAML, CLI flags, config.json). */
export function parseFloatDType(text: string): FloatDType {
  const key = text.trim().toLowerCase();
  const found = FLOAT_DTYPE_ALIASES[key];
  if (!found) {
    throw new Error(
      `unknown float dtype "${text}": expected one of ${Object.keys(FLOAT_DTYPE_ALIASES).join(", ")}`,
    );
  }
  return found;
}

const FLOAT_DTYPE_ALIASES: Record<string, FloatDType> = {
  f32: "F32",
  float32: "F32",
  float: "F32",
  fp32: "F32",
  f16: "F16",
  float16: "F16",
  half: "F16",
  fp16: "F16",
  bf16: "BF16",
  bfloat16: "BF16",
  f64: "F64",
  float64: "F64",
  double: "F64",
};
