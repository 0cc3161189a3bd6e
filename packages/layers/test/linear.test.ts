import { describe, expect, it } from "vitest";
import { tensor } from "@llm/tensor";
import { Embedding, GatedMLP, LayerNorm, Linear, OutputHead } from "@llm/layers";
import { values } from "./helpers.js";

describe("Linear", () => {
  it("computes x W^T + b with torch's [out, in] weight and GPT-2's [in, out] Conv1D weight alike", () => {
    const torch = new Linear(2, 3);
    torch.weight.assign(
      tensor([
        [1, 2],
        [3, 4],
        [5, 6],
      ]),
    );
    torch.bias!.assign(tensor([0.5, 0, -1]));
    const conv = new Linear(2, 3, { layout: "in_out" });
    conv.weight.assign(
      tensor([
        [1, 3, 5],
        [2, 4, 6],
      ]),
    );
    conv.bias!.assign(tensor([0.5, 0, -1]));
    const x = tensor([[[1, -1]], [[2, 0]]]);
    expect(values(torch.forward(x))).toEqual([-0.5, -1, -2, 2.5, 6, 9]);
    expect(values(conv.forward(x))).toEqual(values(torch.forward(x)));
  });

  it("names the width it expects", () => {
    expect(() => new Linear(4, 2).forward(tensor([[1, 2, 3]]))).toThrow(/expected input with last dim 4, found shape \[1,3\]/);
  });
});

describe("norms, heads and gated MLPs", () => {
  it("LayerNorm without affine parameters only normalizes", () => {
    const norm = new LayerNorm(2, { affine: false });
    expect(norm.parameters()).toHaveLength(0);
    values(norm.forward(tensor([[1, 3]]))).forEach((v, i) => expect(v).toBeCloseTo([-1, 1][i]!, 4));
  });

  it("a tied head projects with the embedding matrix and adds its own bias", () => {
    const embedding = new Embedding(3, 2);
    embedding.weight.assign(
      tensor([
        [1, 0],
        [0, 1],
        [1, 1],
      ]),
    );
    const head = new OutputHead(2, 3, { tiedTo: embedding, bias: true });
    head.bias!.assign(tensor([0, 0, 10]));
    expect(Object.keys(head.stateDict())).toEqual(["bias"]);
    expect(values(head.forward(tensor([[2, 3]])))).toEqual([2, 3, 15]);
  });

  it("SwiGLU is down(silu(gate x) * up x)", () => {
    const mlp = new GatedMLP(
      { gate: "g", up: "u", down: "d" },
      { gate: new Linear(1, 1, { bias: false }), up: new Linear(1, 1, { bias: false }), down: new Linear(1, 1, { bias: false }) },
    );
    mlp.gate.weight.assign(tensor([[2]]));
    mlp.up.weight.assign(tensor([[3]]));
    mlp.down.weight.assign(tensor([[0.5]]));
    const x = 1.5;
    const silu = (v: number) => v / (1 + Math.exp(-v));
    expect(values(mlp.forward(tensor([[x]])))[0]).toBeCloseTo(0.5 * silu(2 * x) * 3 * x, 5);
  });
});
