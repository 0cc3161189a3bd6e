import type { BufferPool } from "./buffer-pool.js";
import type { PipelineCache } from "./pipeline-cache.js";
import { BufferUsage } from "./gpu-constants.js";

/** One kernel launch: uniform words (binding 0), read-only inputs, then the output. */
export interface Dispatch {
  key: string;
  code: () => string;
  uniforms: Int32Array | Uint32Array;
  inputs: readonly GPUBuffer[];
  output: GPUBuffer;
  workgroups: readonly [number, number, number];
}

const UNIFORM_ALIGN = 256;
const SLAB_BYTES = 64 * 1024;

/**
 * Records kernels into one command encoder and submits them together: once per read, or when
 * `maxOpsPerSubmit` kernels are waiting, never once per op. All uniforms of a batch live in one
 * slab buffer (one `writeBuffer` per submit). Buffers released while their contents may still be
 * read by recorded work return to the pool only after that work is submitted, so a later upload
 * (`writeBuffer`, which the queue runs before any later submit) can never overwrite them early.
 */
export class CommandBatcher {
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private slab: GPUBuffer | null = null;
  private readonly slabHost = new Uint8Array(SLAB_BYTES);
  private slabUsed = 0;
  private ops = 0;
  private deferred: { pool: BufferPool; buffer: GPUBuffer }[] = [];
  /** Submits so far (for tests and benchmarks). */
  submits = 0;

  constructor(
    private readonly device: GPUDevice,
    private readonly pipelines: PipelineCache,
    private readonly uniformPool: BufferPool,
    private readonly maxOpsPerSubmit = 64,
  ) {}

  dispatch(d: Dispatch): void {
    const bytes = Math.max(16, Math.ceil(d.uniforms.byteLength / 16) * 16);
    if (this.ops >= this.maxOpsPerSubmit || this.slabUsed + bytes > SLAB_BYTES) this.flush();
    const pipeline = this.pipelines.get(d.key, d.code);
    const slab = (this.slab ??= this.uniformPool.acquire(SLAB_BYTES));
    const offset = this.slabUsed;
    this.slabHost.set(new Uint8Array(d.uniforms.buffer, d.uniforms.byteOffset, d.uniforms.byteLength), offset);
    this.slabUsed = Math.ceil((offset + bytes) / UNIFORM_ALIGN) * UNIFORM_ALIGN;
    const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: slab, offset, size: bytes } }];
    d.inputs.forEach((buffer, i) => entries.push({ binding: i + 1, resource: { buffer } }));
    entries.push({ binding: d.inputs.length + 1, resource: { buffer: d.output } });
    const bindGroup = this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
    const pass = (this.pass ??= this.commandEncoder().beginComputePass());
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(d.workgroups[0], d.workgroups[1], d.workgroups[2]);
    this.ops++;
  }

  clear(buffer: GPUBuffer, bytes: number): void {
    this.endPass();
    this.commandEncoder().clearBuffer(buffer, 0, Math.ceil(bytes / 4) * 4);
  }

  copy(src: GPUBuffer, dst: GPUBuffer, bytes: number, dstOffset = 0): void {
    this.endPass();
    this.commandEncoder().copyBufferToBuffer(src, 0, dst, dstOffset, Math.ceil(bytes / 4) * 4);
  }

  /** Returns `buffer` to `pool` once everything recorded so far has been submitted. */
  releaseAfterSubmit(pool: BufferPool, buffer: GPUBuffer): void {
    if (this.encoder) this.deferred.push({ pool, buffer });
    else pool.release(buffer);
  }

  flush(): void {
    if (!this.encoder) return;
    this.endPass();
    if (this.slab && this.slabUsed > 0) this.device.queue.writeBuffer(this.slab, 0, this.slabHost, 0, this.slabUsed);
    this.device.queue.submit([this.encoder.finish()]);
    this.submits++;
    this.encoder = null;
    if (this.slab) this.uniformPool.release(this.slab);
    this.slab = null;
    this.slabUsed = 0;
    this.ops = 0;
    for (const { pool, buffer } of this.deferred) pool.release(buffer);
    this.deferred = [];
  }

  private commandEncoder(): GPUCommandEncoder {
    return (this.encoder ??= this.device.createCommandEncoder());
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = null;
  }
}

export const UNIFORM_USAGE = BufferUsage.UNIFORM | BufferUsage.COPY_DST;
