import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inflateSync } from "node:zlib";
import { MetricsLog } from "@llm/train";
import { metricsFile } from "@llm/train/node";
import { afterAll, describe, expect, it } from "vitest";
import { lossSeries, writeLossCurve } from "./loss_curve.mjs";
import { ticks } from "./plot.mjs";
import { encodePng } from "./png.mjs";

const dir = mkdtempSync(join(tmpdir(), "llm-plot-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const record = (step, loss, extra = {}) => ({ step, loss, lr: 1e-3, tokensPerSecond: 1000, elapsedSeconds: step, ...extra });

describe("the demo's loss curve", () => {
  it("draws a metrics file as a PNG", async () => {
    const metrics = join(dir, "metrics.jsonl");
    const log = metricsFile(metrics, { append: false });
    for (const r of [record(1, 3), record(2, 2.5, { evalLoss: 2.6 }), record(3, 2.2), record(4, 2, { evalLoss: 2.3 })]) await log.write(r);
    const png = join(dir, "loss.png");
    await writeLossCurve(png, metrics, {
      extra: [
        {
          name: "baseline",
          points: [
            [1, 2.8],
            [4, 2.8],
          ],
        },
      ],
    });
    const bytes = readFileSync(png);
    expect([...bytes.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const width = bytes.readUInt32BE(16);
    const height = bytes.readUInt32BE(20);
    const idatLength = bytes.readUInt32BE(33);
    expect(bytes.subarray(37, 41).toString()).toBe("IDAT");
    const raw = inflateSync(bytes.subarray(41, 41 + idatLength));
    expect(raw.length).toBe(height * (1 + width * 4));
    // Something other than the white background was drawn.
    let ink = 0;
    for (let i = 0; i < raw.length; i++) if (i % (1 + width * 4) !== 0 && raw[i] !== 255) ink++;
    expect(ink).toBeGreaterThan(1000);
  });

  it("takes the training loss from every record and the held-out loss from the evaluated ones", async () => {
    const lines = [];
    const log = new MetricsLog((line) => void lines.push(line));
    await log.write(record(1, 3));
    await log.write(record(2, 2.5, { evalLoss: 2.6 }));
    const records = lines.map((l) => JSON.parse(l));
    expect(lossSeries(records)).toEqual([
      {
        name: "train",
        points: [
          [1, 3],
          [2, 2.5],
        ],
      },
      { name: "held-out", points: [[2, 2.6]] },
    ]);
    expect(lossSeries([record(1, 3)])).toHaveLength(1);
  });

  it("picks round tick values and checks the image size it encodes", () => {
    expect(ticks(0, 10, 5)).toEqual([0, 2, 4, 6, 8, 10]);
    const fine = ticks(1.93, 3.07, 6);
    expect(fine).toHaveLength(6);
    [2, 2.2, 2.4, 2.6, 2.8, 3].forEach((t, i) => expect(fine[i]).toBeCloseTo(t, 12));
    expect(() => encodePng({ width: 2, height: 2, pixels: new Uint8Array(15) })).toThrow(/expected 16 bytes for 2x2 RGBA, got 15/);
  });
});
