import {
  GENERATION_HELP,
  GENERATION_OPTIONS,
  generationOptions,
  COMPUTE_HELP,
  COMPUTE_OPTIONS,
  LOAD_HELP,
  LOAD_OPTIONS,
  parse,
} from "../args.js";
import { type Io, UsageError } from "../io.js";
import { readAll } from "../stdin.js";
import { loadModelSource } from "../load.js";
import type { Command } from "../main.js";

export const generate: Command = {
  summary: "continue a prompt (streams the text)",
  help: `Usage: llm generate SOURCE [--prompt TEXT] [options]

Streams the text that follows the prompt (--prompt, or standard input when it is not given).

  -p, --prompt TEXT   the prompt
  --chat              wrap the prompt as a user message with the model's chat template

${GENERATION_HELP}

${COMPUTE_HELP}

${LOAD_HELP}`,
  async run(args: string[], io: Io) {
    const { values, positionals } = parse("generate", args, {
      ...LOAD_OPTIONS,
      ...COMPUTE_OPTIONS,
      ...GENERATION_OPTIONS,
      prompt: { type: "string", short: "p" },
      chat: { type: "boolean" },
    });
    if (values.prompt === undefined && io.stdin.isTTY) throw new UsageError("expected --prompt TEXT, or the prompt on standard input");
    const prompt = (values.prompt as string | undefined) ?? (await readAll(io.stdin));
    const model = await loadModelSource(positionals[0], values, io);
    try {
      const options = generationOptions(values);
      const input = values.chat ? model.tokenizeChat([{ role: "user", content: prompt }], { addGenerationPrompt: true }) : prompt;
      for await (const piece of model.generate(input, options)) io.stdout.write(piece);
      io.stdout.write("\n");
    } finally {
      model.dispose();
    }
  },
};
