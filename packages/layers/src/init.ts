import { full, randn, type Rng, type Tensor } from "@llm/tensor";

/** Overwrites a parameter with N(0, std) samples from `rng`. */
export function fillNormal(p: Tensor, rng: Rng, std: number): void {
  const value = randn(p.shape, { rng, std, backend: p.backend });
  p.assign(value);
  value.dispose();
}

/** Overwrites a parameter with a constant. */
export function fillConstant(p: Tensor, value: number): void {
  const t = full(p.shape, value, { backend: p.backend });
  p.assign(t);
  t.dispose();
}
