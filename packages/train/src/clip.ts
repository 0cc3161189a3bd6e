import { noGrad, tidy, keep, type Tensor } from "@llm/tensor";
import { checkNumber } from "./errors.js";

/**
 * torch.nn.utils.clip_grad_norm_: scales every gradient by min(1, maxNorm / (norm + 1e-6)), where
 * norm is the L2 norm of all gradients together. Returns that norm (before clipping) as a scalar
 * tensor the caller disposes; it stays on the device, so clipping never waits for a read.
 */
export function clipGradNorm(params: readonly Tensor[], maxNorm: number): Tensor {
  checkNumber("clipGradNorm", "maxNorm", maxNorm, (v) => v > 0, "> 0");
  return noGrad(() => {
    const withGrad = params.filter((p) => p.grad);
    const norm = keep(
      tidy(() => {
        if (withGrad.length === 0) return params[0]!.sum().mul(0);
        return withGrad
          .map((p) => p.grad!.square().sum())
          .reduce((a, b) => a.add(b))
          .sqrt();
      }),
    );
    tidy(() => {
      const coef = norm.add(1e-6).reciprocal().mul(maxNorm).minimum(1);
      for (const p of withGrad) {
        const scaled = keep(p.grad!.mul(coef));
        p.grad!.dispose();
        p.grad = scaled;
      }
    });
    return norm;
  });
}

/** The global L2 norm of the gradients, without changing them (scalar tensor, caller disposes). */
export function gradNorm(params: readonly Tensor[]): Tensor {
  return noGrad(() =>
    keep(
      tidy(() =>
        params
          .filter((p) => p.grad)
          .map((p) => p.grad!.square().sum())
          .reduce((a, b) => a.add(b))
          .sqrt(),
      ),
    ),
  );
}
