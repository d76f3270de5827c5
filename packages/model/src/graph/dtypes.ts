import type { DataType } from "./ir.js";

/** ONNX `TensorProto.DataType` codes (onnx.proto). */
export const ONNX_ELEMENT_TYPE: Record<DataType, number> = {
  float32: 1,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
  float64: 11,
};

export function isFloat(dtype: DataType): boolean {
  return dtype === "float32" || dtype === "float16" || dtype === "float64";
}
