import { expect, test } from "vitest";
import { tensor } from "../src/index.js";

// The composed gelu_tanh backward against the textbook derivative in float64, out into the tails
// where tanh saturates (gradcheck covers small inputs only).
test("gelu_tanh gradient matches 0.5 (1 + t) + 0.5 x (1 - t^2) u' across the range", async () => {
  const xs = [-30, -12, -6, -3, -1.5, -0.7, -1e-3, 0, 1e-3, 0.4, 1, 2.5, 5, 9, 30];
  const x = tensor(xs, { requiresGrad: true });
  x.gelu("tanh").sum().backward();
  const got = await x.grad!.data();
  const c = Math.sqrt(2 / Math.PI);
  xs.forEach((v, i) => {
    const t = Math.tanh(c * (v + 0.044715 * v ** 3));
    const want = 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * c * (1 + 3 * 0.044715 * v * v);
    expect(Math.abs(got[i]! - want)).toBeLessThan(2e-6 * Math.max(1, Math.abs(want)));
  });
});
