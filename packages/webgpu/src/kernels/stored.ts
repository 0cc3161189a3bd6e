import { gridOf, IQ4_VALUES, iqGrid, type DType, type StridedView } from "@llm/tensor";
import type { WebGPUBuffer } from "../gpu-buffer.js";
import type { KernelContext } from "../kernel-context.js";
import { coalesce, grid, sizeOf } from "../layout.js";
import { GPU_BLOCK_DTYPES, loadExpr } from "../storage.js";
import { entry, Meta, offsets, shader, type Binding } from "./codegen.js";

/**
 * Reading weights as stored. Halves are two to a word (loadExpr unpacks one); llama.cpp's blocks are
 * their bytes four to a word, decoded per element by `load_block(i)` as ggml's dequantize_row_*
 * does, in the same float32 steps (blocks start at even bytes, so an f16 is always within a word):
 *  - Q8_0 / Q4_0, 32 values: an f16 scale, then int8 values (Q8_0) or nibbles (Q4_0: values j and
 *    j + 16 share byte j, low nibble first), value = scale * q (Q4_0: q - 8);
 *  - Q5_0, 32 values (22 bytes): f16 scale, u32 of fifth bits, nibbles, value = scale * (q - 16);
 *  - Q4_1 / Q5_1, 32 values (20 / 24 bytes): f16 scale and min, Q5_1's u32 of fifth bits (bit j
 *    for value j), nibbles as Q4_0's, value = scale * q + min (two roundings);
 *  - Q4_K, 256 values (144 bytes): f16 d and dmin, 12 bytes of eight 6-bit scales and mins, 128
 *    bytes of nibbles (64-value chunks: low nibbles, then high), value = (d sc) q - dmin m;
 *  - Q5_K, 256 values (176 bytes): Q4_K's with 32 bytes of fifth bits before the nibbles (bit j
 *    of byte l adds 16 to value l % 32 of sub-block j);
 *  - Q6_K, 256 values (210 bytes): 128 bytes of low nibbles, 64 of high bit pairs, 16 int8 scales,
 *    f16 d, value = (d sc) (q - 32);
 *  - Q2_K, 256 values (84 bytes): 16 bytes of 4-bit scales (low) and mins (high), one per 16
 *    values, 64 bytes of 2-bit quants (value e at bits 2 ((e / 32) % 4) of byte 32 (e / 128) +
 *    e % 32), f16 d and dmin, value = (d sc) q - dmin m;
 *  - Q3_K, 256 values (110 bytes): 32 bytes of third bits, Q2_K's 64 bytes of quants, 12 bytes of
 *    6-bit scales, f16 d, value = (d (sc - 32)) (q - (third bit ? 0 : 4));
 *  - IQ4_NL, 32 values (18 bytes: Q4_0's layout), value = d * IQ4_VALUES[nibble]; IQ4_XS, 256 values
 *    (136 bytes: f16 d, a u16 and 4 bytes of 6-bit scales, eight IQ4_NL nibble blocks), value =
 *    (d (sc - 32)) IQ4_VALUES[nibble];
 *  - the lattice types IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S, IQ1_M (256 values: see
 *    @llm/tensor's quant/iq1.ts, iq2.ts, iq3.ts): each group of 8 values (IQ3: 4) an entry of a
 *    table, bound as `G` (its bytes, four to a word: tableBindings, tableInputs), value = scale
 *    level sign (IQ1: scale (level +- 1/8)).
 * `B` is the module-scope array the helpers read; only matmul's B and the block kernels below use it.
 */
export function blockHelpers(dtype: DType, array = "B"): string {
  const byteAt = `fn byte_at(at: u32) -> u32 { return (${array}[at >> 2u] >> ((at & 3u) * 8u)) & 255u; }
fn half_at(at: u32) -> f32 { return unpack2x16float((${array}[at >> 2u] >> ((at & 2u) * 8u)) & 0xffffu).x; }
fn int8_at(at: u32) -> f32 { return f32((i32(byte_at(at)) << 24u) >> 24u); }`;
  switch (dtype) {
    case "q8_0":
    case "q4_0": {
      const quant =
        dtype === "q8_0"
          ? `let q = int8_at(base + 2u + j);`
          : `let packed = byte_at(base + 2u + (j & 15u));
  let q = f32(i32(select(packed & 15u, packed >> 4u, j >= 16u)) - 8);`;
      return `${byteAt}
fn load_block(i: i32) -> f32 {
  let j = u32(i) % 32u;
  let base = (u32(i) / 32u) * ${dtype === "q8_0" ? 34 : 18}u;
  ${quant}
  return half_at(base) * q;
}`;
    }
    case "q5_0":
      return `${byteAt}
fn load_block(i: i32) -> f32 {
  let j = u32(i) % 32u;
  let base = (u32(i) / 32u) * 22u;
  let packed = byte_at(base + 6u + (j & 15u));
  let high = ((byte_at(base + 2u + j / 8u) >> (j % 8u)) & 1u) << 4u;
  let q = f32(i32(select(packed & 15u, packed >> 4u, j >= 16u) | high) - 16);
  return half_at(base) * q;
}`;
    case "q4_1":
    case "q5_1": {
      const fifth = dtype === "q5_1";
      const high = fifth ? ` | ((((${array}[(base + 4u) >> 2u] >> j) & 1u)) << 4u)` : "";
      return `${byteAt}
fn load_block(i: i32) -> f32 {
  let j = u32(i) % 32u;
  let base = (u32(i) / 32u) * ${fifth ? 24 : 20}u;
  let packed = byte_at(base + ${fifth ? 8 : 4}u + (j & 15u));
  let q = f32(select(packed & 15u, packed >> 4u, j >= 16u)${high});
  return half_at(base) * q + half_at(base + 2u);
}`;
    }
    case "q4_k":
    case "q5_k": {
      const fifth = dtype === "q5_k";
      // get_scale_min_k4: sub-blocks 0-3 in the low six bits of bytes 0-3 (scales) and 4-7 (mins);
      // 4-7 in the nibbles of bytes 8-11 with their top two bits in the top bits of bytes 0-7
      return `${byteAt}
fn load_block(i: i32) -> f32 {
  let e = u32(i) % 256u;
  let base = (u32(i) / 256u) * ${fifth ? 176 : 144}u;
  let chunk = e / 64u;
  let upper = (e % 64u) / 32u;
  let j = 2u * chunk + upper;
  let s = base + 4u;
  var sc: u32;
  var mn: u32;
  if (j < 4u) {
    sc = byte_at(s + j) & 63u;
    mn = byte_at(s + j + 4u) & 63u;
  } else {
    sc = (byte_at(s + j + 4u) & 15u) | ((byte_at(s + j - 4u) >> 6u) << 4u);
    mn = (byte_at(s + j + 4u) >> 4u) | ((byte_at(s + j) >> 6u) << 4u);
  }
  let packed = byte_at(base + ${fifth ? 48 : 16}u + 32u * chunk + e % 32u);
  let q = f32(select(packed & 15u, packed >> 4u, upper == 1u)${fifth ? " | (((byte_at(base + 16u + e % 32u) >> j) & 1u) << 4u)" : ""});
  return (half_at(base) * f32(sc)) * q - half_at(base + 2u) * f32(mn);
}`;
    }
    case "q2_k":
      return `${byteAt}
fn load_block(i: i32) -> f32 {
  let e = u32(i) % 256u;
  let base = (u32(i) / 256u) * 84u;
  let sc = byte_at(base + e / 16u);
  let q = f32((byte_at(base + 16u + 32u * (e / 128u) + e % 32u) >> (2u * ((e / 32u) % 4u))) & 3u);
  return (half_at(base + 80u) * f32(sc & 15u)) * q - half_at(base + 82u) * f32(sc >> 4u);
}`;
    case "q3_k":
      // sub-block j's 6-bit scale: low four bits in the nibbles of bytes 0-7 (j < 8 low, else
      // high), high two at bits 2 (j / 4) of byte 8 + j % 4; the value's third bit (set: no -4) is
      // bit e / 32 of byte e % 32
      return `${byteAt}
fn load_block(i: i32) -> f32 {
  let e = u32(i) % 256u;
  let base = (u32(i) / 256u) * 110u;
  let j = e / 16u;
  let s = base + 96u;
  let nibbles = byte_at(s + (j & 7u));
  let sc = i32(select(nibbles & 15u, nibbles >> 4u, j >= 8u) | (((byte_at(s + 8u + (j & 3u)) >> (2u * (j / 4u))) & 3u) << 4u)) - 32;
  let low = (byte_at(base + 32u + 32u * (e / 128u) + e % 32u) >> (2u * ((e / 32u) % 4u))) & 3u;
  let high = (byte_at(base + e % 32u) >> (e / 32u)) & 1u;
  let q = f32(i32(low) - select(4, 0, high == 1u));
  return (half_at(base + 108u) * f32(sc)) * q;
}`;
    case "iq4_nl":
    case "iq4_xs": {
      // the nibble's level from kvalues_iq4nl; IQ4_XS: times its sub-block's 6-bit scale less 32
      // (low four bits in byte 4 + j / 2, high two at bits 2 j of the u16 at 2)
      const xs = dtype === "iq4_xs";
      const scale = xs
        ? `let j = e / 32u;
  let ls = ((byte_at(base + 4u + j / 2u) >> (4u * (j % 2u))) & 15u) | (((byte_at(base + 2u + j / 4u) >> (2u * (j % 4u))) & 3u) << 4u);
  let dl = half_at(base) * f32(i32(ls) - 32);
  let packed = byte_at(base + 8u + 16u * j + (e % 32u) % 16u);`
        : `let dl = half_at(base);
  let packed = byte_at(base + 2u + e % 16u);`;
      return `${byteAt}
var<private> IQ4_VALUES: array<f32, 16> = array<f32, 16>(${IQ4_VALUES.map((v) => `${v}.0`).join(", ")});
fn load_block(i: i32) -> f32 {
  let e = u32(i) % ${xs ? 256 : 32}u;
  let base = (u32(i) / ${xs ? 256 : 32}u) * ${xs ? 136 : 18}u;
  ${scale}
  return dl * IQ4_VALUES[select(packed & 15u, packed >> 4u, (e % 32u) >= 16u)];
}`;
    }
    case "iq2_xxs":
    case "iq2_xs":
    case "iq2_s":
    case "iq3_xxs":
    case "iq3_s":
    case "iq1_s":
    case "iq1_m":
      return `${byteAt}
fn u16_at(at: u32) -> u32 { return byte_at(at) | (byte_at(at + 1u) << 8u); }
fn u32_at(at: u32) -> u32 { return u16_at(at) | (u16_at(at + 2u) << 16u); }
fn grid_at(at: u32) -> u32 { return (G[at >> 2u] >> ((at & 3u) * 8u)) & 255u; }
${LATTICE_WGSL[dtype]}`;
    case "q6_k":
      return `${byteAt}
fn load_block(i: i32) -> f32 {
  let e = u32(i) % 256u;
  let base = (u32(i) / 256u) * 210u;
  let part = e / 128u;
  let quarter = (e % 128u) / 32u;
  let l = e % 32u;
  let low = byte_at(base + 64u * part + l + 32u * (quarter & 1u));
  let high = (byte_at(base + 128u + 32u * part + l) >> (2u * quarter)) & 3u;
  let q = f32(i32(select(low & 15u, low >> 4u, quarter >= 2u) | (high << 4u)) - 32);
  return (half_at(base + 208u) * int8_at(base + 192u + 8u * part + l / 16u + 2u * quarter)) * q;
}`;
    default:
      return "";
  }
}

/**
 * load_block for each lattice type: e the value's place in its block of 256, j its sub-block of 32,
 * l its group of 8 there, t its place in the group. Scales in ggml's float32 steps.
 */
const LATTICE_WGSL: Record<string, string> = {
  iq2_xxs: `fn load_block(i: i32) -> f32 {
  let e = u32(i) % 256u; let base = (u32(i) / 256u) * 66u;
  let j = e / 32u; let l = (e % 32u) / 8u; let t = e % 8u;
  let aux = u32_at(base + 6u + 8u * j);
  let s7 = (aux >> (7u * l)) & 127u;
  let signs = s7 | ((countOneBits(s7) & 1u) << 7u);
  let db = (half_at(base) * (0.5 + f32(aux >> 28u))) * 0.25;
  let v = db * f32(grid_at(byte_at(base + 2u + 8u * j + l) * 8u + t));
  return select(v, -v, ((signs >> t) & 1u) == 1u);
}`,
  iq2_xs: `fn load_block(i: i32) -> f32 {
  let e = u32(i) % 256u; let base = (u32(i) / 256u) * 74u;
  let j = e / 32u; let l = (e % 32u) / 8u; let t = e % 8u;
  let q = u16_at(base + 2u + 8u * j + 2u * l);
  let s7 = q >> 9u;
  let signs = s7 | ((countOneBits(s7) & 1u) << 7u);
  let db = (half_at(base) * (0.5 + f32((byte_at(base + 66u + j) >> (4u * (l / 2u))) & 15u))) * 0.25;
  let v = db * f32(grid_at((q & 511u) * 8u + t));
  return select(v, -v, ((signs >> t) & 1u) == 1u);
}`,
  iq2_s: `fn load_block(i: i32) -> f32 {
  let e = u32(i) % 256u; let base = (u32(i) / 256u) * 82u;
  let j = e / 32u; let l = (e % 32u) / 8u; let t = e % 8u;
  let idx = byte_at(base + 2u + 4u * j + l) | (((byte_at(base + 66u + j) >> (2u * l)) & 3u) << 8u);
  let signs = byte_at(base + 34u + 4u * j + l);
  let db = (half_at(base) * (0.5 + f32((byte_at(base + 74u + j) >> (4u * (l / 2u))) & 15u))) * 0.25;
  let v = db * f32(grid_at(idx * 8u + t));
  return select(v, -v, ((signs >> t) & 1u) == 1u);
}`,
  iq3_xxs: `fn load_block(i: i32) -> f32 {
  let e = u32(i) % 256u; let base = (u32(i) / 256u) * 98u;
  let j = e / 32u; let l = (e % 32u) / 8u; let t = e % 8u;
  let aux = u32_at(base + 66u + 4u * j);
  let s7 = (aux >> (7u * l)) & 127u;
  let signs = s7 | ((countOneBits(s7) & 1u) << 7u);
  let db = (half_at(base) * (0.5 + f32(aux >> 28u))) * 0.5;
  let v = db * f32(grid_at(byte_at(base + 2u + 8u * j + 2u * l + t / 4u) * 4u + t % 4u));
  return select(v, -v, ((signs >> t) & 1u) == 1u);
}`,
  iq3_s: `fn load_block(i: i32) -> f32 {
  let e = u32(i) % 256u; let base = (u32(i) / 256u) * 110u;
  let j = e / 32u; let l = (e % 32u) / 8u; let t = e % 8u;
  let part = t / 4u;
  let idx = byte_at(base + 2u + 8u * j + 2u * l + part) | (((byte_at(base + 66u + j) >> (2u * l + part)) & 1u) << 8u);
  let signs = byte_at(base + 74u + 4u * j + l);
  let db = half_at(base) * f32(1u + 2u * ((byte_at(base + 106u + j / 2u) >> (4u * (j % 2u))) & 15u));
  let v = db * f32(grid_at(idx * 4u + t % 4u));
  return select(v, -v, ((signs >> t) & 1u) == 1u);
}`,
  iq1_s: `fn load_block(i: i32) -> f32 {
  let e = u32(i) % 256u; let base = (u32(i) / 256u) * 50u;
  let j = e / 32u; let l = (e % 32u) / 8u; let t = e % 8u;
  let qh = u16_at(base + 34u + 2u * j);
  let idx = byte_at(base + 2u + 4u * j + l) | (((qh >> (3u * l)) & 7u) << 8u);
  let dl = half_at(base) * f32(2u * ((qh >> 12u) & 7u) + 1u);
  let level = f32((i32(grid_at(idx * 8u + t)) << 24u) >> 24u);
  return dl * (level + select(0.125, -0.125, (qh & 0x8000u) != 0u));
}`,
  iq1_m: `fn load_block(i: i32) -> f32 {
  let e = u32(i) % 256u; let base = (u32(i) / 256u) * 56u;
  let j = e / 32u; let l = (e % 32u) / 8u; let t = e % 8u;
  let bits = (u16_at(base + 48u) >> 12u) | ((u16_at(base + 50u) >> 8u) & 0xf0u) | ((u16_at(base + 52u) >> 4u) & 0xf00u) | (u16_at(base + 54u) & 0xf000u);
  let qh = byte_at(base + 32u + 2u * j + l / 2u) >> (4u * (l % 2u));
  let idx = byte_at(base + 4u * j + l) | ((qh & 7u) << 8u);
  let s = (u16_at(base + 48u + 2u * (j / 2u)) >> (6u * (j % 2u) + 3u * (l / 2u))) & 7u;
  let dl = unpack2x16float(bits).x * f32(2u * s + 1u);
  let level = f32((i32(grid_at(idx * 8u + t)) << 24u) >> 24u);
  return dl * (level + select(0.125, -0.125, (qh & 8u) != 0u));
}`,
};

/** The bindings a stored dtype's helpers read besides B: the lattice types' table `G`, to follow B's. */
export function tableBindings(dtype: DType): Binding[] {
  return gridOf(dtype) === null ? [] : [{ name: "G", type: "u32" }];
}

/** The buffers for tableBindings(dtype), in order. */
export function tableInputs(ctx: KernelContext, dtype: DType): GPUBuffer[] {
  const name = gridOf(dtype);
  return name === null ? [] : [ctx.table(`grid ${name}`, () => iqGrid(name))];
}

/** WGSL for the value of matmul's B at `raw` (`B[index]`) for B's dtype. */
export function loadB(dtype: DType, raw: string): string {
  if (GPU_BLOCK_DTYPES.includes(dtype)) return `load_block(${raw.slice(2, -1)})`;
  return loadExpr(dtype, raw);
}

/** The part of a kernel key that names B's dtype when it differs from A's. */
export function bKey(bDtype: DType, aDtype: DType): string {
  return bDtype === aDtype ? "" : `x${bDtype}`;
}

/** A block-typed view dequantized to a new contiguous float32 buffer (cast to float32). */
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
        [{ name: "B", type: "u32" }, ...tableBindings(x.buffer.dtype), { name: "O", type: "f32", write: true }],
        `${blockHelpers(x.buffer.dtype)}\n${entry(64, body)}`,
      ),
    uniforms: meta.data(),
    inputs: [ctx.buffer(x).gpu, ...tableInputs(ctx, x.buffer.dtype)],
    output: out.gpu,
    workgroups: grid(Math.ceil(n / 64)),
  });
  return out;
}

/** Rows `indices` of a block-typed table x [rows, cols], dequantized: float32 [...indices.shape, cols] (take along axis 0). */
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
        [{ name: "B", type: "u32" }, { name: "I", type: "i32" }, ...tableBindings(x.buffer.dtype), { name: "O", type: "f32", write: true }],
        `${blockHelpers(x.buffer.dtype)}\n${entry(64, body)}`,
      ),
    uniforms: meta.data(),
    inputs: [ctx.buffer(x).gpu, ctx.buffer(indices).gpu, ...tableInputs(ctx, x.buffer.dtype)],
    output: out.gpu,
    workgroups: grid(Math.ceil(n / 64)),
  });
  return out;
}
