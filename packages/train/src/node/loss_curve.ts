import { writeFileAtomic } from "@llm/tensor/node";
import type { TrainerState } from "../trainer.js";
import { lossCurvePng } from "./plot.js";

/** Writes a trainer's training losses (and held-out losses, when it evaluated) as a PNG chart. */
export async function writeLossCurve(path: string, state: Pick<TrainerState, "losses" | "evals">, title = "loss"): Promise<void> {
  const series = [{ name: "train", points: state.losses.map((l, i) => [i + 1, l] as const) }];
  if (state.evals.length) series.push({ name: "held-out", points: state.evals.map((e) => [e.step, e.loss] as const) });
  await writeFileAtomic(path, lossCurvePng(series, { title, xLabel: "step" }));
}
