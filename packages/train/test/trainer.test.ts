import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createModel } from "@llm/models";
import { loadModel } from "@llm/models/node";
import { Rng } from "@llm/tensor";
import { afterAll, describe, expect, it } from "vitest";
import { AdamW, TokenDataLoader, Trainer, decayGroups, languageModelLoss, warmupCosine, type TokenBatch } from "../src/index.js";
import { resumeFromCheckpoint, saveCheckpoint } from "../src/node.js";

const config = {
  model_type: "gpt2",
  vocab_size: 64,
  n_positions: 32,
  n_embd: 32,
  n_layer: 2,
  n_head: 4,
  activation_function: "gelu_new",
  layer_norm_epsilon: 1e-5,
  tie_word_embeddings: true,
};
const rng = new Rng(9);
const stream = Array.from({ length: 4000 }, (_, i) => (i % 7 === 0 ? rng.int(64) : (i * 5) % 64));
const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "llm-train-"));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function setup(seed = 1, accumulationSteps = 1, batchSize = 4, totalSteps = 8) {
  const model = createModel(config, { seed });
  const optimizer = new AdamW(decayGroups(model.namedParameters(), 0.1), { lr: 2e-2, betas: [0.9, 0.95] });
  const data = new TokenDataLoader(stream, { batchSize, seqLen: 16, seed: 7 });
  const trainer = new Trainer<TokenBatch>({
    model,
    optimizer,
    data,
    loss: languageModelLoss,
    totalSteps,
    schedule: warmupCosine({ warmupSteps: 2, totalSteps }),
    clipNorm: 1,
    accumulationSteps,
    progress: false,
  });
  return { model, optimizer, data, trainer };
}

describe("Trainer", () => {
  it("learns: the loss falls", async () => {
    const { trainer } = setup(1, 1, 4, 30);
    const state = await trainer.run();
    expect(state.losses).toHaveLength(30);
    expect(state.losses[29]!).toBeLessThan(state.losses[0]! - 1);
  });

  it("resumes from a checkpoint with the same losses as a run that never stopped", async () => {
    const straight = await setup().trainer.run();

    const first = setup();
    await first.trainer.run(3);
    const dir = join(tempDir(), "ckpt");
    await saveCheckpoint(dir, { model: first.model, optimizer: first.optimizer, trainer: first.trainer.state() });
    first.optimizer.dispose();

    // A fresh process: other random weights, fresh optimizer and loader, all restored from disk.
    const second = setup(99);
    await resumeFromCheckpoint(dir, { model: second.model, optimizer: second.optimizer, trainer: second.trainer });
    expect(second.trainer.step).toBe(3);
    const resumed = await second.trainer.run();
    expect(resumed.losses).toEqual(straight.losses);
  });

  it("accumulates micro-batches into the gradient of the whole batch", async () => {
    const whole = setup(1, 1, 4);
    const halves = setup(1, 2, 2);
    // Same windows: the half-size loader yields the whole batch's rows two at a time.
    const wholeData = new TokenDataLoader(stream, { batchSize: 4, seqLen: 16, seed: 7 });
    let pending: TokenBatch[] = [];
    (halves.data as { next: () => TokenBatch }).next = () => {
      if (pending.length === 0) {
        const b = wholeData.next();
        pending = [0, 1].map((h) => ({
          ...b,
          batchSize: 2,
          inputs: b.inputs.slice(h * 32, h * 32 + 32),
          targets: b.targets.slice(h * 32, h * 32 + 32),
        }));
      }
      return pending.shift()!;
    };
    const a = await whole.trainer.run(4);
    const b = await halves.trainer.run(4);
    a.losses.forEach((l, i) => expect(b.losses[i]).toBeCloseTo(l, 4));
  });

  it("writes checkpoints that loadModel reads back", async () => {
    const { model, trainer } = setup();
    await trainer.run(2);
    const dir = join(tempDir(), "model");
    await saveCheckpoint(dir, { model });
    const loaded = await loadModel(dir);
    const batch = new TokenDataLoader(stream, { batchSize: 2, seqLen: 16, seed: 3 }).next();
    const l1 = await languageModelLoss(model, batch).sum.item();
    const l2 = await languageModelLoss(loaded, batch).sum.item();
    expect(l2).toBeCloseTo(l1, 4);
    const header = JSON.parse(
      Buffer.from(readFileSync(join(dir, "model.safetensors")))
        .subarray(8, 8 + Number(readFileSync(join(dir, "model.safetensors")).readBigUInt64LE(0)))
        .toString(),
    );
    expect(header.__metadata__).toEqual({ format: "pt" });
  });
});
