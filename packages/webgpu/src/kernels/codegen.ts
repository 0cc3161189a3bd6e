import { WGSL_LIB } from "../wgsl-lib.js";

/**
 * Collects a kernel's uniform words while its WGSL is written, so the code and the data it reads
 * cannot disagree: `push(v)` stores v and returns the WGSL expression that reads it back.
 * The WGSL depends only on the kernel's key (dtypes, rank, flags), never on the pushed values.
 */
export class Meta {
  readonly words: number[] = [];

  push(value: number): string {
    this.words.push(value);
    return `u(${this.words.length - 1}u)`;
  }

  data(): Int32Array {
    return Int32Array.from(this.words.length ? this.words : [0]);
  }
}

export interface Binding {
  name: string;
  /** WGSL element type: f32, i32, u32, atomic<u32> ... */
  type: string;
  write?: boolean;
}

/** Uniform binding, storage bindings 1..n in order, the helper library, then `body`. */
export function shader(meta: Meta, bindings: readonly Binding[], body: string, enables: readonly string[] = []): string {
  const vec4s = Math.max(1, Math.ceil(meta.words.length / 4));
  const decls = bindings.map(
    (b, i) => `@group(0) @binding(${i + 1}) var<storage, ${b.write ? "read_write" : "read"}> ${b.name}: array<${b.type}>;`,
  );
  return [
    ...enables.map((e) => `enable ${e};`),
    `@group(0) @binding(0) var<uniform> U: array<vec4<i32>, ${vec4s}>;`,
    `fn u(i: u32) -> i32 { return U[i >> 2u][i & 3u]; }`,
    ...decls,
    WGSL_LIB,
    body,
  ].join("\n");
}

/** The entry point's signature with a flat invocation id `gi` over a (possibly 2-D) grid. */
export function entry(workgroupSize: number, body: string): string {
  return `@compute @workgroup_size(${workgroupSize})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let wg = wid.y * nwg.x + wid.x;
  let gi = wg * ${workgroupSize}u + lid;
${body}
}`;
}

export interface StridedOperand {
  /** WGSL variable name prefix; the offset ends up in `o_<name>`. */
  name: string;
  strides: readonly number[];
  offset: number;
}

/**
 * WGSL that turns the flat index `index` over `shape` into element offsets `o_<name>` of each
 * operand (row-major, last dim fastest). Uses `r_<tag>` and `c<tag>_<d>` temporaries.
 */
export function offsets(meta: Meta, index: string, shape: readonly number[], ops: readonly StridedOperand[], tag = ""): string {
  const lines = [`  var r${tag} = i32(${index});`];
  for (const op of ops) lines.push(`  var o_${op.name} = ${meta.push(op.offset)};`);
  for (let d = shape.length - 1; d >= 0; d--) {
    const c = `c${tag}_${d}`;
    if (d > 0) {
      const n = meta.push(shape[d]!);
      lines.push(`  let ${c} = r${tag} % ${n}; r${tag} = r${tag} / ${n};`);
    } else {
      lines.push(`  let ${c} = r${tag};`);
    }
    for (const op of ops) lines.push(`  o_${op.name} += ${c} * ${meta.push(op.strides[d]!)};`);
  }
  return lines.join("\n");
}
