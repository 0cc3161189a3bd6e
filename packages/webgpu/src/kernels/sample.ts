import type { StridedView, TokenSampling } from "@llm/tensor";
import type { WebGPUBuffer } from "../gpu-buffer.js";
import type { KernelContext } from "../kernel-context.js";
import { Meta, shader } from "./codegen.js";

function f32Bits(v: number): number {
  return new Int32Array(new Float32Array([v]).buffer)[0]!;
}

/**
 * The decoding draw, one workgroup per row (FusedKernels.sampleTokens): the row is copied into a
 * scratch row, the penalty rewrites the seen ids, then each step is a pass over the row with the
 * row's statistics reduced in workgroup memory. Thresholds (top-k's k-th value, top-p's cut) are
 * found bit by bit over an order-preserving integer key of the float, 32 counting passes: exact,
 * with no sort. The draw sums contiguous chunks, scans the 256 chunk sums and walks the one chunk
 * the uniform falls in, so the id is the smallest whose cumulative mass passes u * sum.
 * Steps that are off are left out of the shader (its key names them), so no barrier is ever
 * behind a branch that depends on data.
 */
export function sampleTokens(
  ctx: KernelContext,
  logits: StridedView,
  seen: StridedView | null,
  uniforms: StridedView | null,
  p: TokenSampling,
): WebGPUBuffer {
  const [batch, vocab] = logits.shape as [number, number];
  // a small vocabulary leaves most of 256 threads idle (and software adapters pay for each)
  const WG = vocab <= 4096 ? 64 : 256;
  const out = ctx.alloc(batch, "int32");
  if (batch === 0) return out;
  const scratch = ctx.alloc(batch * vocab, "float32");
  const dummy = !seen || !uniforms ? ctx.alloc(1, "int32") : null;
  const penalty = seen !== null && p.repetitionPenalty !== 1;
  const sample = !p.greedy;
  const temperature = sample && p.temperature !== 1;
  const topK = sample && p.topK > 0 && p.topK < vocab;
  const topP = sample && p.topP < 1;
  const minP = sample && p.minP > 0;
  const meta = new Meta();
  const V = meta.push(vocab);
  const [OFF, SR, SC] = [meta.push(logits.offset), meta.push(logits.strides[0]!), meta.push(logits.strides[1]!)];
  const H = meta.push(penalty ? seen!.shape[1]! : 0);
  const [HOFF, HSR, HSC] = penalty
    ? [meta.push(seen!.offset), meta.push(seen!.strides[0]!), meta.push(seen!.strides[1]!)]
    : ["0", "0", "0"];
  const [UOFF, US] = sample ? [meta.push(uniforms!.offset), meta.push(uniforms!.strides[0]!)] : ["0", "0"];
  const f = (v: number) => `bitcast<f32>(${meta.push(f32Bits(v))})`;
  const PEN = f(p.repetitionPenalty);
  const TEMP = f(p.temperature);
  const K = meta.push(p.topK);
  const TOPP = f(p.topP);
  const LOGMINP = f(Math.log(p.minP));
  const each = (body: string) => `  for (var i = i32(lid); i < ${V}; i += ${WG}) {\n    let x = S[row + i];\n${body}\n  }`;
  const rowMax = (name: string) =>
    `  var ${name}_l = neg_inf();\n${each(`    ${name}_l = max(${name}_l, x);`)}\n  let ${name} = max_f(${name}_l, lid);`;
  /** Largest key T with measure(key >= T) >= bound; `measure` adds `amount` per element. */
  const bisect = (name: string, amount: string, type: "u32" | "f32", bound: string) => `  var ${name} = 0u;
  for (var bit = 31; bit >= 0; bit--) {
    let cand = ${name} | (1u << u32(bit));
    var part: ${type} = ${type === "u32" ? "0u" : "0.0"};
${each(`    if (key(x) >= cand) { part += ${amount}; }`)}
    if (${type === "u32" ? "sum_u" : "sum_f"}(part, lid) >= ${bound}) { ${name} = cand; }
  }`;
  const steps: string[] = [];
  if (penalty) {
    steps.push(`  for (var j = i32(lid); j < ${H}; j += ${WG}) {
    let id = Hs[${HOFF} + b * ${HSR} + j * ${HSC}];
    if (id >= 0 && id < ${V}) {
      let x = S[row + id];
      S[row + id] = select(x * ${PEN}, min(x / ${PEN}, FLT_MAX), x > 0.0);
    }
  }
  storageBarrier();`);
  }
  if (!sample) {
    steps.push(`  var best = neg_inf();
  var bi = ${V};
${each("    if (x > best) { best = x; bi = i; }")}
  rf[lid] = best;
  ri[lid] = u32(bi);
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s >>= 1u) {
    if (lid < s && (rf[lid + s] > rf[lid] || (rf[lid + s] == rf[lid] && ri[lid + s] < ri[lid]))) {
      rf[lid] = rf[lid + s];
      ri[lid] = ri[lid + s];
    }
    workgroupBarrier();
  }
  if (lid == 0u) { pick = select(i32(ri[0]), -1, rf[0] == neg_inf()); }`);
  } else {
    if (temperature) {
      // as the host processor: x / t, or (x - max) / t for the whole row if any x / t overflows
      steps.push(`${rowMax("mt")}
  var ovf = 0u;
${each(`    if (x / ${TEMP} == pos_inf()) { ovf = 1u; }`)}
  let shift = sum_u(ovf, lid) > 0u;
${each(`    S[row + i] = select(x / ${TEMP}, (x - mt) / ${TEMP}, shift);`)}`);
    }
    if (topK) {
      // ties at the k-th value are kept, as transformers does
      steps.push(`${bisect("tk", "1u", "u32", `u32(${K})`)}
${each("    if (key(x) < tk) { S[row + i] = neg_inf(); }")}`);
    }
    if (topP) {
      // the smallest most-likely set with mass >= p; among logits equal at the cut, lower ids first
      steps.push(`${rowMax("mp")}
  var zl = 0.0;
${each("    zl += ex(x, mp);")}
  let goalMass = sum_f(zl, lid) * ${TOPP};
${bisect("tp", "ex(x, mp)", "f32", "goalMass")}
  var above = 0.0;
${each("    if (key(x) > tp) { above += ex(x, mp); }")}
  let massAbove = sum_f(above, lid);
  let q = ex(unkey(tp), mp);
  let need = max(1u, u32(ceil((goalMass - massAbove) / q)));
  storageBarrier();
  let chunk = (${V} + ${WG - 1}) / ${WG};
  let c0 = i32(lid) * chunk;
  let c1 = min(c0 + chunk, ${V});
  var ties = 0u;
  for (var i = c0; i < c1; i++) { if (key(S[row + i]) == tp) { ties++; } }
  ri[lid] = ties;
  workgroupBarrier();
  if (lid == 0u) {
    var acc = 0u;
    for (var t = 0u; t < ${WG}u; t++) { let c = ri[t]; ri[t] = acc; acc += c; }
  }
  workgroupBarrier();
  var rank = ri[lid];
  for (var i = c0; i < c1; i++) {
    let k = key(S[row + i]);
    if (k < tp) { S[row + i] = neg_inf(); }
    else if (k == tp) { if (rank >= need) { S[row + i] = neg_inf(); } rank++; }
  }
  workgroupBarrier();
  storageBarrier();`);
    }
    if (minP) {
      steps.push(`${rowMax("mm")}
${each(`    if (x < mm + ${LOGMINP}) { S[row + i] = neg_inf(); }`)}`);
    }
    steps.push(`${rowMax("md")}
  storageBarrier();
  let dchunk = (${V} + ${WG - 1}) / ${WG};
  let d0 = i32(lid) * dchunk;
  let d1 = min(d0 + dchunk, ${V});
  var part = 0.0;
  var lastKept = -1;
  for (var i = d0; i < d1; i++) { let e = ex(S[row + i], md); part += e; if (e > 0.0) { lastKept = i; } }
  rf[lid] = part;
  ri[lid] = u32(lastKept + 1);
  workgroupBarrier();
  if (lid == 0u) {
    var total = 0.0;
    var last = 0u;
    for (var t = 0u; t < ${WG}u; t++) { total += rf[t]; last = max(last, ri[t]); }
    let goal = total * Un[${UOFF} + b * ${US}];
    var acc = 0.0;
    pickThread = ${WG}u;
    for (var t = 0u; t < ${WG}u; t++) {
      if (acc + rf[t] > goal) { pickThread = t; break; }
      acc += rf[t];
    }
    pickFrom = acc;
    pickGoal = goal;
    pick = i32(last) - 1;
  }
  workgroupBarrier();
  if (lid == pickThread) {
    var acc = pickFrom;
    for (var i = d0; i < d1; i++) {
      let e = ex(S[row + i], md);
      if (e > 0.0) { acc += e; if (acc > pickGoal) { pick = i; break; } }
    }
  }
  workgroupBarrier();
  if (lid == 0u && md == neg_inf()) { pick = -1; }`);
  }
  const body = `const FLT_MAX = 3.4028234663852886e38;
var<workgroup> rf: array<f32, ${WG}>;
var<workgroup> ri: array<u32, ${WG}>;
var<workgroup> pick: i32;
var<workgroup> pickThread: u32;
var<workgroup> pickFrom: f32;
var<workgroup> pickGoal: f32;
fn sum_f(v: f32, lid: u32) -> f32 {
  rf[lid] = v;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s >>= 1u) { if (lid < s) { rf[lid] += rf[lid + s]; } workgroupBarrier(); }
  let r = rf[0];
  workgroupBarrier();
  return r;
}
fn sum_u(v: u32, lid: u32) -> u32 {
  ri[lid] = v;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s >>= 1u) { if (lid < s) { ri[lid] += ri[lid + s]; } workgroupBarrier(); }
  let r = ri[0];
  workgroupBarrier();
  return r;
}
fn max_f(v: f32, lid: u32) -> f32 {
  rf[lid] = v;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s >>= 1u) { if (lid < s) { rf[lid] = max(rf[lid], rf[lid + s]); } workgroupBarrier(); }
  let r = rf[0];
  workgroupBarrier();
  return r;
}
// float order as unsigned order (-0 as +0)
fn key(x: f32) -> u32 {
  let b = bitcast<u32>(x);
  if (b == 0x80000000u) { return 0x80000000u; }
  return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}
fn unkey(k: u32) -> f32 { return bitcast<f32>(select(~k, k & 0x7fffffffu, (k & 0x80000000u) != 0u)); }
// exp(x - m) with exp(-inf) = 0 on every implementation
fn ex(x: f32, m: f32) -> f32 { return select(exp(x - m), 0.0, x == neg_inf()); }
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let b = i32(wid.x);
  let row = b * ${V};
  let lrow = ${OFF} + b * ${SR};
  var bad = 0u;
  // every binding is used whatever steps are on (auto layouts drop unused ones)
  if (${V} < 0) { bad = u32(Hs[0]) + u32(Un[0]); }
  for (var i = i32(lid); i < ${V}; i += ${WG}) {
    let x = L[lrow + i * ${SC}];
    if (is_nan(x) || x == pos_inf()) { bad = 1u; }
    S[row + i] = x;
  }
  let anyBad = sum_u(bad, lid) > 0u;
  storageBarrier();
${steps.join("\n")}
  workgroupBarrier();
  if (lid == 0u) { O[b] = select(pick, -2, anyBad); }
}`;
  const key = `sample${WG}:${p.greedy ? "g" : "s"}${penalty ? "p" : ""}${temperature ? "t" : ""}${topK ? "k" : ""}${topP ? "n" : ""}${minP ? "m" : ""}`;
  ctx.batcher.dispatch({
    key,
    code: () =>
      shader(
        meta,
        [
          { name: "L", type: "f32" },
          { name: "Hs", type: "i32" },
          { name: "Un", type: "f32" },
          { name: "S", type: "f32", write: true },
          { name: "O", type: "i32", write: true },
        ],
        body,
      ),
    uniforms: meta.data(),
    inputs: [
      ctx.buffer(logits).gpu,
      (penalty ? ctx.buffer(seen!) : dummy!).gpu,
      (sample ? ctx.buffer(uniforms!) : dummy!).gpu,
      scratch.gpu,
    ],
    output: out.gpu,
    workgroups: [batch, 1, 1],
  });
  ctx.free(scratch);
  if (dummy) ctx.free(dummy);
  return out;
}
