export { GGUFError, GGML_TYPE_NAMES, GGUF_DEFAULT_ALIGNMENT, type GGUFValue, type GGUFScalarType } from "./types.js";
export { parseGGUFHeader, type GGUFHeader, type GGUFTensorEntry } from "./parse.js";
export { openGGUF, GGUFFile, type GGUFTensorInfo } from "./read.js";
export { ggufHeader, ggufTensor, serializeGGUF, type GGUFTensorData } from "./write.js";
