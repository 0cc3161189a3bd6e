import { readFileSync } from "node:fs";
import { checkpointFilesFromBytes, noGrad, randn, Rng, tensor, tidy, type Tensor } from "@llm/tensor";
import { describe, expect, it } from "vitest";
import {
  addPeftAdapter,
  findLoraTargets,
  Linear,
  LoraAdapters,
  LoraLayer,
  loraConfigFromPeft,
  type LoraConfig,
  type Module,
  moduleFromTree,
  peftAdapterFiles,
  readPeftAdapter,
  resolveLoraConfig,
  toPeftAdapter,
} from "@llm/layers";
import { maxAbsDiff, values } from "./helpers.js";

/**
 * A two-layer stack named like a llama checkpoint, plus a GPT-2 style Conv1D ([in, out] weight):
 * enough module tree for the targeting rules, and a forward that runs every Linear.
 */
function tinyModel(seed = 1) {
  const rng = new Rng(seed);
  const layer = () => ({
    self_attn: {
      q_proj: new Linear(6, 6, { bias: false }),
      v_proj: new Linear(6, 4, { bias: false }),
      o_proj: new Linear(4, 6, { bias: false }),
    },
    mlp: { up_proj: new Linear(6, 10), down_proj: new Linear(10, 6) },
  });
  const layers = [layer(), layer()];
  const c_attn = new Linear(6, 6, { layout: "in_out" });
  const root = moduleFromTree({ model: { layers }, transformer: { h: [{ attn: { c_attn } }] } });
  root.initialize(rng, 0.3);
  const forward = (x: Tensor): Tensor => {
    let h = x;
    for (const l of layers) {
      const a = l.self_attn.o_proj.forward(l.self_attn.v_proj.forward(l.self_attn.q_proj.forward(h)).tanh());
      h = h.add(a);
      h = h.add(l.mlp.down_proj.forward(l.mlp.up_proj.forward(h).silu()));
    }
    return c_attn.forward(h);
  };
  return { root, forward, layers, c_attn };
}

const input = () => randn([2, 3, 6], { seed: 7 });

const names = (root: Module, config: LoraConfig) => findLoraTargets(root, resolveLoraConfig(config)).map(([n]) => n);

describe("LoRA: which layers get adapters (peft's matching rules)", () => {
  const { root } = tinyModel();
  it("a list matches a whole name or its last parts", () => {
    expect(names(root, { targetModules: ["q_proj", "mlp.down_proj"] })).toEqual([
      "model.layers.0.self_attn.q_proj",
      "model.layers.0.mlp.down_proj",
      "model.layers.1.self_attn.q_proj",
      "model.layers.1.mlp.down_proj",
    ]);
    expect(names(root, { targetModules: ["model.layers.1.self_attn.v_proj"] })).toEqual(["model.layers.1.self_attn.v_proj"]);
    // "proj" is not a trailing part of "q_proj": peft matches on "." boundaries.
    expect(() => names(root, { targetModules: ["proj"] })).toThrow(/matched no Linear layer.*"q_proj", "v_proj"/);
  });

  it("a string is a regex over the whole name; all-linear takes every Linear", () => {
    expect(names(root, { targetModules: String.raw`.*\.1\.self_attn\.(q|v)_proj` })).toEqual([
      "model.layers.1.self_attn.q_proj",
      "model.layers.1.self_attn.v_proj",
    ]);
    expect(() => names(root, { targetModules: "q_proj" })).toThrow(/a string is a regular expression the whole name must match/);
  });

  it("all-linear, exclusions, layersToTransform", () => {
    expect(names(root, { targetModules: "all-linear" })).toHaveLength(11);
    expect(names(root, { targetModules: "all-linear", excludeModules: ["mlp.up_proj", "c_attn"] })).toHaveLength(8);
    expect(names(root, { targetModules: ["q_proj"], excludeModules: String.raw`.*\.0\..*` })).toEqual(["model.layers.1.self_attn.q_proj"]);
    expect(names(root, { targetModules: ["q_proj", "c_attn"], layersToTransform: [1] })).toEqual(["model.layers.1.self_attn.q_proj"]);
    expect(names(root, { targetModules: ["q_proj", "c_attn"], layersToTransform: 0, layersPattern: "h" })).toEqual([
      "transformer.h.0.attn.c_attn",
    ]);
  });

  it("a target that is not a Linear, or a bad setting, is an error naming it", () => {
    expect(() => names(root, { targetModules: ["self_attn"] })).toThrow(
      /target "model.layers.0.self_attn" is a ModuleDict; adapters go on Linear layers/,
    );
    expect(() => resolveLoraConfig({ targetModules: ["q_proj"], r: 0 })).toThrow(/r must be a positive integer, found 0/);
    expect(() => resolveLoraConfig({ targetModules: ["q_proj"], dropout: 1 })).toThrow(/dropout must be a number in \[0, 1\), found 1/);
    expect(() => resolveLoraConfig({ targetModules: "(" })).toThrow(/targetModules: "\(" is not a regular expression/);
    expect(() => resolveLoraConfig({ targetModules: [] })).toThrow(/targetModules must be a non-empty list/);
  });
});

describe("LoRA layers", () => {
  it("with peft's default init (B = 0) the model's outputs are identical to the base model's, at any rank", () => {
    for (const r of [1, 4, 16]) {
      const { root, forward } = tinyModel();
      const before = values(forward(input()));
      const lora = LoraAdapters.of(root).add("default", { r, targetModules: "all-linear" });
      expect(values(forward(input()))).toEqual(before);
      // A is [r, in], B [out, r]: r x (in + out) values per layer.
      const q = lora
        .layersOf("default")
        .find(([n]) => n.endsWith("0.self_attn.q_proj"))![1]
        .adapters.get("default")!;
      expect([q.A.shape, q.B.shape]).toEqual([
        [r, 6],
        [6, r],
      ]);
      expect(lora.parameterCount()).toBe(r * (2 * (12 + 10 + 10 + 16 + 16) + 12));
      expect(Math.max(...values(q.A).map(Math.abs))).toBeLessThanOrEqual(1 / Math.sqrt(6)); // kaiming_uniform(a = sqrt 5)
    }
  });

  it("scaling is alpha / r, or alpha / sqrt(r) with rsLoRA; rank and alpha patterns override per layer", () => {
    const { root } = tinyModel();
    const lora = LoraAdapters.of(root);
    lora.add("plain", { r: 4, alpha: 8, targetModules: ["q_proj"] });
    lora.add("rs", { r: 4, alpha: 8, targetModules: ["q_proj"], useRslora: true });
    lora.add("patterns", {
      r: 4,
      alpha: 8,
      targetModules: ["q_proj"],
      rankPattern: { "1.self_attn.q_proj": 2 },
      alphaPattern: { q_proj: 3 },
    });
    const settings = (name: string) => lora.layersOf(name).map(([, l]) => l.adapters.get(name)!);
    expect(settings("plain").map((s) => s.scaling)).toEqual([2, 2]);
    expect(settings("rs").map((s) => s.scaling)).toEqual([4, 4]);
    expect(settings("patterns").map((s) => [s.rank, s.alpha, s.scaling])).toEqual([
      [4, 3, 0.75],
      [2, 3, 1.5],
    ]);
  });

  it("merge then forward equals the unmerged forward within 1e-5 ([out, in] and Conv1D [in, out] weights); unmerge restores", () => {
    const { root, forward } = tinyModel();
    const base = Object.fromEntries(root.namedParameters().map(([n, p]) => [n, tensor(p.dataSync() as Float32Array, { shape: p.shape })]));
    const lora = LoraAdapters.of(root).add("default", { r: 3, alpha: 5, targetModules: "all-linear", initLoraWeights: false }, { seed: 3 });
    noGrad(() => {
      const unmerged = forward(input());
      expect(
        maxAbsDiff(
          unmerged,
          tidy(() => lora.withAdapters(null, () => forward(input()))),
        ),
      ).toBeGreaterThan(0.05);
      lora.merge();
      expect(maxAbsDiff(forward(input()), unmerged)).toBeLessThan(1e-5);
      // While merged, forward runs the base weights only: the adapters are not added twice.
      expect(lora.layersOf("default").every(([, l]) => l.merged.includes("default"))).toBe(true);
      lora.unmerge();
      expect(maxAbsDiff(forward(input()), unmerged)).toBeLessThan(1e-5);
      for (const [n, p] of root.namedParameters()) expect(maxAbsDiff(p, base[n]!)).toBeLessThan(1e-6);
    });
  });

  it("gradients of A and B match central finite differences", () => {
    const { root, forward } = tinyModel();
    const lora = LoraAdapters.of(root).add(
      "default",
      { r: 2, alpha: 3, targetModules: ["v_proj", "c_attn"], initLoraWeights: false },
      { seed: 5 },
    );
    const weights = randn([2, 3, 6], { seed: 11 });
    const objective = () => tidy(() => forward(input()).mul(weights).sum());
    objective().backward();
    for (const [name, p] of lora.namedParameters()) {
      const analytic = values(p.grad!);
      const host = Float32Array.from(p.dataSync() as Float32Array);
      const eps = 1e-2;
      for (let k = 0; k < host.length; k++) {
        const at = (delta: number) => {
          const v = host.slice();
          v[k]! += delta;
          p.assign(tensor(v, { shape: p.shape }));
          return noGrad(() => objective().dataSync()[0]!);
        };
        const numeric = (at(eps) - at(-eps)) / (2 * eps);
        p.assign(tensor(host, { shape: p.shape }));
        expect(Math.abs(analytic[k]! - numeric), `${name}[${k}]: autograd ${analytic[k]}, finite differences ${numeric}`).toBeLessThan(
          2e-3 + 1e-2 * Math.abs(numeric),
        );
      }
    }
  });

  it("the base is frozen: no gradients for it, and it is unchanged bit for bit after training steps", () => {
    const { root, forward } = tinyModel();
    const before = root.namedParameters().map(([n, p]) => [n, Buffer.from((p.dataSync() as Float32Array).slice().buffer)] as const);
    const lora = LoraAdapters.of(root).add("default", { r: 2, targetModules: "all-linear" });
    const target = randn([2, 3, 6], { seed: 2 });
    const loss = () => tidy(() => forward(input()).sub(target).square().mean());
    const first = loss().dataSync()[0]!;
    for (let step = 0; step < 5; step++) {
      const l = loss();
      l.backward();
      for (const p of root.parameters()) expect(p.grad).toBeNull();
      noGrad(() => {
        for (const p of lora.parameters()) {
          p.assign(p.sub(p.grad!.mul(0.1)));
          p.zeroGrad();
        }
      });
    }
    expect(loss().dataSync()[0]!).toBeLessThan(first);
    for (const [n, bytes] of before) {
      const p = root.stateDict()[n]!;
      expect(p.requiresGrad, n).toBe(false);
      expect(Buffer.from((p.dataSync() as Float32Array).buffer).equals(bytes), n).toBe(true);
    }
    lora.unload();
    expect(root.parameters().every((p) => p.requiresGrad)).toBe(true);
    expect(root.namedParameters().length).toBe(before.length);
  });

  it("dropout acts only in training mode, from a seeded stream", () => {
    const { root, forward } = tinyModel();
    LoraAdapters.of(root).add("default", { r: 2, dropout: 0.5, targetModules: ["q_proj"], initLoraWeights: false });
    root.eval();
    const a = values(forward(input()));
    expect(values(forward(input()))).toEqual(a);
    root.train();
    const b = values(forward(input()));
    const c = values(forward(input()));
    expect(b).not.toEqual(a);
    expect(c).not.toEqual(b); // a fresh mask each call
  });

  it("several adapters: use() switches between them, a list adds them up, null is the base alone", () => {
    const { root, forward, layers } = tinyModel();
    const base = values(forward(input()));
    const q = (x: Tensor) => values(layers[0]!.self_attn.q_proj.forward(x));
    const lora = LoraAdapters.of(root);
    lora.add("a", { r: 2, targetModules: ["q_proj"], initLoraWeights: false }, { seed: 1 });
    lora.add("b", { r: 3, targetModules: ["q_proj", "down_proj"], initLoraWeights: false }, { seed: 2 });
    expect(lora.active).toEqual(["a"]);
    const onlyA = values(forward(input()));
    const qA = q(input());
    lora.use("b");
    const onlyB = values(forward(input()));
    const qB = q(input());
    lora.use(["a", "b"]);
    const qBoth = q(input());
    lora.use(null);
    expect(values(forward(input()))).toEqual(base);
    const qBase = q(input());
    expect(onlyA).not.toEqual(onlyB);
    expect(onlyA).not.toEqual(base);
    // On one layer the deltas add up: both = base + (A's delta) + (B's delta).
    qBoth.forEach((v, i) => expect(v).toBeCloseTo(qA[i]! + qB[i]! - qBase[i]!, 5));
    expect(lora.withAdapters("b", () => values(forward(input())))).toEqual(onlyB);
    expect(lora.active).toEqual([]);
    expect(() => lora.use("c")).toThrow(/no adapter named "c" \(the model has "a", "b"\)/);
    lora.use("a");
    lora.merge();
    expect(() => lora.use("b")).toThrow(/while a is merged; unmerge\(\) first/);
    lora.unmerge();
    lora.delete("a");
    expect(lora.names).toEqual(["b"]);
    expect(lora.active).toEqual([]);
    expect(() => lora.add("b", { targetModules: ["q_proj"] })).toThrow(/already has an adapter named "b"/);
    expect(() => lora.add("x.y", { targetModules: ["q_proj"] })).toThrow(/adapter names are letters/);
  });

  it("setTrainable freezes one adapter while another trains on top of it (both active)", () => {
    const { root, forward } = tinyModel();
    const lora = LoraAdapters.of(root);
    lora.add("sft", { r: 2, targetModules: ["q_proj"], initLoraWeights: false }, { seed: 1 });
    lora.add("dpo", { r: 2, targetModules: ["q_proj"], initLoraWeights: false }, { seed: 2, trainable: true });
    lora.use(["sft", "dpo"]);
    lora.setTrainable("sft", false);
    tidy(() => forward(input()).sum()).backward();
    for (const [name, p] of lora.namedParameters("sft")) {
      expect(p.requiresGrad, name).toBe(false);
      expect(p.grad, name).toBeNull();
    }
    for (const [name, p] of lora.namedParameters("dpo")) expect(p.grad, name).not.toBeNull();
    lora.setTrainable("sft", true);
    expect(lora.parameters("sft").every((p) => p.requiresGrad)).toBe(true);
  });

  it("A and B must have the layer's shapes and rank; the error names the layer and the adapter", () => {
    const linear = new Linear(4, 3);
    linear.initialize(new Rng(0), 0.5);
    const layer = new LoraLayer(linear, "proj", new Rng(0));
    expect(() => layer.add("x", { rank: 2, alpha: 2, scaling: 1, dropout: 0, A: randn([2, 5]), B: randn([3, 2]) })).toThrow(
      /proj\.lora_A\.x: expected float32 \[2, 4\], found float32 \[2, 5\]/,
    );
  });
});

describe("PEFT's file layout", () => {
  const golden = JSON.parse(readFileSync(new URL("./golden/peft_configs.json", import.meta.url), "utf8")) as Record<
    string,
    { kwargs: Record<string, unknown>; text: string }
  >;
  // peft's LoraConfig arguments -> ours (the same settings under camelCase names).
  const ours = (kw: Record<string, unknown>): LoraConfig => ({
    r: kw.r as number,
    alpha: kw.lora_alpha as number,
    dropout: (kw.lora_dropout as number) ?? 0,
    targetModules: kw.target_modules as string[] | string,
    excludeModules: (kw.exclude_modules as string) ?? null,
    useRslora: (kw.use_rslora as boolean) ?? false,
    rankPattern: (kw.rank_pattern as Record<string, number>) ?? {},
    alphaPattern: (kw.alpha_pattern as Record<string, number>) ?? {},
    layersToTransform: (kw.layers_to_transform as number[]) ?? null,
    layersPattern: (kw.layers_pattern as string) ?? null,
    initLoraWeights: (kw.init_lora_weights as "gaussian") ?? true,
  });

  for (const [name, { kwargs, text }] of Object.entries(golden)) {
    it(`adapter_config.json as peft 0.21 writes it, byte for byte: ${name}`, async () => {
      const { root } = tinyModel();
      const lora = LoraAdapters.of(root).add(name, ours(kwargs));
      const files = await peftAdapterFiles(lora, name, { baseModelNameOrPath: (kwargs.base_model_name_or_path as string) ?? null });
      expect(new TextDecoder().decode(files["adapter_config.json"])).toBe(text);
      // and peft's file reads back as the same config
      expect(resolveLoraConfig(loraConfigFromPeft(JSON.parse(text)))).toEqual(resolveLoraConfig(ours(kwargs)));
    });
  }

  it("keys are base_model.model.<module>.lora_A.weight / lora_B.weight; both files load back into a fresh model", async () => {
    const { root, forward } = tinyModel();
    const lora = LoraAdapters.of(root).add("default", { r: 2, targetModules: ["v_proj", "c_attn"], initLoraWeights: false });
    expect(Object.keys(toPeftAdapter(lora, "default").tensors)).toEqual([
      "base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight",
      "base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight",
      "base_model.model.model.layers.1.self_attn.v_proj.lora_A.weight",
      "base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight",
      "base_model.model.transformer.h.0.attn.c_attn.lora_A.weight",
      "base_model.model.transformer.h.0.attn.c_attn.lora_B.weight",
    ]);
    const files = await peftAdapterFiles(lora, "default");
    const fresh = tinyModel();
    const adapter = await readPeftAdapter(checkpointFilesFromBytes(files, "mem"));
    addPeftAdapter(fresh.root, "default", adapter);
    expect(values(fresh.forward(input()))).toEqual(values(forward(input())));
    expect(
      LoraAdapters.of(fresh.root)
        .parameters()
        .every((p) => !p.requiresGrad),
    ).toBe(true); // peft: not trainable unless asked
  });

  it("a file that does not fit is an error naming the keys, the field or the file", async () => {
    const { root } = tinyModel();
    const lora = LoraAdapters.of(root).add("default", { r: 2, targetModules: ["v_proj"] });
    const { config, tensors } = toPeftAdapter(lora, "default");
    const fresh = () => tinyModel().root;
    const without = { ...tensors };
    delete without["base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight"];
    expect(() => addPeftAdapter(fresh(), "x", { config, tensors: without })).toThrow(
      /model\.layers\.1\.self_attn\.v_proj has lora_A but no lora_B/,
    );
    expect(() => addPeftAdapter(fresh(), "x", { config: { ...config, target_modules: ["q_proj"] }, tensors })).toThrow(
      /no weights for model\.layers\.0\.self_attn\.q_proj.*weights for layers the config does not target: model\.layers\.0\.self_attn\.v_proj/,
    );
    expect(() => addPeftAdapter(fresh(), "x", { config: { ...config, use_dora: true }, tensors })).toThrow(/use_dora = true asks for DoRA/);
    expect(() => addPeftAdapter(fresh(), "x", { config: { ...config, peft_type: "IA3" }, tensors })).toThrow(
      /peft_type: expected "LORA", found "IA3"/,
    );
    const wrongRank = { ...tensors, "base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight": randn([3, 6]) };
    expect(() => addPeftAdapter(fresh(), "x", { config, tensors: wrongRank })).toThrow(
      /v_proj\.lora_A\.x: expected float32 \[2, 6\], found float32 \[3, 6\]/,
    );
    await expect(readPeftAdapter(checkpointFilesFromBytes({ "adapter_model.bin": "x" }, "folder"))).rejects.toThrow(
      /folder: expected adapter_config.json, found none/,
    );
    await expect(
      readPeftAdapter(checkpointFilesFromBytes({ "adapter_config.json": "{}", "adapter_model.bin": "x" }, "folder")),
    ).rejects.toThrow(/only adapter_model.bin, a pickle/);
  });
});
