// GPT-J, assembled here from @llm/layers parts (no @llm/models), loaded from the fixture's
// model.safetensors as Hugging Face saved it, and compared with the reference logits and tokens.
//
//   token embedding -> n_layer x [ LayerNorm -> (attention with interleaved rotary on the first
//   rotary_dim dims of each head) + (MLP fc_in -> gelu_new -> fc_out), both added to the input ]
//   -> LayerNorm -> lm_head (own weight and bias)
import { compareWithReference, readFixture } from "@llm/example-fixture-compare";
import { gptj } from "./gptj.mjs";

const { config, weights, reference } = await readFixture("gptj");
const model = gptj(config);
model.loadStateDict(weights, { source: "fixtures/models/gptj/model.safetensors", take: true });
console.log(
  `GPT-J from @llm/layers: ${model.parameters().length} tensors, ${model.parameters().reduce((n, p) => n + p.size, 0)} parameters`,
);
compareWithReference(model.eval(), reference);
