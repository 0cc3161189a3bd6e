import { getBackend, openGGUF, type Backend, type CheckpointFiles, type GGUFFile, type Tensor } from "@llm/tensor";
import type { Model } from "../architecture.js";
import { CheckpointError, ModelError } from "../errors.js";
import { architectureFor } from "../registry.js";
import { ConfigView, GGUF_ARCHITECTURES, MetadataView, ggufArchitectureNamed } from "./architectures.js";
import { translateName } from "./names.js";
import { inverseOrder, permuteRows, rowOrder } from "./rows.js";

export interface LoadGGUFOptions {
  backend?: Backend;
  /** "auto" (default) keeps each weight in the type the file has (Q4_K, Q6_K, Q8_0, F16 ...); "float32" widens all. */
  dtype?: "auto" | "float32";
}

export interface LoadedGGUF {
  readonly model: Model;
  /** The file's metadata (the tokenizer's among it: @llm/tokenizer's fromGGUFMetadata reads it). */
  readonly metadata: ReadonlyMap<string, unknown>;
}

/**
 * Loads a GGUF file as one of our models: general.architecture picks the architecture, its
 * metadata becomes the config.json we would read, and each tensor is read in the type it is
 * stored in, straight into the parameter (rows put back in our order, Conv1D weights as
 * [in, out] views of llama.cpp's [out, in]). An architecture, tensor or tensor type we do not
 * read is an error naming it.
 */
export async function loadGGUFFrom(files: CheckpointFiles, name: string, options: LoadGGUFOptions = {}): Promise<LoadedGGUF> {
  const file = await openGGUF(files, name);
  const source = file.source;
  const archName = file.metadata.get("general.architecture");
  const arch = typeof archName === "string" ? ggufArchitectureNamed(archName) : undefined;
  if (!arch) {
    throw new ModelError(
      `${source}: GGUF architecture ${JSON.stringify(archName)} is not one we read (we read ${GGUF_ARCHITECTURES.map((a) => a.ggufArch).join(", ")})`,
    );
  }
  const embeddings = file.tensors.get("token_embd.weight");
  if (!embeddings) throw new CheckpointError(`${source}: expected a tensor "token_embd.weight", found none`);
  const meta = new MetadataView(arch.ggufArch, file.metadata, source);
  let config: Record<string, unknown>;
  try {
    config = arch.config(meta, (n) => file.tensors.has(n), embeddings.shape[0]!);
  } catch (error) {
    throw new ModelError((error as Error).message);
  }
  const backend = options.backend ?? getBackend();
  const model = architectureFor(config).create(config, { backend });
  try {
    await fill(model, file, arch, new ConfigView(config), options.dtype ?? "auto", backend);
  } catch (error) {
    model.dispose();
    throw error;
  }
  return { model: model.eval(), metadata: file.metadata };
}

async function fill(
  model: Model,
  file: GGUFFile,
  arch: NonNullable<ReturnType<typeof ggufArchitectureNamed>>,
  config: ConfigView,
  dtype: "auto" | "float32",
  backend: Backend,
): Promise<void> {
  const source = file.source;
  const params = model.namedParameters();
  const sources = new Map<string, string>();
  const missing: string[] = [];
  for (const [name] of params) {
    const match = translateName(arch.tensors, name, "ours");
    if (!match || !file.tensors.has(match.name)) missing.push(match ? `${match.name} (our ${name})` : name);
    else sources.set(name, match.name);
  }
  const used = new Set(sources.values());
  const unexpected = [...file.tensors.keys()].filter((n) => !used.has(n));
  if (missing.length || unexpected.length) {
    throw new CheckpointError(
      `${source}: the ${arch.ggufArch} tensors do not match the model its metadata describes: ` +
        [missing.length ? `missing ${missing.join(", ")}` : "", unexpected.length ? `unexpected ${unexpected.join(", ")}` : ""]
          .filter(Boolean)
          .join("; "),
    );
  }
  for (const [name, param] of params) {
    const ggufName = sources.get(name)!;
    const info = file.tensors.get(ggufName)!;
    const rule = translateName(arch.tensors, name, "ours")!.rule;
    const expected = rule.transposed ? [param.shape[1]!, param.shape[0]!] : param.shape;
    if (info.shape.length !== expected.length || info.shape.some((d, i) => d !== expected[i])) {
      throw new CheckpointError(`${source}: tensor "${ggufName}": expected shape [${expected}] (from the metadata), found [${info.shape}]`);
    }
    let value: Tensor = await file.readTensor(ggufName, { backend });
    if (rule.rows) {
      const ordered = await permuteRows(value, inverseOrder(rowOrder(rule.rows, arch.heads!(config))));
      value.dispose();
      value = ordered;
    }
    if (dtype === "float32" && value.dtype !== "float32") {
      const wide = value.cast("float32");
      value.dispose();
      value = wide;
    }
    if (rule.transposed) {
      const view = value.transpose(0, 1); // [in, out] over llama.cpp's [out, in] rows: no copy
      param.replaceWith(view);
      value.dispose();
    } else if (value.dtype === "float32" && param.dtype === "float32") {
      param.adopt(value);
    } else {
      param.replaceWith(value);
    }
  }
}
