import { readFile } from "node:fs/promises";
import { crossEntropy } from "@llm/layers";
import { noGrad, tensor, tidy } from "@llm/tensor";
import { LOAD_HELP, LOAD_OPTIONS, numberOption, parse, positiveInteger } from "../args.js";
import { type Io, UsageError } from "../io.js";
import { loadModelSource } from "../load.js";
import type { Command } from "../main.js";

export const evaluate: Command = {
  summary: "perplexity of a text file",
  help: `Usage: llm eval SOURCE --text FILE [--context N] [--stride N] [--json]

The model's loss on the file's tokens (nats per token) and its perplexity, computed as the
Hugging Face perplexity guide does: windows of --context tokens (default: the model's context, at
most 1024) moving by --stride (default: the context, i.e. no overlap); each token is scored once,
with as much earlier text as its window holds. The first token has nothing before it and is not scored.

  --text FILE    the text to score
  --context N    tokens per window
  --stride N     tokens each window moves by (smaller: more context per token, slower)
  --json         print the figures as JSON

${LOAD_HELP}`,
  async run(args: string[], io: Io) {
    const { values, positionals } = parse("eval", args, {
      ...LOAD_OPTIONS,
      text: { type: "string" },
      context: { type: "string" },
      stride: { type: "string" },
      json: { type: "boolean" },
    });
    if (!values.text) throw new UsageError("expected --text FILE: the text to score");
    const text = await readFile(values.text as string, "utf8").catch((e: Error) => {
      throw new UsageError(`--text: cannot read ${values.text}: ${e.message}`);
    });
    const model = await loadModelSource(positionals[0], values, io);
    try {
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
      const figures = { tokens: ids.length, scored, context, stride, lossNatsPerToken: mean, perplexity: Math.exp(mean), seconds };
      if (values.json) io.stdout.write(`${JSON.stringify(figures)}\n`);
      else
        io.stdout.write(
          `${scored} tokens scored (of ${ids.length}; windows of ${context}, stride ${stride}): loss ${mean.toFixed(4)} nats per token, perplexity ${Math.exp(mean).toFixed(3)} (${seconds.toFixed(1)} s)\n`,
        );
    } finally {
      model.dispose();
    }
  },
};
