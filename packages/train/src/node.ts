/**
 * `@llm/train/node`: the parts of training that touch the file system (checkpoints, the metrics
 * file). A separate entry so that browser bundles of `@llm/train` never import `fs`.
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
export { metricsFile, readMetrics, type MetricsFileOptions } from "./node/metrics_file.js";
