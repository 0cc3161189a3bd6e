export { SafetensorsError, type SafetensorsErrorCode, type SafetensorsErrorContext } from "./errors.js";
export {
  SAFETENSORS_DTYPES,
  isSafetensorsDType,
  safetensorsDTypeSize,
  type SafetensorsDType,
} from "./dtypes.js";
export { parseSafetensors, type ParsedSafetensors, type SafetensorsEntry } from "./parse.js";
export {
  parseSafetensorsLayout,
  readSafetensorsHeaderLength,
  MAX_HEADER_BYTES,
  type ParseOptions,
  type SafetensorsLayout,
  type SafetensorsLayoutEntry,
} from "./layout.js";
export { toHostArray, type HostConversionOptions, type HostTensorData } from "./convert.js";
export { float16ToNumber, float16BitsToFloat32, bfloat16BitsToFloat32 } from "./halves.js";
export {
  serializeSafetensors,
  type SerializableTensor,
  type SerializableTensors,
} from "./serialize.js";
export {
  loadSafetensors,
  saveSafetensors,
  tensorsFromParsed,
  tensorFromEntry,
  type LoadSafetensorsOptions,
} from "./tensors.js";
