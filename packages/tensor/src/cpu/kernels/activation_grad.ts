import type { BackendBuffer, FusedActivation, StridedView } from "../../backend.js";
import { CpuBuffer } from "../buffer.js";
import { toFloat32 } from "./cast.js";
import { erf } from "./erf.js";
import { allocUninit } from "../pool.js";
import { geluTanhGradWasm, siluGradWasm } from "../wasm/activations.js";
import { residentActivationGrad } from "../resident/train.js";

const SQRT_HALF = Math.SQRT1_2;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);
const TWO_C = 2 * Math.sqrt(2 / Math.PI);
const A = 0.044715;

/**
 * g * f'(x) for the activations autograd would otherwise differentiate in a dozen full-size
 * passes (a training step of a GPT spends about a sixth of its time there). Float64 temporaries,
 * float32 out; the formulas are the ones ops/elementwise.ts composes.
 */
export function activationGrad(op: FusedActivation, x: StridedView, g: StridedView, wasm = true): BackendBuffer {
  const resident = wasm ? residentActivationGrad(op, x, g) : null;
  if (resident) return new CpuBuffer(resident, "float32");
  const xs = toFloat32(x);
  const gs = toFloat32(g);
  const n = xs.length;
  const out = allocUninit("float32", n) as Float32Array;
  const simd = wasm ? (op === "gelu_tanh" ? geluTanhGradWasm : op === "silu" ? siluGradWasm : null) : null;
  if (simd?.(xs, gs, out, n)) return new CpuBuffer(out, "float32");
  switch (op) {
    case "gelu_tanh":
      // s = sigmoid(2u), u = c (x + a x^3): d/dx 0.5 x (1 + tanh u) = s (1 + x (1 - s) 2u')
      for (let i = 0; i < n; i++) {
        const v = xs[i]!;
        const v2 = v * v;
        const s = 1 / (1 + Math.exp(-TWO_C * v * (1 + A * v2)));
        out[i] = gs[i]! * s * (1 + v * (1 - s) * TWO_C * (1 + 3 * A * v2));
      }
      break;
    case "gelu":
      // Φ(x) + x φ(x)
      for (let i = 0; i < n; i++) {
        const v = xs[i]!;
        out[i] = gs[i]! * (0.5 * (1 + erf(v * SQRT_HALF)) + v * Math.exp(-0.5 * v * v) * INV_SQRT_2PI);
      }
      break;
    case "silu":
      // s (1 + x (1 - s)), s = sigmoid(x)
      for (let i = 0; i < n; i++) {
        const v = xs[i]!;
        const s = 1 / (1 + Math.exp(-v));
        out[i] = gs[i]! * s * (1 + v * (1 - s));
      }
      break;
  }
  return new CpuBuffer(out, "float32");
}
