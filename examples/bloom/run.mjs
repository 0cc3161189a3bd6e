// BLOOM, assembled here from @llm/layers parts (no @llm/models), loaded from the fixture's
// model.safetensors as Hugging Face saved it, and compared with the reference logits and tokens.
//
//   token embedding -> LayerNorm -> n_layer x [ x + attention(LN(x)) with ALiBi biases,
//   then h + MLP(LN(h)) with tanh GELU ] -> LayerNorm -> the token embedding again (tied head)
import { compareWithReference, readFixture } from "@llm/example-fixture-compare";
import { bloom } from "./bloom.mjs";
import { AlibiBias } from "@llm/layers";

const { config, weights, reference } = await readFixture("bloom");
const model = bloom(config);
model.loadStateDict(weights, { source: "fixtures/models/bloom/model.safetensors", take: true });
console.log(
  `BLOOM from @llm/layers: ${model.parameters().length} tensors, ${model.parameters().reduce((n, p) => n + p.size, 0)} parameters, ALiBi slopes ${new AlibiBias(config.n_head).slopes.join(", ")}`,
);
compareWithReference(model.eval(), reference);
