/**
 * The tensor package's op and autograd suites, run unchanged with the WebGPU backend as the
 * default backend: every Tensor op composed from our kernels must give the values those suites
 * expect (they run on the CPU backend in the tensor project). Its gradient suite reads with
 * dataSync (finite differences), which WebGPU cannot do; gradients.test.ts here compares every
 * gradient with the CPU backend's instead.
 */
import { setBackend } from "@llm/tensor";
import { backend, reportSkip } from "./helpers/gpu.js";

reportSkip();

// Specifiers in variables: the suites belong to @llm/tensor's project, not to this typecheck.
const suites = ["../../tensor/test/ops.test.js", "../../tensor/test/autograd.test.js"];
if (backend) {
  setBackend(backend);
  for (const suite of suites) await import(/* @vite-ignore */ suite);
}
