import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Model } from "@llm/models";
import { loadModel } from "@llm/models/node";
import type { Tensor } from "@llm/tensor";
import { readSafetensorsFile } from "@llm/tensor/node";

export const FIXTURES = fileURLToPath(new URL("../../../fixtures/models/", import.meta.url));
export const ARCHITECTURES = readdirSync(FIXTURES).sort();

export async function fixture(name: string): Promise<{ model: Model; reference: Record<string, Tensor> }> {
  return { model: await loadModel(`${FIXTURES}${name}`), reference: await readSafetensorsFile(`${FIXTURES}${name}/reference.safetensors`) };
}

export async function ids(t: Tensor): Promise<number[]> {
  return Array.from(await t.data());
}
