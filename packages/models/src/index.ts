export { ModelError, ModelConfigError, CheckpointError } from "./errors.js";
export { ConfigReader, type RawConfig } from "./config.js";
export type { Architecture, Model, CreateOptions } from "./architecture.js";
export { ARCHITECTURES, architectureFor, buildModel } from "./registry.js";
export { createModel } from "./create.js";
export { loadModel, modelFromCheckpoint } from "./load.js";
export { GPT2Model } from "./architectures/gpt2.js";
export { GLMModel, glmBlockMask } from "./architectures/glm.js";
