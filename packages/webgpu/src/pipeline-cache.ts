import { WebGPUDeviceError } from "./errors.js";

/**
 * Compiled pipelines keyed by kernel name + specialization (dtypes, rank, tile sizes, flags).
 * A WGSL source is generated only on a miss; compile errors are reported with the kernel's key.
 */
export class PipelineCache {
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  /** Compile errors found asynchronously; the backend throws them at the next read. */
  readonly errors: string[] = [];
  /** Time spent creating pipelines (on software adapters, compiling dominates small workloads). */
  compileMs = 0;

  constructor(private readonly device: GPUDevice) {}

  get(key: string, code: () => string): GPUComputePipeline {
    let p = this.pipelines.get(key);
    if (p) return p;
    const source = code();
    const t0 = performance.now();
    this.device.pushErrorScope("validation");
    const module = this.device.createShaderModule({ code: source, label: key });
    p = this.device.createComputePipeline({ layout: "auto", compute: { module, entryPoint: "main" }, label: key });
    void this.device.popErrorScope().then((e) => {
      if (e) this.errors.push(`kernel ${key}: ${e.message}\n--- WGSL ---\n${source}`);
    });
    this.pipelines.set(key, p);
    this.compileMs += performance.now() - t0;
    return p;
  }

  get size(): number {
    return this.pipelines.size;
  }

  throwIfFailed(): void {
    if (this.errors.length > 0) throw new WebGPUDeviceError(`webgpu: a kernel failed to compile: ${this.errors[0]}`);
  }
}
