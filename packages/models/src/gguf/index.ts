export { GGUF_ARCHITECTURES, type GGUFArchitecture, type TensorRule } from "./architectures.js";
export { modelToGGUF, type GGUFExportOptions } from "./write.js";
export { loadGGUFFrom, type LoadGGUFOptions, type LoadedGGUF } from "./read.js";
