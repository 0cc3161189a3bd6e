import { createInterface } from "node:readline";
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
import type { Io } from "../io.js";
import { loadModelSource } from "../load.js";
import type { Command } from "../main.js";

export const chat: Command = {
  summary: "talk with a chat model (streams replies; the KV cache is kept between turns)",
  help: `Usage: llm chat SOURCE [--system TEXT] [options]

Each line you type is a user message; the reply streams back. On a terminal, "> " asks for input;
with standard input from a pipe or file, each line is a turn and each reply is printed on its own
line. Commands: /reset forgets the conversation, /exit (or end of input) ends it.

  -s, --system TEXT   a system message to begin with

${GENERATION_HELP}

${COMPUTE_HELP}

${LOAD_HELP}`,
  async run(args: string[], io: Io) {
    const { values, positionals } = parse("chat", args, {
      ...LOAD_OPTIONS,
      ...COMPUTE_OPTIONS,
      ...GENERATION_OPTIONS,
      system: { type: "string", short: "s" },
    });
    const model = await loadModelSource(positionals[0], values, io);
    const interactive = io.stdin.isTTY === true && io.stdout.isTTY === true;
    const session = model.chat({ system: values.system as string | undefined, ...generationOptions(values) });
    const lines = createInterface({ input: io.stdin, terminal: false, crlfDelay: Number.POSITIVE_INFINITY });
    const ask = () => interactive && io.stdout.write("> ");
    try {
      ask();
      for await (const line of lines) {
        const text = line.trim();
        if (text === "/exit") break;
        if (text === "/reset") {
          session.reset();
          if (interactive) io.stdout.write("(conversation cleared)\n");
          ask();
          continue;
        }
        if (text === "") {
          ask();
          continue;
        }
        try {
          for await (const piece of session.send(text)) io.stdout.write(piece);
          io.stdout.write("\n");
        } catch (error) {
          // at a terminal a failed turn is said and the conversation goes on; a script stops
          if (!interactive) throw error;
          io.stdout.write(`\n(error: ${(error as Error).message.split("\n")[0]})\n`);
        }
        ask();
      }
    } finally {
      lines.close();
      session.dispose();
      model.dispose();
    }
  },
};
