import { expect, it } from "vitest";
import "../src/index.js";
import { kernel, namedKernels } from "../src/cpu/resident/modules.js";

// Kernels are named at import time and find their export index at their first call (building the
// modules only for their names made the import slow). This resolves every name the package makes,
// so a misspelt kernel still fails here, not in whichever test first happens to call it.

const named = [...namedKernels]; // the package's own, before the test below names a bad one

it("every kernel the package names is a function of its module", () => {
  expect(named.length).toBeGreaterThan(30);
  const missing = named.filter((ref) => {
    try {
      return ref.fn < 0;
    } catch {
      return true;
    }
  });
  expect(missing.map((r) => r.name)).toEqual([]);
});

it("a name its module lacks is an error that names both, at first use", () => {
  const ref = kernel("rows", "no_such_kernel");
  expect(() => ref.fn).toThrow("cpu backend: kernel module 'rows' has no function 'no_such_kernel'");
  expect(() => kernel("no_such_module", "x")).toThrow("cpu backend: no kernel module 'no_such_module'");
});
