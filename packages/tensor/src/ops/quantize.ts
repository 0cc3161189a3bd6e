import { isQuantized, QUANT_BLOCKS, type QuantizedDType } from "../dtype.js";
import { DTypeError } from "../errors.js";
import { normalizeAxis } from "../shape.js";
import { QUANTIZE_TYPES, quantizeBlocks } from "../quant/index.js";
import { Storage, Tensor } from "../tensor.js";
import { cast } from "./elementwise.js";
import { contiguous, permute } from "./views.js";

export interface QuantizeOptions {
  /**
   * The axis the blocks run along: the one a matmul reduces over (in-features). Default: the
   * last, as for a [out, in] weight; 0 for a [in, out] one (GPT-2's Conv1D), whose blocks are
   * then stored as the transposed matrix's rows, as llama.cpp stores that weight.
   */
  axis?: number;
}

/**
 * A float tensor in llama.cpp's block format `type` ("q8_0", "q4_0", "q3_k", ...), bytes equal to its
 * reference quantizer's. The result has t's shape; its storage holds rows along `axis`, in
 * blocks, and its strides say where each logical element's row is (a transposed view when
 * `axis` is not last). Reads t once to the host; t is left as it is.
 */
export async function quantizeTensor(t: Tensor, type: QuantizedDType, options: QuantizeOptions = {}): Promise<Tensor> {
  if (!isQuantized(type)) throw new DTypeError(`quantizeTensor: expected a quantized dtype (q8_0, q4_0, q6_k), found ${type}`);
  if (!QUANTIZE_TYPES.includes(type)) {
    throw new DTypeError(
      `quantizeTensor: ${type} is read only (read from GGUF files, not written); expected one of ${QUANTIZE_TYPES.join(", ")}`,
    );
  }
  if (t.dtype !== "float32" && t.dtype !== "float16" && t.dtype !== "bfloat16") {
    throw new DTypeError(`quantizeTensor: expected a float32, float16 or bfloat16 tensor, found ${t.dtype}`);
  }
  if (t.rank === 0) throw new DTypeError("quantizeTensor: expected a tensor with at least one dim, found a scalar");
  const axis = normalizeAxis(options.axis ?? -1, t.rank, "quantizeTensor");
  const rowLength = t.shape[axis]!;
  const { elements, bytes } = QUANT_BLOCKS[type];
  if (rowLength % elements !== 0) {
    throw new DTypeError(
      `quantizeTensor: ${type} packs rows in blocks of ${elements} values; axis ${axis} has ${rowLength} (shape [${t.shape.join(",")}])`,
    );
  }
  // storage order: every other axis in order, then the blocked axis
  const order = [...t.shape.keys()].filter((i) => i !== axis).concat(axis);
  const moved = contiguous(permute(t, order));
  const wide = cast(moved, "float32");
  const values = (await wide.data()) as Float32Array;
  if (wide !== moved) wide.dispose();
  if (moved !== t) moved.dispose();
  const out = new Uint8Array((t.size / elements) * bytes);
  quantizeBlocks(type, values, 0, t.size, out, 0);
  const backend = t.backend;
  const buffer = backend.adopt ? backend.adopt(out, type) : backend.upload(out, type);
  // the strides of the permuted contiguous layout, put back in t's axis order
  const storedShape = order.map((i) => t.shape[i]!);
  const storedStrides: number[] = new Array(t.rank);
  let step = 1;
  for (let i = storedShape.length - 1; i >= 0; i--) {
    storedStrides[order[i]!] = step;
    step *= storedShape[i]!;
  }
  return new Tensor(new Storage(backend, buffer), t.shape, type, storedStrides, 0);
}
