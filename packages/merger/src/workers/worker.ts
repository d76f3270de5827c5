/** A worker thread: runs block kernels on tensors held in shared memory and answers with their results. */
import { parentPort } from "node:worker_threads";
import { type KernelName, runKernel } from "../kernels/index.js";

interface Request {
  id: number;
  kernel: KernelName;
  args: unknown[];
}

parentPort!.on("message", (request: Request) => {
  try {
    const result = runKernel(request.kernel, request.args as never);
    parentPort!.postMessage({ id: request.id, result });
  } catch (err) {
    parentPort!.postMessage({ id: request.id, error: err instanceof Error ? err.message : String(err) });
  }
});
