export { SafetensorsError, type SafetensorsErrorCode, type SafetensorsErrorContext } from "./errors.js";
export { SAFETENSORS_DTYPES, isSafetensorsDType, safetensorsDTypeSize, type SafetensorsDType } from "./dtypes.js";
export { parseSafetensors, type ParsedSafetensors, type SafetensorsEntry } from "./parse.js";
export {
  parseSafetensorsLayout,
  readSafetensorsHeaderLength,
  SAFETENSORS_MAX_HEADER_BYTES,
  type SafetensorsParseOptions,
  type SafetensorsLayout,
  type SafetensorsLayoutEntry,
} from "./layout.js";
export { safetensorsEntryToHost, type SafetensorsHostOptions, type SafetensorsHostData } from "./convert.js";
export { serializeSafetensors, type SafetensorsRawTensor, type SafetensorsRawTensors } from "./serialize.js";
export {
  loadSafetensors,
  saveSafetensors,
  tensorsFromSafetensors,
  tensorFromSafetensorsEntry,
  type LoadSafetensorsOptions,
} from "./tensors.js";
