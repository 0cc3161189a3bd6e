import { createRequire } from "node:module";
import { chat } from "./commands/chat.js";
import { convert } from "./commands/convert.js";
import { evaluate } from "./commands/eval.js";
import { generate } from "./commands/generate.js";
import { info } from "./commands/info.js";
import { tokenize } from "./commands/tokenize.js";
import { train } from "./commands/train.js";
import { type Io, UsageError } from "./io.js";

export interface Command {
  summary: string;
  help: string;
  run(args: string[], io: Io): Promise<void>;
}

export const COMMANDS: Record<string, Command> = { generate, chat, tokenize, train, eval: evaluate, convert, info };

const USAGE = `llm: language models from the command line

Usage: llm <command> [options]   (llm <command> --help for its options)

Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(10)}${c.summary}`)
  .join("\n")}

A SOURCE is a model folder, the http(s) URL of one, or a Hugging Face Hub id (org/name).`;

/** Runs the command line; returns the exit code. Errors are one line on stderr, never a stack (LLM_DEBUG=1 shows it). */
export async function main(argv: string[], io: Io): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    io.stdout.write(`${USAGE}\n`);
    return name === undefined ? 1 : 0;
  }
  if (name === "--version" || name === "-v") {
    const pkg = createRequire(import.meta.url)("../package.json") as { version: string };
    io.stdout.write(`${pkg.version}\n`);
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    io.stderr.write(`llm: unknown command ${JSON.stringify(name)}; expected one of ${Object.keys(COMMANDS).join(", ")} (llm --help)\n`);
    return 2;
  }
  if (args.includes("--help") || args.includes("-h")) {
    io.stdout.write(`${command.help}\n`);
    return 0;
  }
  try {
    await command.run(args, io);
    return 0;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    io.stderr.write(`llm ${name}: ${message.split("\n")[0]}\n`);
    if (process.env.LLM_DEBUG && error instanceof Error) io.stderr.write(`${error.stack}\n`);
    return error instanceof UsageError ? 2 : 1;
  }
}
