import { LayerArgumentError, OutputHead, TransformerLanguageModel, type DecoderParts, type Embedding, type Linear } from "@llm/layers";
import type { Backend, Rng } from "@llm/tensor";
import { previewJson, withBackend } from "@llm/tensor";
import { ModelConfigError } from "./errors.js";
import { ConfigReader, withAliases, type RawConfig } from "./config.js";
import type { KeyRules } from "./keys.js";
import { checkParameterBudget, type ParameterHolding } from "./limits.js";

/** A model of some architecture, as loadModel and createModel return it. */
export type Model = TransformerLanguageModel;

/** What an architecture's build function returns: the decoder's parts, named as the checkpoint names them. */
export type ArchitectureParts = Omit<DecoderParts, "checkpointConfig" | "checkpointFloatKeys">;

/** An architecture as its file writes it: config in, parts out. */
export interface ArchitectureSpec {
  /** config.json's model_type. */
  readonly modelType: string;
  /** Older model_type names of the same architecture (Falcon's "RefinedWeb"). */
  readonly aliases?: readonly string[];
  /** transformers' class, written to a saved config.json's "architectures". */
  readonly className?: string;
  /** Older config key -> the key the build reads (RefinedWeb's n_head -> num_attention_heads). */
  readonly configAliases?: Readonly<Record<string, string>>;
  /** How downloaded files name tensors differently from our parameters. */
  readonly keys?: KeyRules;
  build(config: ConfigReader): ArchitectureParts;
}

/** What the registry knows about one architecture. */
export interface Architecture {
  readonly modelType: string;
  readonly aliases: readonly string[];
  readonly keys: KeyRules;
  /**
   * Builds the model config.json describes (throws ModelConfigError on a bad config), with
   * parameters that take memory only when used: load a checkpoint into it, or initialize it.
   */
  create(config: RawConfig, options?: ArchitectureCreateOptions): Model;
}

export interface ArchitectureCreateOptions {
  backend?: Backend;
  /**
   * Refuse a model whose parameters take more bytes than this (default: this machine's memory;
   * Infinity: no limit). Checked before any parameter is allocated.
   */
  maxParameterBytes?: number;
  /** How the loader will hold the parameters (default float32: what an empty model fills). */
  holding?: ParameterHolding;
}

/**
 * Turns an architecture's spec into what the registry serves. The parts shared by every
 * architecture live here once: the ConfigReader over config.json (with its bounds on sizes, layer
 * counts, epsilons and other ranges by key name), the check that the parameters it describes fit
 * in memory (before any is allocated), the config a saved checkpoint writes (every value the build
 * read, defaults spelled out, plus model_type and architectures).
 */
export function defineArchitecture(spec: ArchitectureSpec): Architecture {
  return {
    modelType: spec.modelType,
    aliases: spec.aliases ?? [],
    keys: spec.keys ?? {},
    create(raw, options = {}) {
      const config = new ConfigReader(spec.configAliases ? withAliases(raw, spec.configAliases) : raw, spec.modelType);
      const build = () => buildNamingTheValues(spec, config);
      const built = options.backend ? withBackend(options.backend, build) : build();
      const parts = { ...built, config: { ...built.config, maxPositions: declaredPositions(config, built.config.maxPositions) } };
      const checkpointConfig = {
        ...config.resolvedConfig(),
        model_type: spec.modelType,
        ...(spec.className ? { architectures: [spec.className] } : {}),
      };
      const model = new TransformerLanguageModel({ ...parts, checkpointConfig, checkpointFloatKeys: config.floatKeys() });
      // parameters are not allocated yet: a model too large to hold is refused here, for free
      checkParameterBudget(model, spec.modelType, options.maxParameterBytes, options.holding);
      return model;
    },
  };
}

/**
 * Runs the build; a layer that refuses what it was given (an odd rotary dim, say) is reported as
 * the config error it is, with the values read so far (the culprit among them).
 */
function buildNamingTheValues(spec: ArchitectureSpec, config: ConfigReader): ArchitectureParts {
  try {
    return spec.build(config);
  } catch (error) {
    if (!(error instanceof LayerArgumentError)) throw error;
    const read = Object.entries(config.resolvedConfig())
      .filter(([key]) => config.wasRead(key))
      .map(([key, v]) => `${key}=${previewJson(v, 40)}`)
      .join(", ");
    throw new ModelConfigError(
      `${spec.modelType} config: these values make a layer that cannot be built: ${error.message} (values read: ${read})`,
    );
  }
}

/** Config keys that declare the longest sequence, as the families name it. */
const POSITION_KEYS = ["max_position_embeddings", "n_positions", "max_seq_len", "max_sequence_length", "seq_length", "n_ctx"];

/**
 * The sequence length a rotary or ALiBi model reports: its config's declared length where it has
 * one (the encoding itself would go on forever), else what the build said.
 */
function declaredPositions(config: ConfigReader, built: number): number {
  if (Number.isFinite(built)) return built;
  const key = POSITION_KEYS.find((k) => config.has(k));
  return key ? config.int(key) : built;
}

export interface OutputHeadSpec {
  /** Whether the head reuses the token embedding when config.json says nothing (HF's default per family). */
  tiedByDefault: boolean;
  /** A learned bias per vocabulary entry (GPT-J). */
  bias?: boolean;
  /** A projection before the head (OPT's project_out). */
  project?: Linear | null;
  /** Soft-caps the logits (Gemma 2's final_logit_softcapping). */
  softcap?: number | null;
}

/**
 * The output head: the token embedding itself when `tie_word_embeddings` says so (one tensor, saved
 * once, under the embedding's name), else a [vocab, width] weight of its own.
 */
export function outputHead(config: ConfigReader, tokens: Embedding, spec: OutputHeadSpec): OutputHead {
  const tied = config.bool("tie_word_embeddings", spec.tiedByDefault);
  return new OutputHead(tokens.dim, tokens.count, {
    bias: spec.bias ?? false,
    project: spec.project ?? null,
    softcap: spec.softcap ?? null,
    ...(tied ? { tiedTo: tokens } : {}),
  });
}

export interface CreateOptions {
  /** Seed of the Rng that draws the random weights (default 0). */
  seed?: number;
  rng?: Rng;
  /** Std of the normal weights (default: the config's initializer_range, else 0.02). */
  std?: number;
  /** Where the weights live (default: the current backend). */
  backend?: Backend;
  /** Refuse models whose float32 parameters take more bytes than this (default: this machine's memory). */
  maxParameterBytes?: number;
}
