import type { DType } from "../dtype.js";
import { IQ_GRID_DATA } from "./iq_grid_data.js";

/**
 * The lattices of llama.cpp's IQ1/IQ2/IQ3 types: a block stores an index per 8 values (IQ1, IQ2) or
 * per 4 (IQ3) into one of these tables, whose entry holds the values' levels (ggml's iq2xxs_grid
 * etc., read as bytes). Kept packed in iq_grid_data.ts (made from gguf-py's copy by
 * scripts/make_iq_grids.py) and expanded on first use.
 */
export type IQGridName = keyof typeof IQ_GRID_DATA;

const expanded = new Map<IQGridName, Uint8Array>();

/**
 * Table `name` as bytes, entry e's values at [e * width, (e + 1) * width): IQ2's levels 8, 25, 43;
 * IQ3_XXS's 4-62; IQ3_S's odd 1-15; IQ1_S's -1, 0, 1 as int8 bytes (0xff for -1).
 */
export function iqGrid(name: IQGridName): Uint8Array {
  let grid = expanded.get(name);
  if (grid === undefined) {
    const { bits, levels, data } = IQ_GRID_DATA[name];
    const packed = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
    const perByte = 8 / bits;
    grid = new Uint8Array(packed.length * perByte);
    for (let i = 0; i < grid.length; i++) {
      const index = (packed[(i / perByte) | 0]! >>> (bits * (i % perByte))) & ((1 << bits) - 1);
      grid[i] = levels[index]! & 255;
    }
    expanded.set(name, grid);
  }
  return grid;
}

/** ggml's ksigns_iq2xs: seven sign bits and an eighth that makes the count of set bits even. */
export function signsOf(seven: number): number {
  let parity = 0;
  for (let v = seven; v !== 0; v &= v - 1) parity ^= 1;
  return seven | (parity << 7);
}

/** IQ1_S / IQ1_M's shift of every level of a group of 8, by the sign of its bit (IQ1S_DELTA). */
export const IQ1_DELTA = 0.125;

/** The table each lattice type's blocks index (IQ1_S and IQ1_M share one); null for every other dtype. */
export function gridOf(dtype: DType): IQGridName | null {
  switch (dtype) {
    case "iq2_xxs":
      return "iq2xxs";
    case "iq2_xs":
      return "iq2xs";
    case "iq2_s":
      return "iq2s";
    case "iq3_xxs":
      return "iq3xxs";
    case "iq3_s":
      return "iq3s";
    case "iq1_s":
    case "iq1_m":
      return "iq1s";
    default:
      return null;
  }
}
