import { createModel } from "@llm/models";
import { Rng } from "@llm/tensor";
import { AdamW, TokenDataLoader, Trainer, decayGroups, languageModelLoss, warmupCosine, type TokenBatch } from "../../src/index.js";

/** A tiny GPT-2 trained a few steps: the same run in the crashing child and in the test that resumes it. */
export const TOTAL_STEPS = 5;

const config = {
  model_type: "gpt2",
  vocab_size: 64,
  n_positions: 32,
  n_embd: 32,
  n_layer: 2,
  n_head: 4,
  activation_function: "gelu_new",
  layer_norm_epsilon: 1e-5,
  tie_word_embeddings: true,
};

const rng = new Rng(9);
const stream = Array.from({ length: 4000 }, (_, i) => (i % 7 === 0 ? rng.int(64) : (i * 5) % 64));

/** The model, optimizer and trainer of the run; `seed` draws the initial weights. */
export function setupRun(seed = 1) {
  const model = createModel(config, { seed });
  const optimizer = new AdamW(decayGroups(model.namedParameters(), 0.1), { lr: 2e-2, betas: [0.9, 0.95] });
  const data = new TokenDataLoader(stream, { batchSize: 4, seqLen: 16, seed: 7 });
  const trainer = new Trainer<TokenBatch>({
    model,
    optimizer,
    data,
    loss: languageModelLoss,
    totalSteps: TOTAL_STEPS,
    schedule: warmupCosine({ warmupSteps: 2, totalSteps: TOTAL_STEPS }),
    clipNorm: 1,
    progress: false,
  });
  return { model, optimizer, trainer };
}
