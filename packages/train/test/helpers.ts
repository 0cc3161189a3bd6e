import { readSafetensorsFile } from "@llm/tensor/node";
import type { Tensor } from "@llm/tensor";

export const FIXTURES = new URL("../../../fixtures/models/", import.meta.url);

/** reference.safetensors of one fixture architecture. */
export async function reference(arch: string): Promise<Record<string, Tensor>> {
  return readSafetensorsFile(new URL(`${arch}/reference.safetensors`, FIXTURES));
}

export async function values(t: Tensor): Promise<number[]> {
  return Array.from(await t.data());
}
