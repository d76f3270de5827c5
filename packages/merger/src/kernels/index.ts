/** The block kernels by name: what a worker thread can be asked to run. */
import { dellaMasks } from "../sparsify/della.js";
import { mergeBlock, scanLowBits, scanMagnitudes, scanNorms, scanVotes } from "./gta.js";
import { linearBlock } from "./linear.js";

export const KERNELS = {
  scanMagnitudes,
  scanLowBits,
  scanNorms,
  scanVotes,
  mergeBlock,
  dellaMasks,
  linearBlock,
};

export type KernelName = keyof typeof KERNELS;
export type KernelArgs<K extends KernelName> = Parameters<(typeof KERNELS)[K]>;
export type KernelResult<K extends KernelName> = ReturnType<(typeof KERNELS)[K]>;

export function runKernel<K extends KernelName>(name: K, args: KernelArgs<K>): KernelResult<K> {
  const kernel = KERNELS[name] as unknown as (...a: KernelArgs<K>) => KernelResult<K>;
  return kernel(...args);
}
