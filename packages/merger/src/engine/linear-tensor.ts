/** One tensor through the linear merge, block by block. */
import type { RawTensor } from "../kernels/decode.js";
import type { LinearSpec } from "../kernels/linear.js";
import { blocksOf } from "./blocks.js";
import type { BlockRunner } from "./runner.js";

export async function mergeLinearTensor(
  spec: LinearSpec,
  inputs: readonly RawTensor[],
  runner: BlockRunner,
  out: Uint8Array,
  blockElements?: number,
): Promise<void> {
  const blocks = blocksOf(spec.numel, undefined, blockElements);
  await runner.map(
    "linearBlock",
    blocks.map((b) => [spec, inputs, b.start, b.end, out] as const),
  );
}
