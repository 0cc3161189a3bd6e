/**
 * Writes type_maps.json: the type llama-quantize gives each tensor of a Q3_K_S, Q3_K_M, Q3_K_L,
 * Q4_K_S, Q4_K_M, Q5_K_S and Q5_K_M file, for every fixture architecture llama.cpp runs, made 256
 * wide (so every row is whole super-blocks) with 8 layers (so the layer rules, first/last eighth and every third, all show),
 * for a llama 384 wide (rows that are not whole super-blocks: the fallbacks) and one of 80 layers
 * (what llama.cpp calls a 70B and gives attn_v more bits). Each model (random
 * weights from createModel; only the types are kept) is written as float32 GGUF by us and quantized
 * by llama_quantize.c, llama.cpp's own llama_model_quantize. Run from the repository root after
 * `pnpm install && pnpm build` (needs gcc):
 *
 *     node packages/models/test/golden/llama_quantize/make_type_maps.mjs
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createModel } from "@llm/models";
import { saveGGUF } from "@llm/models/node";
import { openGGUFFile } from "@llm/tensor/node";
import { toGGUFMetadata, trainBPE } from "@llm/tokenizer";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "../../../../..");
const FTYPES = { q4_k_m: 15, q4_k_s: 14, q5_k_m: 17, q5_k_s: 16, q3_k_s: 11, q3_k_m: 12, q3_k_l: 13 };

/** A fixture's config with its widths, depth and vocabulary set, whatever the architecture names them. */
function widened(name, width, layers) {
  const c = JSON.parse(readFileSync(join(root, "fixtures/models", name, "config.json"), "utf8"));
  const set = (keys, value) => {
    for (const k of keys) if (k in c && c[k] !== null) c[k] = value;
  };
  set(["hidden_size", "n_embd", "d_model"], width);
  set(["intermediate_size", "ffn_hidden_size"], 2 * width);
  set(["num_hidden_layers", "n_layer", "n_layers"], layers);
  set(["head_dim"], width / 4);
  set(["query_pre_attn_scalar"], width / 4);
  if (Array.isArray(c.layer_types)) c.layer_types = Array.from({ length: layers }, (_, i) => c.layer_types[i % c.layer_types.length]);
  c.vocab_size = 300;
  return c;
}

const CASES = [
  ...["llama", "qwen2", "qwen3", "phi3", "gemma2", "gpt2", "gpt_neox", "falcon", "bloom", "mpt"].map((n) => [n, n, 256, 8]),
  ["llama_384", "llama", 384, 8],
  // llama.cpp's LLM_TYPE_70B: 80 layers with shared key/value heads
  ["llama_80", "llama", 256, 80],
];

const scratch = mkdtempSync(join(tmpdir(), "llama-quantize-types-"));
try {
  const text = readFileSync(join(root, "fixtures/README.md"), "utf8");
  const tokenizer = toGGUFMetadata(trainBPE([text], { vocabSize: 300, specialTokens: ["<|endoftext|>"] }));
  const bins = join(realpathSync(join(root, "packages/models/node_modules/node-llama-cpp")), "../@node-llama-cpp/linux-x64/bins/linux-x64");
  const exe = join(scratch, "llama_quantize");
  execFileSync("gcc", ["-O1", "-o", exe, join(here, "llama_quantize.c"), "-ldl"], { stdio: "inherit" });
  const maps = {};
  for (const [label, fixture, width, layers] of CASES) {
    const config = widened(fixture, width, layers);
    const model = createModel(config, { seed: 1 });
    const f32 = join(scratch, `${label}.gguf`);
    await saveGGUF(model, f32, { tokenizer });
    maps[label] = { config, types: {} };
    for (const [ftype, id] of Object.entries(FTYPES)) {
      const out = join(scratch, `${label}-${ftype}.gguf`);
      execFileSync(exe, [f32, out, String(id)], { stdio: "ignore", env: { ...process.env, LD_LIBRARY_PATH: bins } });
      const file = await openGGUFFile(out);
      maps[label].types[ftype] = Object.fromEntries([...file.tensors].map(([name, info]) => [name, info.type]));
      rmSync(out);
    }
    rmSync(f32);
    console.log(`${label}: ${Object.keys(maps[label].types.q4_k_m).length} tensors`);
  }
  // one line a case and mix: the quantized tensors' types (the rest stay F32)
  const lines = Object.entries(maps).map(([label, { config, types }]) => {
    const kept = Object.fromEntries(
      Object.entries(types).map(([f, t]) => [f, Object.fromEntries(Object.entries(t).filter(([, v]) => v !== "F32"))]),
    );
    return `${JSON.stringify(label)}: ${JSON.stringify({ config, types: kept })}`;
  });
  writeFileSync(join(here, "type_maps.json"), `{\n${lines.join(",\n")}\n}\n`);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
