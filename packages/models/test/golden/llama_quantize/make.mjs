/**
 * Writes the golden K-quant files: a float32 llama (weights.mjs: every row whole 256-value
 * super-blocks) with a 300-token BPE trained on fixtures/README.md, saved as GGUF by us, then
 * quantized by llama.cpp itself (llama_quantize.c calling node-llama-cpp 3.21.1's libllama) into
 * llama_q4_k_m.gguf, llama_q5_k_m.gguf, llama_q3_k_m.gguf, llama_q2_k.gguf, llama_iq4_xs.gguf,
 * llama_iq4_nl.gguf and llama_iq3_m.gguf (IQ3_S and Q4_K: IQ3_XXS and the IQ2/IQ1 types need an
 * importance matrix): real llama-quantize output, its type mix included.
 * Run from the repository root after `pnpm install && pnpm build` (needs gcc):
 *
 *     node packages/models/test/golden/llama_quantize/make.mjs
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createModel } from "@llm/models";
import { saveGGUF } from "@llm/models/node";
import { tensor } from "@llm/tensor";
import { toGGUFMetadata, trainBPE } from "@llm/tokenizer";
import { CONFIG, goldenValues } from "./weights.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "../../../../..");
const scratch = mkdtempSync(join(tmpdir(), "llama-quantize-"));
try {
  const model = createModel(CONFIG);
  const state = model.stateDict();
  model.loadStateDict(
    Object.fromEntries(Object.entries(state).map(([k, p]) => [k, tensor(goldenValues(k, p.size, p.rank)).reshape(p.shape)])),
  );
  const text = readFileSync(join(root, "fixtures/README.md"), "utf8");
  const tokenizer = trainBPE([text], { vocabSize: CONFIG.vocab_size, specialTokens: ["<|endoftext|>"] });
  const f32 = join(scratch, "llama_f32.gguf");
  await saveGGUF(model, f32, { tokenizer: toGGUFMetadata(tokenizer), name: "llama-quantize golden" });

  const llamaCpp = realpathSync(join(root, "packages/models/node_modules/node-llama-cpp"));
  const bins = join(llamaCpp, "../@node-llama-cpp/linux-x64/bins/linux-x64");
  const exe = join(scratch, "llama_quantize");
  execFileSync("gcc", ["-O1", "-o", exe, join(here, "llama_quantize.c"), "-ldl"], { stdio: "inherit" });
  for (const [file, ftype] of [
    ["llama_q4_k_m.gguf", 15],
    ["llama_q5_k_m.gguf", 17],
    ["llama_q3_k_m.gguf", 12],
    ["llama_q2_k.gguf", 10],
    ["llama_iq4_xs.gguf", 30],
    ["llama_iq4_nl.gguf", 25],
    ["llama_iq3_m.gguf", 27],
  ]) {
    execFileSync(exe, [f32, join(here, file), String(ftype)], { stdio: "inherit", env: { ...process.env, LD_LIBRARY_PATH: bins } });
    console.log(`wrote ${file}`);
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
