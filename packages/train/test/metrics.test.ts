import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createModel } from "@llm/models";
import { afterAll, describe, expect, it } from "vitest";
import {
  AdamW,
  MetricsLog,
  TokenDataLoader,
  Trainer,
  TrainError,
  decayGroups,
  languageModelLoss,
  parseMetrics,
  warmupCosine,
  type MetricsRecord,
  type TokenBatch,
} from "../src/index.js";
import { metricsFile, readMetrics } from "../src/node.js";

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "llm-metrics-"));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const record = (step: number, extra: Partial<MetricsRecord> = {}): MetricsRecord => ({
  step,
  loss: 4 - step / 10,
  lr: 1e-3,
  tokensPerSecond: 900,
  elapsedSeconds: step / 2,
  ...extra,
});

describe("MetricsLog and parseMetrics", () => {
  it("write one JSON object per line and read them back (NaN as null, back as NaN)", async () => {
    const lines: string[] = [];
    const log = new MetricsLog((line) => void lines.push(line));
    await log.write(record(1, { gradNorm: 0.5 }));
    await log.write(record(2, { evalLoss: 3.9 }));
    await log.write(record(3, { loss: NaN }));
    expect(lines.every((l) => l.endsWith("\n") && !l.slice(0, -1).includes("\n"))).toBe(true);
    expect(JSON.parse(lines[0]!)).toEqual(record(1, { gradNorm: 0.5 }));
    expect(lines[2]).toContain('"loss":null');
    const back = parseMetrics(lines.join(""));
    expect(back.slice(0, 2)).toEqual([record(1, { gradNorm: 0.5 }), record(2, { evalLoss: 3.9 })]);
    expect(back[2]!.loss).toBeNaN();
  });

  it("skip a torn last line, but name a bad line anywhere else", () => {
    const good = `${JSON.stringify(record(1))}\n${JSON.stringify(record(2))}\n`;
    expect(parseMetrics(`${good}{"step":3,"lo`)).toEqual([record(1), record(2)]);
    expect(parseMetrics(good + JSON.stringify(record(3)))).toEqual([record(1), record(2), record(3)]); // whole, newline missing
    expect(() => parseMetrics(`${JSON.stringify(record(1))}\n{"step":2,"lo\n${JSON.stringify(record(3))}\n`, "run/metrics.jsonl")).toThrow(
      /run\/metrics\.jsonl: line 2 is not JSON/,
    );
    expect(() => parseMetrics("[1, 2]\n", "m.jsonl")).toThrow(TrainError);
    expect(() => parseMetrics('{"loss": 2}\n', "m.jsonl")).toThrow(/m\.jsonl: line 1 should have a numeric "step" and "loss"/);
  });
});

describe("metricsFile and readMetrics", () => {
  it("append lines to a file (its folder made when missing), or start it over", async () => {
    const path = join(tempDir(), "run", "metrics.jsonl");
    const first = metricsFile(path);
    await first.write(record(1));
    await first.write(record(2));
    // a resumed run appends
    await metricsFile(path).write(record(3));
    expect(await readMetrics(path)).toEqual([record(1), record(2), record(3)]);
    // a process that died while writing leaves a torn line: the reader skips it
    appendFileSync(path, '{"step":4,"loss":3.');
    expect(await readMetrics(path)).toEqual([record(1), record(2), record(3)]);
    const fresh = metricsFile(path, { append: false });
    await fresh.write(record(1));
    await fresh.write(record(2));
    expect(readFileSync(path, "utf8").split("\n")).toHaveLength(3);
    expect(await readMetrics(path)).toEqual([record(1), record(2)]);
  });

  it("name the file when a line in it is not a record", async () => {
    const path = join(tempDir(), "bad.jsonl");
    writeFileSync(path, `${JSON.stringify(record(1))}\nnot json\n`);
    await expect(readMetrics(path)).rejects.toThrow(`${path}: line 2 is not JSON`);
  });
});

describe("Trainer with a MetricsLog", () => {
  it("writes each step's loss, learning rate, gradient norm, speed and time, and the held-out loss where it evaluated", async () => {
    const config = {
      model_type: "gpt2",
      vocab_size: 64,
      n_positions: 32,
      n_embd: 16,
      n_layer: 1,
      n_head: 2,
      activation_function: "gelu_new",
      layer_norm_epsilon: 1e-5,
      tie_word_embeddings: true,
    };
    const model = createModel(config, { seed: 1 });
    const optimizer = new AdamW(decayGroups(model.namedParameters(), 0.1), { lr: 1e-2 });
    const stream = Array.from({ length: 2000 }, (_, i) => (i * 5) % 64);
    const schedule = warmupCosine({ warmupSteps: 2, totalSteps: 4 });
    const records: MetricsRecord[] = [];
    let evaluations = 0;
    const trainer = new Trainer<TokenBatch>({
      model,
      optimizer,
      data: new TokenDataLoader(stream, { batchSize: 2, seqLen: 8, seed: 3 }),
      loss: languageModelLoss,
      totalSteps: 4,
      schedule,
      clipNorm: 1,
      evaluate: async () => 5 + evaluations++,
      evalEvery: 2,
      progress: false,
      metrics: new MetricsLog((line) => void records.push(...parseMetrics(line))),
    });
    const state = await trainer.run();
    expect(records.map((r) => r.step)).toEqual([1, 2, 3, 4]);
    expect(records.map((r) => r.loss)).toEqual(state.losses);
    records.forEach((r, i) => {
      expect(r.lr).toBeCloseTo(1e-2 * schedule(i), 12);
      expect(r.gradNorm).toBeGreaterThan(0);
      expect(r.tokensPerSecond).toBeGreaterThan(0);
      expect(r.elapsedSeconds).toBeGreaterThanOrEqual(i > 0 ? records[i - 1]!.elapsedSeconds : 0);
    });
    expect(records.map((r) => r.evalLoss)).toEqual([undefined, 5, undefined, 6]);
    expect(state.evals).toEqual([
      { step: 2, loss: 5 },
      { step: 4, loss: 6 },
    ]);
  });
});
