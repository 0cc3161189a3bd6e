import { noGrad, tensor, tidy, type Tensor } from "@llm/tensor";
import type { ForwardOptions, LanguageModel } from "@llm/layers";

/** int32 tensor from host values. */
export function int32(values: readonly number[], shape: readonly number[]): Tensor {
  return tensor(Int32Array.from(values), { shape: [...shape], dtype: "int32" });
}

/** bool tensor from host 0/1 values. */
export function bool(values: ArrayLike<number>, shape: readonly number[]): Tensor {
  return tensor(Uint8Array.from(values as ArrayLike<number>), { shape: [...shape], dtype: "bool" });
}

/**
 * One forward pass without autograd that returns only the last position's logits of each row, on
 * the host: [batch][vocab]. Every tensor made on the way is freed; the cache keeps what it appended.
 */
export async function lastLogits(model: LanguageModel, ids: Tensor, options: ForwardOptions): Promise<Float32Array[]> {
  const last = lastLogitsTensor(model, ids, options);
  try {
    return await rowsOf(last);
  } finally {
    last.dispose();
  }
}

/** The rows of a [batch, vocab] tensor on the host. */
export async function rowsOf(last: Tensor): Promise<Float32Array[]> {
  const data = (await last.data()) as Float32Array;
  const [batch, vocab] = last.shape as [number, number];
  return Array.from({ length: batch }, (_, b) => data.slice(b * vocab, (b + 1) * vocab));
}

/** The last position's logits of each row, [batch, vocab], where the model computed them; the caller disposes it. */
export function lastLogitsTensor(model: LanguageModel, ids: Tensor, options: ForwardOptions): Tensor {
  return noGrad(() =>
    tidy(() => {
      const logits = model.forward(ids, { ...options, logitsToKeep: 1 });
      const seq = logits.shape[1]!;
      return logits.slice(1, seq - 1, seq).reshape(logits.shape[0]!, logits.shape[2]!);
    }),
  );
}
