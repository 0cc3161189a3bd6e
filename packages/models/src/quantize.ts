import { isQuantized, quantizeTensor, type Tensor } from "@llm/tensor";
import type { Model } from "./architecture.js";
import { ModelError } from "./errors.js";
import { WEIGHT_DTYPES, weightDType, weightRoles, type WeightDType } from "./weight_dtypes.js";

/**
 * Converts a model's weights in place to llama.cpp's Q8_0 or Q4_0 blocks, or to float16 /
 * bfloat16, choosing per weight as llama.cpp does by default (see weightDType: norms and biases
 * stay float32, the output head is Q8_0 or Q6_K). The modules keep their tensors, which change
 * dtype; each weight is converted and its float copy freed before the next, so memory never
 * holds two copies of the model. Returns the model (now in eval mode: stored weights are not
 * trained). "float32" widens (dequantizes) every weight; a quantized weight is not quantized again.
 */
export async function quantize(model: Model, dtype: Exclude<WeightDType, "auto">): Promise<Model> {
  if (!WEIGHT_DTYPES.includes(dtype) || dtype === ("auto" as string)) {
    throw new ModelError(`quantize: expected one of ${WEIGHT_DTYPES.filter((d) => d !== "auto").join(", ")}, found ${String(dtype)}`);
  }
  const modelType = modelTypeOf(model);
  for (const [param, role] of weightRoles(model)) {
    const target = weightDType(role, dtype, param.dtype, role.axis < 0 ? 0 : param.shape[role.axis]!, modelType);
    if (target === param.dtype) continue;
    if (isQuantized(param.dtype) && isQuantized(target)) {
      throw new ModelError(
        `quantize: the model already holds ${param.dtype} weights; quantize a float model to ${target} (re-quantizing compounds the error)`,
      );
    }
    param.replaceWith(await converted(param, target, role.axis));
  }
  return model.eval();
}

/** `t` as `dtype`: quantized along `axis`, or cast (a half one laid out by `halfAlongAxis`). */
export async function converted(t: Tensor, dtype: Tensor["dtype"], axis: number): Promise<Tensor> {
  if (isQuantized(dtype)) return quantizeTensor(t, dtype, { axis });
  if (dtype === "float16" || dtype === "bfloat16") return halfAlongAxis(t, axis, dtype);
  return t.cast(dtype);
}

/**
 * `t` as a half-precision `dtype` whose storage runs along `axis`, the one a matmul reduces over:
 * an [in, out] weight (GPT-2's Conv1D, axis 0) is kept as its transpose's rows, [out, in], seen
 * through a transposed view, as quantizeTensor keeps blocks and llama.cpp keeps the weight. The
 * CPU's half kernels read a weight along its reduction axis; the file's own [in, out] layout fell
 * back to decoding one strided column at a time in JS (GPT-2-small float16: 350 ms a token).
 */
export function halfAlongAxis(t: Tensor, axis: number, dtype: "float16" | "bfloat16" = t.dtype as "float16"): Tensor {
  if (t.rank !== 2 || axis !== 0 || t.strides[0] === 1 || t.shape[0] === 1 || t.shape[1] === 1) return t.cast(dtype);
  const transposed = t.transpose(0, 1);
  // [out, in], written once (a cast writes its result contiguous)
  const rows = transposed.dtype === dtype ? transposed.contiguous() : transposed.cast(dtype);
  transposed.dispose();
  const view = rows.transpose(0, 1);
  rows.dispose(); // the view holds the storage
  return view;
}

function modelTypeOf(model: Model): string {
  try {
    const type = model.checkpointConfig().model_type;
    return typeof type === "string" ? type : "";
  } catch {
    return "";
  }
}
