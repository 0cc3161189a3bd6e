import type { DType, StridedView } from "@llm/tensor";
import type { WebGPUBuffer } from "../gpu-buffer.js";
import type { KernelContext } from "../kernel-context.js";
import { coalesce, grid, sizeOf } from "../layout.js";
import { loadExpr } from "../storage.js";
import { entry, Meta, offsets, shader } from "./codegen.js";

/**
 * Reading weights as stored. Halves are one word per element (loadExpr); Q8_0 and Q4_0 blocks are
 * their bytes four to a word, element i in block i / 32: an f16 scale in the block's first two
 * bytes (always within one word, blocks start at even bytes), then int8 values (Q8_0) or nibbles
 * (Q4_0: values j and j + 16 share byte j, low nibble first), value = scale * q (Q4_0: q - 8).
 * `B` is the module-scope array the helpers read; only matmul's B and the block kernels below use it.
 */
export function blockHelpers(dtype: DType, array = "B"): string {
  if (dtype !== "q8_0" && dtype !== "q4_0") return "";
  const bytes = dtype === "q8_0" ? 34 : 18;
  const quant =
    dtype === "q8_0"
      ? `let q = f32((i32(byte_at(base + 2u + j)) << 24u) >> 24u);`
      : `let packed = byte_at(base + 2u + (j & 15u));
  let q = f32(i32(select(packed & 15u, packed >> 4u, j >= 16u)) - 8);`;
  return `fn byte_at(at: u32) -> u32 { return (${array}[at >> 2u] >> ((at & 3u) * 8u)) & 255u; }
fn load_block(i: i32) -> f32 {
  let blk = u32(i) / 32u;
  let j = u32(i) % 32u;
  let base = blk * ${bytes}u;
  let scale = unpack2x16float((${array}[base >> 2u] >> ((base & 2u) * 8u)) & 0xffffu).x;
  ${quant}
  return scale * q;
}`;
}

/** WGSL for the value of matmul's B at `raw` (`B[index]`) for B's dtype. */
export function loadB(dtype: DType, raw: string): string {
  if (dtype === "q8_0" || dtype === "q4_0") return `load_block(${raw.slice(2, -1)})`;
  return loadExpr(dtype, raw);
}

/** The part of a kernel key that names B's dtype when it differs from A's. */
export function bKey(bDtype: DType, aDtype: DType): string {
  return bDtype === aDtype ? "" : `x${bDtype}`;
}

/** A Q8_0/Q4_0 view dequantized to a new contiguous float32 buffer (cast to float32). */
export function dequantize(ctx: KernelContext, x: StridedView): WebGPUBuffer {
  const n = sizeOf(x.shape);
  const out = ctx.alloc(n, "float32");
  if (n === 0) return out;
  const c = coalesce(x.shape, [x.strides]);
  const meta = new Meta();
  const N = meta.push(n);
  const index = offsets(meta, "gi", c.shape, [{ name: "x", strides: c.strides[0]!, offset: x.offset }]);
  const body = `  if (i32(gi) >= ${N}) { return; }\n${index}\n  O[gi] = load_block(o_x);`;
  ctx.batcher.dispatch({
    key: `dequantize:${x.buffer.dtype}:r${c.shape.length}`,
    code: () =>
      shader(
        meta,
        [
          { name: "B", type: "u32" },
          { name: "O", type: "f32", write: true },
        ],
        `${blockHelpers(x.buffer.dtype)}\n${entry(64, body)}`,
      ),
    uniforms: meta.data(),
    inputs: [ctx.buffer(x).gpu],
    output: out.gpu,
    workgroups: grid(Math.ceil(n / 64)),
  });
  return out;
}

/** Rows `indices` of a Q8_0/Q4_0 table x [rows, cols], dequantized: float32 [...indices.shape, cols] (take along axis 0). */
export function gatherBlockRows(ctx: KernelContext, x: StridedView, indices: StridedView): WebGPUBuffer {
  const [len, cols] = x.shape as [number, number];
  const m = sizeOf(indices.shape);
  const n = m * cols;
  const out = ctx.alloc(n, "float32");
  if (n === 0) return out;
  const c = coalesce(indices.shape, [indices.strides]);
  const meta = new Meta();
  const N = meta.push(n);
  const COLS = meta.push(cols);
  const LEN = meta.push(len);
  const [OFF, SR, SC] = [meta.push(x.offset), meta.push(x.strides[0]!), meta.push(x.strides[1]!)];
  const index = offsets(meta, "row", c.shape, [{ name: "i", strides: c.strides[0]!, offset: indices.offset }]);
  const body = `  if (i32(gi) >= ${N}) { return; }
  let row = i32(gi) / ${COLS};
  let col = i32(gi) % ${COLS};
${index}
  var k = I[o_i];
  if (k < 0) { k += ${LEN}; }
  O[gi] = load_block(${OFF} + k * ${SR} + col * ${SC});`;
  ctx.batcher.dispatch({
    key: `gather-blocks:${x.buffer.dtype}:r${c.shape.length}`,
    code: () =>
      shader(
        meta,
        [
          { name: "B", type: "u32" },
          { name: "I", type: "i32" },
          { name: "O", type: "f32", write: true },
        ],
        `${blockHelpers(x.buffer.dtype)}\n${entry(64, body)}`,
      ),
    uniforms: meta.data(),
    inputs: [ctx.buffer(x).gpu, ctx.buffer(indices).gpu],
    output: out.gpu,
    workgroups: grid(Math.ceil(n / 64)),
  });
  return out;
}
