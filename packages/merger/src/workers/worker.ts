/** A worker thread: runs block kernels on tensors held in shared memory and answers with their results. */
import { parentPort } from "node:worker_threads";
import { type KernelName, runKernel } from "../kernels/index.js";
import { bindArenaMemory } from "../kernels/simd.js";

interface Request {
  id: number;
  kernel: KernelName;
  args: unknown[];
}

/** The plain (unshared) buffers of fresh typed arrays in a result: moved to the caller rather than copied. */
function movable(value: unknown, into: ArrayBuffer[] = [], depth = 0): ArrayBuffer[] {
  if (depth > 3 || value === null || typeof value !== "object") return into;
  if (ArrayBuffer.isView(value)) {
    const buffer = value.buffer;
    if (buffer instanceof ArrayBuffer && buffer.byteLength === value.byteLength && !into.includes(buffer))
      into.push(buffer);
    return into;
  }
  for (const v of Array.isArray(value) ? value : Object.values(value)) movable(v, into, depth + 1);
  return into;
}

/** Bind this thread's in-place kernels to a pool's arena memory (null: drop the binding). */
interface Bind {
  bind: { memory: WebAssembly.Memory; scratch: number } | null;
}

parentPort!.on("message", (request: Request | Bind) => {
  if ("bind" in request) {
    bindArenaMemory(request.bind?.memory ?? null, request.bind?.scratch);
    return;
  }
  try {
    const result = runKernel(request.kernel, request.args as never);
    parentPort!.postMessage({ id: request.id, result }, movable(result));
  } catch (err) {
    parentPort!.postMessage({ id: request.id, error: err instanceof Error ? err.message : String(err) });
  }
});
