export { SafetensorsError, type SafetensorsErrorCode, type SafetensorsErrorContext } from "./errors.js";
export {
  SAFETENSORS_DTYPES,
  isSafetensorsDType,
  safetensorsDTypeSize,
  type SafetensorsDType,
} from "./dtypes.js";
export {
  parseSafetensors,
  MAX_HEADER_BYTES,
  type ParsedSafetensors,
  type SafetensorsEntry,
  type ParseOptions,
} from "./parse.js";
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
  type LoadSafetensorsOptions,
} from "./tensors.js";
