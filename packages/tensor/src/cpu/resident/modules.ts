import { Code, emitModule, type FuncDef } from "../wasm/encoder.js";
import { matvecFunctions } from "../wasm/matvec_module.js";
import { gemmResidentFunctions } from "../wasm/gemm_resident_module.js";
import { attentionGroupFunctions } from "../wasm/attention_group_module.js";
import { attentionFunctions } from "../wasm/attention_module.js";
import { attentionBlockFunctions } from "../wasm/attention_blocks_module.js";
import { rowsFunctions } from "../wasm/rows_module.js";
import { binaryFunctions } from "../wasm/binary_module.js";
import { activationFunctions } from "../wasm/activation_module.js";
import { trainFunctions } from "../wasm/train_module.js";
import { storedGemvFunctions } from "../wasm/gemv_stored_resident_module.js";
import { storedGemmFunctions } from "../wasm/gemm_stored_resident_module.js";
import { ggmlRoundingFunctions } from "../wasm/ggml_rounding_module.js";
import { q8GemvFunctions } from "../wasm/gemv_q8_resident_module.js";
import { q8GemmFunctions } from "../wasm/gemm_q8_resident_module.js";
import { q8kGemmFunctions } from "../wasm/gemm_q8k_resident_module.js";
import { copyFunctions } from "../wasm/copy_module.js";

/**
 * The WASM modules the resident kernels call, each built in four variants: for shared memories
 * (threads) or not, and with relaxed SIMD's fused multiply-add or without. Every thread
 * instantiates every module once per memory.
 */
interface ModuleSpec {
  readonly name: string;
  build(fma: boolean): FuncDef[];
}

const SPECS: readonly ModuleSpec[] = [
  { name: "matvec", build: matvecFunctions },
  { name: "gemm", build: gemmResidentFunctions },
  // the group kernels call the row kernels: functions 0 (attention) and 1 (attention_f16)
  { name: "attention", build: (fma) => [...attentionFunctions(fma), ...attentionGroupFunctions(fma, 0, 1)] },
  { name: "attention_blocks", build: attentionBlockFunctions },
  { name: "rows", build: rowsFunctions },
  { name: "binary", build: binaryFunctions },
  { name: "activations", build: activationFunctions },
  { name: "train", build: trainFunctions },
  { name: "stored", build: storedGemvFunctions },
  { name: "gemm_stored", build: storedGemmFunctions },
  { name: "ggml_rounding", build: ggmlRoundingFunctions },
  { name: "q8", build: q8GemvFunctions },
  { name: "q8_gemm", build: q8GemmFunctions },
  { name: "q8k_gemm", build: q8kGemmFunctions },
  { name: "copy", build: copyFunctions },
];

/** A function of one of the modules, as threads name it: module and export positions. */
export interface KernelRef {
  readonly module: number;
  readonly fn: number;
  readonly name: string;
}

/**
 * The kernel `name` of module `moduleName`. Its export index is looked up at its first call, when
 * the modules are built anyway: kernels are named at import time, and finding each index then
 * built every module's code once only to read its export names (40 of the package's 87 ms import,
 * and a young generation grown to 4 MiB for the process's life).
 */
export function kernel(moduleName: string, name: string): KernelRef {
  const module = SPECS.findIndex((s) => s.name === moduleName);
  if (module < 0) throw new Error(`cpu backend: no kernel module '${moduleName}'`);
  const ref = new NamedKernel(module, name);
  namedKernels.push(ref);
  return ref;
}

/** Every kernel named so far (a test resolves them all, as the import once did). */
export const namedKernels: KernelRef[] = [];

class NamedKernel implements KernelRef {
  private index = -1;

  constructor(
    readonly module: number,
    readonly name: string,
  ) {}

  get fn(): number {
    if (this.index < 0) {
      this.index = exportNames(this.module).indexOf(this.name);
      if (this.index < 0) throw new Error(`cpu backend: kernel module '${SPECS[this.module]!.name}' has no function '${this.name}'`);
    }
    return this.index;
  }
}

const names = new Map<number, string[]>();
/** Module `module`'s export names, the same in every variant (built once, or taken from a compile's build). */
function exportNames(module: number, built?: readonly FuncDef[]): string[] {
  let list = names.get(module);
  if (list === undefined) names.set(module, (list = (built ?? SPECS[module]!.build(false)).map((d) => d.name)));
  return list;
}

/** A module's bytes and export names, built once for both. */
function built(i: number, shared: boolean, fma: boolean): { bytes: Uint8Array; names: readonly string[] } {
  const defs = SPECS[i]!.build(fma);
  return { bytes: emitModule(defs, { shared }), names: exportNames(i, defs) };
}

export interface CompiledModule {
  module: object;
  names: readonly string[];
}

interface WasmCompileApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
}

/** Module `i`'s name, for errors. */
export function moduleName(i: number): string {
  return SPECS[i]?.name ?? `#${i}`;
}

/** The smallest module: compiling it tells whether the others will (they take the same features). */
export const PROBE_MODULE = SPECS.findIndex((s) => s.name === "matvec");

/** Each module compiled, by variant and index; null where it would not compile. */
const compiled = new Map<string, CompiledModule | null>();
const moduleKey = (i: number, shared: boolean, fma: boolean): string => `${shared}:${fma}:${i}`;

/**
 * Module `i` compiled for this variant (built and compiled once); null where WebAssembly SIMD
 * (or, with `fma`, relaxed SIMD) is missing, or synchronous compilation is refused. A runtime
 * compiles each module the first time one of its kernels runs: the quantized and half-precision
 * modules are nine tenths of the bytes, and a float32 model never calls them (building every
 * module's bytes took 120-140 ms and 15 MiB of RSS, half of it JIT and heap that stay).
 */
export function compileModule(i: number, shared: boolean, fma: boolean): CompiledModule | null {
  const key = moduleKey(i, shared, fma);
  const found = compiled.get(key);
  if (found !== undefined) return found;
  const api = (globalThis as { WebAssembly?: WasmCompileApi }).WebAssembly;
  let result: CompiledModule | null = null;
  if (api !== undefined) {
    try {
      const { bytes, names } = built(i, shared, fma);
      if (api.validate(bytes)) result = { module: new api.Module(bytes), names };
    } catch {
      result = null;
    }
  }
  compiled.set(key, result);
  return result;
}

/** Every module compiled for this variant, or null where one of them would not compile. */
export function compileModules(shared: boolean, fma: boolean): CompiledModule[] | null {
  const all: CompiledModule[] = [];
  for (let i = 0; i < SPECS.length; i++) {
    const m = compileModule(i, shared, fma);
    if (m === null) return null;
    all.push(m);
  }
  return all;
}

/**
 * compileModules without blocking: a browser's main thread refuses to compile modules this large
 * synchronously, so `CpuBackend.ready()` compiles them this way first (compileModule then finds them).
 */
export async function compileModulesAsync(shared: boolean, fma: boolean): Promise<void> {
  const api = (globalThis as { WebAssembly?: WasmCompileApi & { compile(bytes: Uint8Array): Promise<object> } }).WebAssembly;
  if (api === undefined) return;
  await Promise.all(
    SPECS.map(async (_, i) => {
      const key = moduleKey(i, shared, fma);
      if (compiled.get(key)) return;
      let result: CompiledModule | null = null;
      try {
        const { bytes, names } = built(i, shared, fma);
        if (api.validate(bytes)) result = { module: await api.compile(bytes), names };
      } catch {
        result = null;
      }
      compiled.set(key, result);
    }),
  );
}

let relaxedSimd: boolean | undefined;

/**
 * Whether this engine runs relaxed SIMD (f32x4.relaxed_madd), found by validating a one-function
 * module that uses it (it compiled every kernel module for this once, unshared, beside the set the
 * runtime compiles: a backend's first op took 119-158 ms, now 94-124).
 */
export function hasRelaxedSimd(): boolean {
  if (relaxedSimd !== undefined) return relaxedSimd;
  const api = (globalThis as { WebAssembly?: WasmCompileApi }).WebAssembly;
  const body = new Code().v128Const0().v128Const0().v128Const0().f32x4RelaxedMadd().drop();
  try {
    relaxedSimd = api?.validate(emitModule([{ name: "probe", params: [], locals: [], body }])) ?? false;
  } catch {
    relaxedSimd = false;
  }
  return relaxedSimd;
}
