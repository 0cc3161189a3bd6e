import { afterAll, describe, expect, it } from "vitest";
import { CpuBackend } from "../src/cpu/backend.js";
import { keep, noGrad, tensor, tidy, withBackend } from "../src/index.js";
import { binaryOver, unaryOver } from "../src/ops/in_place.js";
import type { Tensor } from "../src/tensor.js";
import { randomF32 } from "./cpu-helpers.js";

// unaryOver / binaryOver write an op's result over its input's own elements where that is safe
// (inference code then frees nothing and allocates nothing for it), and otherwise compute it the
// usual way with the input untouched. In place or not, the values are the op's, bit for bit.

const backends = [1, 2].map((threads) => new CpuBackend({ threads, minWorkPerThread: 0 }));
const ggml = new CpuBackend({ threads: 1, activationRounding: "ggml" });
const noWasm = new CpuBackend({ threads: 1, wasm: false });
afterAll(() => {
  for (const b of [...backends, ggml, noWasm]) b.close();
});

const same = (a: Tensor, b: Tensor) =>
  expect(Buffer.from((a.dataSync() as Float32Array).buffer)).toEqual(Buffer.from((b.dataSync() as Float32Array).buffer));
const values = (n: number, seed: number) => randomF32(n, seed, 8);

describe.each(backends.map((b) => [b.threads, b] as const))("%i thread(s)", (_, backend) => {
  for (const op of ["gelu_tanh", "silu"] as const) {
    it(`${op} over a fresh contiguous tensor returns it, holding the op's values`, () =>
      withBackend(backend, () =>
        noGrad(() => {
          const data = values(3 * 1000 + 3, 1); // not a whole number of vectors
          const expected = tensor(data, { shape: [3, 1001] }).gelu(op === "gelu_tanh" ? "tanh" : "none");
          const x = tensor(data, { shape: [3, 1001] });
          const y = unaryOver(op, x);
          expect(y).toBe(x);
          same(y, op === "gelu_tanh" ? expected : tensor(data, { shape: [3, 1001] }).silu());
        }),
      ));
  }

  for (const op of ["add", "sub", "mul", "div"] as const) {
    it(`${op}: a row broadcast over a's rows, and a same-shape b, written over a`, () =>
      withBackend(backend, () =>
        noGrad(() => {
          const a = values(7 * 67, 2);
          for (const [bData, bShape] of [
            [values(67, 3), [67]],
            [values(7 * 67, 4), [7, 67]],
          ] as const) {
            const b = tensor(bData, { shape: [...bShape] });
            const expected = tensor(a, { shape: [7, 67] })[op](b);
            const x = tensor(a, { shape: [7, 67] });
            const y = binaryOver(op, x, b);
            expect(y).toBe(x);
            same(y, expected);
          }
        }),
      ));
  }

  it("declines, leaving the input untouched, wherever overwriting is not safe", () =>
    withBackend(backend, () => {
      const data = values(64, 5);
      const untouched = (make: () => Tensor, run: (x: Tensor) => Tensor) =>
        tidy(() => {
          const x = make();
          const before = (x.contiguous().dataSync() as Float32Array).slice();
          const y = run(x);
          expect(y).not.toBe(x);
          expect(x.contiguous().dataSync()).toEqual(before);
        });
      const fresh = () => tensor(data, { shape: [8, 8] });
      // an autograd graph may need x
      untouched(
        () => tensor(data, { shape: [8, 8], requiresGrad: true }),
        (x) => unaryOver("silu", x),
      );
      untouched(fresh, (x) => binaryOver("mul", x, tensor(values(8, 6), { requiresGrad: true })));
      noGrad(() => {
        // another tensor views x's buffer
        untouched(fresh, (x) => {
          x.reshape(64);
          return unaryOver("gelu_tanh", x);
        });
        // strided, or not from its buffer's start
        untouched(
          () => fresh().transpose(0, 1),
          (x) => unaryOver("silu", x),
        );
        untouched(fresh, (x) => binaryOver("add", x.transpose(0, 1), x));
        // kept by its owner
        untouched(
          () => keep(fresh()),
          (x) => unaryOver("silu", x),
        );
        // b broadcasts a to a larger shape
        untouched(
          () => tensor(data.subarray(0, 8), { shape: [8] }),
          (x) => binaryOver("add", x, fresh()),
        );
        // an op the resident kernels do not run in place
        untouched(fresh, (x) => unaryOver("exp", x));
      });
    }));
});

it("a backend that rounds GELU as ggml does, or runs without WebAssembly, computes it anew", () => {
  const data = values(256, 7);
  for (const backend of [ggml, noWasm])
    withBackend(backend, () =>
      noGrad(() => {
        const x = tensor(data, { shape: [256] });
        const y = backend === ggml ? unaryOver("gelu_tanh", x) : binaryOver("add", x, tensor(data, { shape: [256] }));
        expect(y).not.toBe(x);
        same(x, tensor(data, { shape: [256] }));
        same(
          y,
          backend === ggml
            ? tensor(data, { shape: [256] }).gelu("tanh")
            : tensor(data, { shape: [256] }).add(tensor(data, { shape: [256] })),
        );
      }),
    );
});

it("the CPU backend runs GELU in place only on a view that ends its array (its last vector spills)", () => {
  const backend = backends[0]!;
  const data = values(80, 9);
  const buffer = backend.upload(data, "float32");
  const view = (size: number) => ({ buffer, shape: [size], strides: [1], offset: 0 });
  expect(backend.unaryInPlace("gelu_tanh", view(62))).toBe(false);
  expect(backend.readSync(buffer)).toEqual(data);
  expect(backend.unaryInPlace("gelu_tanh", view(80))).toBe(true);
  const expected = withBackend(backend, () =>
    tensor(data, { shape: [80] })
      .gelu("tanh")
      .dataSync(),
  );
  expect(backend.readSync(buffer)).toEqual(expected);
  backend.dispose(buffer);
});
