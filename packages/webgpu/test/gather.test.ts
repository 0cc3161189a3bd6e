import { describe, expect, it } from "vitest";
import { backend, reportSkip } from "./helpers/gpu.js";
import { at, expectClose, forEachIndex, randomArray, transpose, whole } from "./helpers/reference.js";

reportSkip();

describe.skipIf(!backend)("webgpu gather / scatterAdd", () => {
  const b = backend!;

  it("gather takes rows (embedding lookup), inner elements, and negative indices, from strided views", async () => {
    const data = randomArray(5 * 4, 1);
    const x = whole(b.upload(data, "float32"), data, [5, 4]);
    const idxData = new Int32Array([4, 0, -1, 2, 2, 1]);
    const idx = whole(b.upload(idxData, "int32"), idxData, [2, 3]);
    const rows = await b.read(b.gather(x.gpu, idx.gpu, 0)); // [2, 3, 4]
    const expRows: number[] = [];
    forEachIndex([2, 3, 4], ([i, j, k]) => expRows.push(at(x.host, [(idxData[i! * 3 + j!]! + 5) % 5, k!])));
    expectClose(rows, expRows, 0);
    const xt = transpose(x, 0, 1); // [4, 5]
    const idx2 = transpose(idx, 0, 1); // [3, 2], strided indices
    const cols = await b.read(b.gather(xt.gpu, idx2.gpu, 1)); // [4, 3, 2]
    const expCols: number[] = [];
    forEachIndex([4, 3, 2], ([i, j, k]) => expCols.push(at(xt.host, [i!, (at(idx2.host, [j!, k!]) + 5) % 5])));
    expectClose(cols, expCols, 0);
  });

  it("gather keeps half bits and int values", async () => {
    const h = new Uint16Array([0x3c00, 0x7e00, 0xc000]);
    const x = whole(b.upload(h, "float16"), h, [3]).gpu;
    const i = whole(b.upload(new Int32Array([2, 1, 1]), "int32"), [], [3]).gpu;
    expect(Array.from(await b.read(b.gather(x, i, 0)))).toEqual([0xc000, 0x7e00, 0x7e00]);
  });

  it("scatterAdd accumulates repeated indices (the embedding gradient)", async () => {
    const upd = randomArray(6 * 3, 4);
    const u = whole(b.upload(upd, "float32"), upd, [6, 3]);
    const idxData = new Int32Array([1, 3, 1, 1, 0, -1]);
    const idx = whole(b.upload(idxData, "int32"), idxData, [6]);
    const out = await b.read(b.scatterAdd(u.gpu, idx.gpu, 0, [5, 3]));
    const expected = new Array<number>(15).fill(0);
    for (let j = 0; j < 6; j++) for (let k = 0; k < 3; k++) expected[((idxData[j]! + 5) % 5) * 3 + k]! += upd[j * 3 + k]!;
    expectClose(out, expected, 1e-6);
    // Along an inner axis, from a transposed view of the updates.
    const ut = transpose(whole(b.upload(upd, "float32"), upd, [3, 6]), 0, 1); // [6, 3]
    const idx3 = whole(b.upload(new Int32Array([0, 0, 1]), "int32"), [], [3]);
    const inner = await b.read(b.scatterAdd(ut.gpu, idx3.gpu, 1, [6, 2]));
    const expInner: number[] = [];
    for (let r = 0; r < 6; r++) expInner.push(at(ut.host, [r, 0]) + at(ut.host, [r, 1]), at(ut.host, [r, 2]));
    expectClose(inner, expInner, 1e-6);
  });

  it("scatterAdd on int32 and bfloat16", async () => {
    const u = whole(b.upload(new Int32Array([1, 2, 3, 4]), "int32"), [], [4]).gpu;
    const i = whole(b.upload(new Int32Array([0, 2, 0, 0]), "int32"), [], [4]).gpu;
    expect(Array.from(await b.read(b.scatterAdd(u, i, 0, [3])))).toEqual([8, 0, 2]);
    const h = whole(b.upload(new Float32Array([1, 2, 3, 4]), "bfloat16"), [], [4]).gpu;
    expect(Array.from(await b.read(b.scatterAdd(h, i, 0, [3])))).toEqual([0x4100, 0, 0x4000]);
    expect(b.stats().liveBuffers).toBeGreaterThan(0);
  });
});
