import { TokenizerError, describe } from "../utils/errors.js";
import type { Pattern } from "../normalizers/replace.js";

export function expectString(v: unknown, path: string): string {
  if (typeof v !== "string") throw new TokenizerError(`${path}: expected a string, found ${describe(v)}`);
  return v;
}

export function expectBoolean(v: unknown, path: string, fallback: boolean): boolean {
  if (v === undefined || v === null) return fallback;
  if (typeof v !== "boolean") throw new TokenizerError(`${path}: expected true or false, found ${describe(v)}`);
  return v;
}

export function expectInt(v: unknown, path: string): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0)
    throw new TokenizerError(`${path}: expected a non-negative integer, found ${describe(v)}`);
  return v;
}

export function expectObject(v: unknown, path: string): Record<string, unknown> {
  if (v === null || typeof v !== "object" || Array.isArray(v))
    throw new TokenizerError(`${path}: expected an object, found ${describe(v)}`);
  return v as Record<string, unknown>;
}

export function expectPattern(v: unknown, path: string): Pattern {
  const o = expectObject(v, path);
  if (typeof o.String === "string") return { String: o.String };
  if (typeof o.Regex === "string") return { Regex: o.Regex };
  throw new TokenizerError(`${path}: expected {"String": ...} or {"Regex": ...}, found keys ${JSON.stringify(Object.keys(o))}`);
}
