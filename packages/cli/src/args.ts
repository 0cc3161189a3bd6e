import { parseArgs, type ParseArgsConfig } from "node:util";
import { UsageError } from "./io.js";

export type Options = NonNullable<ParseArgsConfig["options"]>;

/** A command's options, parsed; an unknown or malformed option is a one-line UsageError naming the command. */
export function parse(command: string, args: string[], options: Options, positionals = 1) {
  let parsed: ReturnType<typeof parseArgs<{ args: string[]; options: Options; allowPositionals: true; strict: true }>>;
  try {
    parsed = parseArgs({ args, options: { ...options, help: { type: "boolean", short: "h" } }, allowPositionals: true, strict: true });
  } catch (error) {
    // node's message goes on about '--' after its first sentence
    const first = (error as Error).message.split("\n")[0]!.split(/\.\s/)[0]!.replace(/\.$/, "");
    throw new UsageError(`${first} (llm ${command} --help lists the options)`);
  }
  if (parsed.positionals.length > positionals) {
    throw new UsageError(
      `expected at most ${positionals} argument${positionals === 1 ? "" : "s"}, found ${parsed.positionals.length}: ${parsed.positionals.join(" ")}`,
    );
  }
  return { values: parsed.values as Record<string, string | boolean | undefined>, positionals: parsed.positionals };
}

/** An option that must be a number (within bounds). */
export function numberOption(values: Record<string, unknown>, name: string, fallback: number, check?: (n: number) => boolean): number;
export function numberOption(
  values: Record<string, unknown>,
  name: string,
  fallback: undefined,
  check?: (n: number) => boolean,
): number | undefined;
export function numberOption(
  values: Record<string, unknown>,
  name: string,
  fallback: number | undefined,
  check: (n: number) => boolean = Number.isFinite,
) {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (typeof raw !== "string" || raw.trim() === "" || !check(n))
    throw new UsageError(`--${name}: expected a number${check === Number.isFinite ? "" : " in range"}, found ${JSON.stringify(raw)}`);
  return n;
}

export const positiveInteger = (n: number) => Number.isInteger(n) && n > 0;
export const nonNegative = (n: number) => Number.isFinite(n) && n >= 0;

/** Options every command that reads a SOURCE takes. */
export const LOAD_OPTIONS: Options = {
  revision: { type: "string" },
  endpoint: { type: "string" },
  "cache-dir": { type: "string" },
  offline: { type: "boolean" },
  "no-cache": { type: "boolean" },
  file: { type: "string" },
  quiet: { type: "boolean", short: "q" },
};

export const LOAD_HELP = `Loading (SOURCE: a model folder, a .gguf file, an http(s) URL of either, or a Hub id such as HuggingFaceTB/SmolLM2-135M-Instruct):
  --revision REV      branch, tag or commit on the Hub (default main)
  --endpoint URL      the Hub's address (default $HF_ENDPOINT or https://huggingface.co); $HF_TOKEN is sent
  --cache-dir DIR     where downloads are kept (default $LLM_CACHE_DIR or the platform's cache folder)
  --offline           use only the cache; make no request ($HF_HUB_OFFLINE=1 too)
  --no-cache          keep nothing: read files with HTTP range requests
  --file NAME         the .gguf file of a folder, URL or Hub repository to load (GGUF repositories hold one per quantization)
  -q, --quiet         no download progress`;

/** Options of the commands that run a model: where and in what it computes. */
export const COMPUTE_OPTIONS: Options = {
  backend: { type: "string" },
  dtype: { type: "string" },
  threads: { type: "string" },
};

export const COMPUTE_HELP = `Computing:
  --backend NAME      cpu (default) or webgpu
  --dtype TYPE        the dtype weights are kept in: auto (default: as stored; a GGUF file's Q4_K stays Q4_K),
                      float32, float16, bfloat16, q8_0, q4_0, q5_0, q4_1, q5_1, q2_k, q3_k, q4_k, q5_k, q6_k,
                      iq4_nl, iq4_xs, q3_k_s, q3_k_m, q3_k_l, q4_k_s, q4_k_m, q5_k_s, q5_k_m (converted as
                      they load; norms stay float32)
  --threads N         CPU threads (default: $LLM_TENSOR_THREADS, else every core); results are the same for any N`;

/** Options every command that generates takes. */
export const GENERATION_OPTIONS: Options = {
  "max-new-tokens": { type: "string", short: "n" },
  temperature: { type: "string", short: "t" },
  "top-k": { type: "string" },
  "top-p": { type: "string" },
  "min-p": { type: "string" },
  "repetition-penalty": { type: "string" },
  seed: { type: "string" },
  greedy: { type: "boolean" },
  "kv-cache": { type: "string" },
};

export const GENERATION_HELP = `Generation (defaults: the model's generation_config.json; its eos ids stop):
  -n, --max-new-tokens N   most tokens to generate (default: the model's, else 256)
  -t, --temperature T      sample at this temperature (0: greedy)
  --top-k K, --top-p P, --min-p P, --repetition-penalty R
  --seed S                 repeatable sampling
  --greedy                 always take the most likely token
  --kv-cache TYPE          what the KV cache keeps keys and values as: float32 (default), float16 (half the
                           memory, as llama.cpp keeps its own), bfloat16`;

/** The generation options as @llm/pretrained takes them. */
export function generationOptions(values: Record<string, unknown>) {
  return {
    maxNewTokens: numberOption(values, "max-new-tokens", undefined, (n) => Number.isInteger(n) && n >= 0),
    temperature: numberOption(values, "temperature", undefined, nonNegative),
    topK: numberOption(values, "top-k", undefined, (n) => Number.isInteger(n) && n >= 0),
    topP: numberOption(values, "top-p", undefined, (n) => n > 0 && n <= 1),
    minP: numberOption(values, "min-p", undefined, (n) => n >= 0 && n <= 1),
    repetitionPenalty: numberOption(values, "repetition-penalty", undefined, (n) => n > 0),
    seed: numberOption(values, "seed", undefined, Number.isInteger),
    ...(values.greedy ? { doSample: false } : {}),
    ...(values["kv-cache"] !== undefined ? { cacheDType: kvCacheOption(values["kv-cache"]) } : {}),
  };
}

const KV_CACHE_DTYPES = ["float32", "float16", "bfloat16"] as const;

function kvCacheOption(value: unknown): (typeof KV_CACHE_DTYPES)[number] {
  const found = KV_CACHE_DTYPES.find((d) => d === value);
  if (found === undefined)
    throw new UsageError(`--kv-cache: expected one of ${KV_CACHE_DTYPES.join(", ")}, found ${JSON.stringify(value)}`);
  return found;
}
