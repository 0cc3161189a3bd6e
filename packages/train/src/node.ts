/**
 * `@llm/train/node`: the parts of training that touch the file system (checkpoints, the loss-curve
 * image). A separate entry so that browser bundles of `@llm/train` never import `fs`.
 */
export {
  saveCheckpoint,
  loadCheckpoint,
  resumeFromCheckpoint,
  MODEL_FILE,
  CONFIG_FILE,
  OPTIMIZER_FILE,
  TRAINER_STATE_FILE,
  type SaveCheckpointOptions,
  type LoadedCheckpoint,
  type RestorableModel,
  type ResumeTargets,
} from "./node/checkpoint.js";
export { encodePng, type RgbaImage } from "./node/png.js";
export { Canvas, type Color } from "./node/canvas.js";
export { lossCurvePng, ticks, type Series, type PlotOptions } from "./node/plot.js";
export { writeLossCurve } from "./node/loss_curve.js";
