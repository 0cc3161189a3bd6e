import { writeFile } from "node:fs/promises";
import { readMetrics } from "@llm/train/node";
import { lossCurvePng } from "./plot.mjs";

/**
 * The training loss per step and the held-out loss where it was evaluated, from metrics records
 * (what @llm/train's MetricsLog writes).
 * @param {readonly import("@llm/train").MetricsRecord[]} records
 * @returns {import("./plot.mjs").Series[]}
 */
export function lossSeries(records) {
  const series = [{ name: "train", points: records.map((r) => /** @type {const} */ ([r.step, r.loss])) }];
  const evals = records.filter((r) => r.evalLoss !== undefined);
  if (evals.length) series.push({ name: "held-out", points: evals.map((r) => /** @type {const} */ ([r.step, r.evalLoss ?? NaN])) });
  return series;
}

/**
 * Draws a training run's metrics file (JSON Lines) as a PNG loss curve, with any extra series
 * (a baseline) after the losses.
 * @param {string} pngPath
 * @param {string} metricsPath
 * @param {{ title?: string, extra?: import("./plot.mjs").Series[] }} [options]
 */
export async function writeLossCurve(pngPath, metricsPath, options = {}) {
  const records = await readMetrics(metricsPath);
  const series = [...lossSeries(records), ...(options.extra ?? [])];
  await writeFile(pngPath, lossCurvePng(series, { title: options.title ?? "loss", xLabel: "step" }));
}
