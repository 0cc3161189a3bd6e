export type { DType, HostArray, QuantizedDType, StoredDType } from "./dtype.js";
export {
  DTYPES,
  BYTES_PER_ELEMENT,
  QUANT_BLOCKS,
  QUANTIZED_DTYPES,
  elementsOfHost,
  hostLength,
  isFloating,
  isHalfDType,
  isQuantized,
  isStoredDType,
} from "./dtype.js";
export { quantizeTensor, type QuantizeOptions } from "./ops/quantize.js";
export { quantizeBlocks, dequantizeBlocks, QUANTIZE_TYPES } from "./quant/index.js";
export { IQ4_VALUES } from "./quant/iq4.js";
export { gridOf, iqGrid, type IQGridName } from "./quant/iq_grids.js";
export type {
  Backend,
  BackendBuffer,
  StridedView,
  UnaryOp,
  BinaryOp,
  ReduceOp,
  FusedKernels,
  FusedActivation,
  NormGrads,
  AttentionGrads,
  AdamWStep,
  AdamWBuffers,
  TokenSampling,
} from "./backend.js";
export { TensorError, ShapeError, DTypeError, ArgumentError } from "./errors.js";
export { Rng } from "./rng.js";
export { sizeOf, broadcastShapes, contiguousStrides } from "./shape.js";
export { setBackend, getBackend, withBackend, tidy, keep, noGrad, isGradEnabled, settleDeferredChecks } from "./engine.js";
export { Tensor, Storage, type GradNode, type Operand } from "./tensor.js";
export {
  tensor,
  zeros,
  empty,
  lazyZeros,
  ones,
  full,
  zerosLike,
  onesLike,
  arange,
  randn,
  rand,
  type CreateOptions,
  type RandomOptions,
  type NormalOptions,
  type TensorValues,
} from "./ops/creation.js";
export { where, maskedFill } from "./ops/elementwise.js";
export { binaryOver, unaryOver } from "./ops/in_place.js";
export { sumToShape } from "./ops/reduce.js";
export { matmul } from "./ops/matmul.js";
export { concat, stack, split, scatterAdd } from "./ops/indexing.js";
export { writeInto } from "./ops/write.js";
export { checkIndexRange } from "./ops/checks.js";
export { toBackend } from "./ops/transfer.js";
export { adamwStep, type AdamWResult } from "./ops/adamw.js";
export { sampleTokens, SAMPLE_ALL_REMOVED, SAMPLE_NOT_FINITE, type SampleTokensOptions } from "./ops/sample.js";
export { softmax, logSoftmax, crossEntropyRows, layerNorm, rmsNorm, tril, triu, causalMask } from "./ops/nn.js";
export { scaledDotProductAttention, type ScaledDotProductAttentionOptions } from "./ops/attention.js";
export { fromBuffer } from "./ops/core.js";
export { CpuBackend, cpuBackend, type CpuBackendOptions } from "./cpu/backend.js";
export * from "./safetensors/index.js";
export * from "./checkpoint/index.js";
export * from "./gguf/index.js";
export { previewJson, jsonDepth } from "./preview.js";
