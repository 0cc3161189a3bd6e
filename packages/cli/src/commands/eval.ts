import { readFile } from "node:fs/promises";
import { crossEntropy } from "@llm/layers";
import { loadLoraAdapter } from "@llm/models/node";
import type { Pretrained } from "@llm/pretrained";
import { noGrad, tensor, tidy } from "@llm/tensor";
import { COMPUTE_HELP, COMPUTE_OPTIONS, LOAD_HELP, LOAD_OPTIONS, numberOption, parse, positiveInteger } from "../args.js";
import { type Io, UsageError } from "../io.js";
import { loadModelSource } from "../load.js";
import type { Command } from "../main.js";
import { parseMultipleChoiceJsonl, scoreMultipleChoice, type MultipleChoiceDoc } from "@llm/train";

export const evaluate: Command = {
  summary: "perplexity of a text file, accuracy on a multiple-choice task",
  help: `Usage: llm eval SOURCE [--text FILE] [--task FILE.jsonl] [--adapter DIR] [--context N] [--stride N] [--json]

The model's loss on the file's tokens (nats per token) and its perplexity, computed as the
Hugging Face perplexity guide does: windows of --context tokens (default: the model's context, at
most 1024) moving by --stride (default: the context, i.e. no overlap); each token is scored once,
with as much earlier text as its window holds. The first token has nothing before it and is not scored.

Multiple choice (--task): each choice's log-likelihood after the question, as lm-evaluation-harness
scores its multiple_choice tasks: acc is the share of questions whose most likely choice is the
right one, acc_norm the same with each log-likelihood divided by the choice's length in characters
(each with its standard error). One JSON object a line, in the shapes tasks come in: the question
under "context", "query", "question", "ctx" or "prompt"; the choices under "choices", "endings" or
"options" (or ARC's {"text", "label"}); the answer under "gold", "label", "answer" or "answerKey" (an
index, a letter, or the answer's text).

  --text FILE    the text to score
  --task FILE    a multiple-choice task (JSONL)
  --shots K      K solved questions from the task (or --pool) before each question (default 0)
  --pool FILE    where the solved questions come from (JSONL; default: the task itself, never the question asked)
  --seed N       which solved questions are drawn (default 1234)
  --limit N      score the first N questions only
  --adapter DIR  a LoRA adapter folder (peft's adapter_config.json + adapter_model.safetensors) on the model
  --context N    tokens per window
  --stride N     tokens each window moves by (smaller: more context per token, slower)
  --json         print the figures as JSON

${COMPUTE_HELP}

${LOAD_HELP}`,
  async run(args: string[], io: Io) {
    const { values, positionals } = parse("eval", args, {
      ...LOAD_OPTIONS,
      ...COMPUTE_OPTIONS,
      text: { type: "string" },
      context: { type: "string" },
      stride: { type: "string" },
      json: { type: "boolean" },
      task: { type: "string" },
      shots: { type: "string" },
      pool: { type: "string" },
      seed: { type: "string" },
      limit: { type: "string" },
      adapter: { type: "string" },
    });
    if (!values.text && !values.task)
      throw new UsageError("expected --text FILE (perplexity), --task FILE.jsonl (multiple choice), or both");
    const readOption = (name: string) =>
      readFile(values[name] as string, "utf8").catch((e: Error) => {
        throw new UsageError(`--${name}: cannot read ${values[name]}: ${e.message}`);
      });
    const text = values.text ? await readOption("text") : null;
    const task = values.task ? parseMultipleChoiceJsonl(await readOption("task"), values.task as string) : null;
    const pool = values.pool ? parseMultipleChoiceJsonl(await readOption("pool"), values.pool as string) : null;
    const model = await loadModelSource(positionals[0], values, io);
    try {
      if (values.adapter) await loadLoraAdapter(model.model, values.adapter as string);
      model.model.eval();
      const perplexity = text === null ? null : await textPerplexity(model, text, values);
      const multipleChoice = task === null ? null : await multipleChoiceAccuracy(model, task, pool, values);
      if (values.json) {
        io.stdout.write(`${JSON.stringify({ ...perplexity, ...(multipleChoice ? { multipleChoice } : {}) })}\n`);
        return;
      }
      if (perplexity) {
        const { scored, tokens, context, stride, lossNatsPerToken: mean, seconds } = perplexity;
        io.stdout.write(
          `${scored} tokens scored (of ${tokens}; windows of ${context}, stride ${stride}): loss ${mean.toFixed(4)} nats per token, perplexity ${Math.exp(mean).toFixed(3)} (${seconds.toFixed(1)} s)\n`,
        );
      }
      if (multipleChoice) {
        const m = multipleChoice;
        const pct = (x: number) => (100 * x).toFixed(1);
        io.stdout.write(
          `${m.task}: ${m.n} questions, ${m.shots}-shot: acc ${pct(m.acc)}% +- ${pct(m.accStderr)}, acc_norm ${pct(m.accNorm)}% +- ${pct(m.accNormStderr)} (chance ${pct(m.chance)}%; ${m.seconds.toFixed(1)} s)\n`,
        );
      }
    } finally {
      model.dispose();
    }
  },
};

/** The Hugging Face guide's sliding-window perplexity, each token scored once. */
async function textPerplexity(model: Pretrained, text: string, values: Record<string, unknown>) {
  const started = performance.now();
  const ids = model.encode(text);
  if (ids.length < 2) throw new UsageError(`--text: expected at least 2 tokens, found ${ids.length}`);
  const context = numberOption(values, "context", Math.min(1024, model.model.config.maxPositions), positiveInteger);
  if (context < 2 || context > model.model.config.maxPositions)
    throw new UsageError(`--context: expected 2..${model.model.config.maxPositions} (the model's positions), found ${context}`);
  const stride = numberOption(values, "stride", context, (n) => positiveInteger(n) && n <= context);
  let nll = 0;
  let scored = 0;
  let previousEnd = 0;
  for (let begin = 0; begin < ids.length; begin += stride) {
    const end = Math.min(begin + context, ids.length);
    // tokens new in this window (the first window's first token has no context and is not scored)
    const fresh = end - Math.max(previousEnd, begin + 1);
    if (fresh > 0) {
      const window = ids.slice(begin, end);
      const loss = noGrad(() =>
        tidy(() => {
          const logits = model.model.forward(tensor([window.slice(0, -1)], { dtype: "int32" }));
          const targets = window.slice(1).map((id, i) => (i >= window.length - 1 - fresh ? id : -100));
          return crossEntropy(logits, tensor([targets], { dtype: "int32" }), { ignoreIndex: -100 });
        }),
      );
      nll += (await loss.item()) * fresh;
      loss.dispose();
      scored += fresh;
    }
    previousEnd = end;
    if (end === ids.length) break;
  }
  const mean = nll / scored;
  const seconds = (performance.now() - started) / 1000;
  return { tokens: ids.length, scored, context, stride, lossNatsPerToken: mean, perplexity: Math.exp(mean), seconds };
}

/** lm-evaluation-harness's multiple_choice scoring (acc, acc_norm) over the task's questions. */
async function multipleChoiceAccuracy(
  model: Pretrained,
  task: MultipleChoiceDoc[],
  pool: MultipleChoiceDoc[] | null,
  values: Record<string, unknown>,
) {
  const started = performance.now();
  const limit = numberOption(values, "limit", task.length, positiveInteger);
  const shots = numberOption(values, "shots", 0, (n) => Number.isInteger(n) && n >= 0);
  const seed = numberOption(values, "seed", 1234, (n) => Number.isInteger(n));
  const docs = task.slice(0, limit);
  const eot = model.endOfTurnIds()[0];
  const result = await scoreMultipleChoice(model.model, model.tokenizer, docs, {
    maxLength: model.model.config.maxPositions,
    ...(eot === undefined ? {} : { prefixId: eot }),
    ...(shots > 0 ? { fewShot: { k: shots, pool: pool ?? task, seed } } : {}),
  });
  const { scores: _, ...figures } = result;
  const chance = docs.reduce((a, d) => a + 1 / d.choices.length, 0) / docs.length;
  return { task: values.task as string, shots, ...figures, chance, seconds: (performance.now() - started) / 1000 };
}
