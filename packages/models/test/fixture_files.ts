import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Tensor } from "@llm/tensor";
import { readSafetensorsFile } from "@llm/tensor/node";

export const FIXTURES = fileURLToPath(new URL("../../../fixtures/models/", import.meta.url));

export const fixtureNames = (): string[] => readdirSync(FIXTURES).sort();

export interface Fixture {
  name: string;
  dir: string;
  config: Record<string, unknown>;
  weights: Record<string, Tensor>;
  reference: Record<string, Tensor>;
  grads: Record<string, Tensor>;
}

export async function readFixture(name: string): Promise<Fixture> {
  const dir = `${FIXTURES}${name}`;
  return {
    name,
    dir,
    config: JSON.parse(readFileSync(`${dir}/config.json`, "utf8")) as Record<string, unknown>,
    weights: await readSafetensorsFile(`${dir}/model.safetensors`),
    reference: await readSafetensorsFile(`${dir}/reference.safetensors`),
    grads: await readSafetensorsFile(`${dir}/grads.safetensors`),
  };
}

/** Largest |a - b| over all elements (shapes must agree). */
export function maxAbsDiff(a: Tensor, b: Tensor): number {
  if (a.shape.join() !== b.shape.join()) throw new Error(`shapes differ: [${a.shape}] vs [${b.shape}]`);
  const x = a.dataSync();
  const y = b.dataSync();
  let max = 0;
  for (let i = 0; i < x.length; i++) max = Math.max(max, Math.abs(x[i]! - y[i]!));
  return Number.isNaN(max) ? Infinity : max;
}

/** Elements outside "1e-4 absolute or 1e-3 relative", the fixtures' gradient tolerance. */
export function gradientViolations(actual: Tensor, expected: Tensor): number {
  const x = actual.dataSync();
  const y = expected.dataSync();
  let bad = 0;
  for (let i = 0; i < x.length; i++) {
    const d = Math.abs(x[i]! - y[i]!);
    if (!(d <= 1e-4 || d <= 1e-3 * Math.abs(y[i]!))) bad++;
  }
  return bad;
}
