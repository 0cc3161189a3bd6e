// Why run.mjs draws its weights N(0, 0.1): a GLM can fill a blank from its context only by learning to
// attend to the blank's neighbours, and from small weights that is slow. Here the answer is fully
// given by the left neighbour (sentences are chains t -> (7t + 3) mod 40 of 40 ids, one token blanked),
// and the same 2-layer GLM (width 64) is trained from std 0.02 or 0.1; the held-out Part B loss says
// how much of it has been learned (0 when every first token and [eop] is right).
//
//   node examples/glm-blank-infilling/neighbour_task.mjs [--std S] [--steps N]
import { parseArgs } from "node:util";
import { createModel } from "@llm/models";
import { Rng } from "@llm/tensor";
import { AdamW, Trainer, collateGlm, evaluateLoss, glmExample, glmLoss } from "@llm/train";

const { values: args } = parseArgs({ options: { std: { type: "string", default: "0.02" }, steps: { type: "string", default: "150" } } });
const special = { pad: 0, mask: 1, sop: 2, eop: 3 };
const next = (t) => (((t - 8) * 7 + 3) % 40) + 8;
const sentence = (rng) => {
  const s = [8 + rng.int(40)];
  for (let n = 8 + rng.int(20); s.length < n; ) s.push(next(s.at(-1)));
  return s;
};
const batch = (rng, size) =>
  collateGlm(
    Array.from({ length: size }, () => {
      const s = sentence(rng);
      return glmExample(s, [{ start: 1 + rng.int(s.length - 2), length: 1 }], special);
    }),
    special,
  );
const model = createModel(
  {
    model_type: "glm",
    vocab_size: 48,
    hidden_size: 64,
    num_layers: 2,
    num_attention_heads: 4,
    max_sequence_length: 64,
    block_position_encoding: true,
    initializer_range: Number(args.std),
  },
  { seed: 0 },
);
let drawn = 0;
const held = [batch(new Rng(1e6), 64)];
await new Trainer({
  model,
  optimizer: new AdamW(model.parameters(), { lr: 3e-3, betas: [0.9, 0.95] }),
  data: { next: () => batch(new Rng(drawn++), 32), state: () => ({ drawn }), restore: (s) => (drawn = s.drawn) },
  loss: glmLoss,
  totalSteps: Number(args.steps),
  clipNorm: 1,
  evaluate: () => evaluateLoss(model, held, glmLoss),
  evalEvery: 25,
}).run();
