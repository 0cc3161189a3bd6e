import { previewJson } from "../preview.js";
import { SafetensorsError } from "../safetensors/errors.js";

/** A sharded checkpoint's index: which file holds each tensor. */
export interface ShardIndex {
  /** Shard file -> the tensor names weight_map puts there, in first-mention order. */
  shards: Map<string, string[]>;
  metadata: Readonly<Record<string, unknown>> | null;
}

/**
 * Parses model.safetensors.index.json. Shard names must stay inside the folder: a path that is
 * absolute or climbs out with ".." is a broken (or hostile) index.
 */
export function parseShardIndex(bytes: Uint8Array, source: string): ShardIndex {
  const fail = (problem: string, key?: string) => new SafetensorsError("index", { source, key }, problem);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch (error) {
    throw fail(`expected a JSON index, found invalid JSON (${(error as Error).message})`);
  }
  const { weight_map: weightMap, metadata } = (typeof json === "object" && json !== null ? json : {}) as Record<string, unknown>;
  if (typeof weightMap !== "object" || weightMap === null || Array.isArray(weightMap)) {
    throw fail(`expected an object with a "weight_map" of tensor name -> shard file, found ${previewJson(json)}`);
  }
  const shards = new Map<string, string[]>();
  for (const [name, shard] of Object.entries(weightMap)) {
    if (typeof shard !== "string" || !isInsideFolder(shard)) {
      throw fail(`expected a shard file name in the index's folder, found ${previewJson(shard)}`, name);
    }
    const names = shards.get(shard);
    if (names) names.push(name);
    else shards.set(shard, [name]);
  }
  const meta = typeof metadata === "object" && metadata !== null && !Array.isArray(metadata) ? (metadata as Record<string, unknown>) : null;
  return { shards, metadata: meta };
}

function isInsideFolder(name: string): boolean {
  if (name === "" || name.includes("\\") || name.startsWith("/") || /^[a-zA-Z]:/.test(name)) return false;
  return name.split("/").every((part) => part !== "" && part !== "." && part !== "..");
}

/** transformers' shard names: model-00001-of-00003.safetensors. */
export function shardFileName(index: number, count: number): string {
  const pad = (n: number) => String(n).padStart(5, "0");
  return `model-${pad(index + 1)}-of-${pad(count)}.safetensors`;
}

/** transformers' default max_shard_size, "5GB" (decimal). */
export const DEFAULT_MAX_SHARD_BYTES = 5e9;

/**
 * Splits tensors (name, byte size) into shards of at most `maxShardBytes`, in order, as
 * transformers does: a tensor larger than the limit gets a shard of its own.
 */
export function planShards(sizes: readonly (readonly [string, number])[], maxShardBytes = DEFAULT_MAX_SHARD_BYTES): string[][] {
  if (!(maxShardBytes > 0)) throw new SafetensorsError("argument", {}, `expected maxShardBytes > 0, found ${maxShardBytes}`);
  const shards: string[][] = [];
  let current: string[] = [];
  let bytes = 0;
  for (const [name, size] of sizes) {
    if (current.length > 0 && bytes + size > maxShardBytes) {
      shards.push(current);
      current = [];
      bytes = 0;
    }
    current.push(name);
    bytes += size;
  }
  if (current.length > 0 || shards.length === 0) shards.push(current);
  return shards;
}
