import { loadTokenizerFrom } from "@llm/pretrained";
import { fromTokenizerJson, type Tokenizer } from "@llm/tokenizer";
import { readFile } from "node:fs/promises";
import { LOAD_HELP, LOAD_OPTIONS, parse } from "../args.js";
import { type Io, UsageError } from "../io.js";
import { sourceFiles } from "../load.js";
import type { Command } from "../main.js";
import { readAll } from "../stdin.js";

export const tokenize: Command = {
  summary: "text to token ids, or ids back to text (--decode)",
  help: `Usage: llm tokenize SOURCE [--text TEXT | --decode IDS] [options]

SOURCE is a model folder, URL or Hub id (its tokenizer.json and tokenizer_config.json; the weights
are not read), or a tokenizer.json file. Prints the ids as a JSON array (the text from --text, or
standard input), or with --decode the text of comma- or space-separated ids.

  --text TEXT          the text to encode
  --decode IDS         decode these ids instead
  --no-special         do not add special tokens (bos/eos) when encoding; skip them when decoding
  --tokens             print each token beside its id, one per line

${LOAD_HELP}`,
  async run(args: string[], io: Io) {
    const { values, positionals } = parse("tokenize", args, {
      ...LOAD_OPTIONS,
      text: { type: "string" },
      decode: { type: "string" },
      "no-special": { type: "boolean" },
      tokens: { type: "boolean" },
    });
    const source = positionals[0];
    if (!source) throw new UsageError("expected a SOURCE: a model folder, URL, Hub id or tokenizer.json file");
    const tokenizer: Tokenizer = source.endsWith(".json")
      ? fromTokenizerJson(await readFile(source), source)
      : (await loadTokenizerFrom(await sourceFiles(source, values, io, true))).tokenizer;
    const special = !values["no-special"];
    if (values.decode !== undefined) {
      const ids = String(values.decode)
        .split(/[\s,[\]]+/)
        .filter(Boolean)
        .map((s) => {
          const id = Number(s);
          if (!Number.isInteger(id)) throw new UsageError(`--decode: expected integer ids, found ${JSON.stringify(s)}`);
          return id;
        });
      io.stdout.write(`${tokenizer.decode(ids, { skipSpecialTokens: !special })}\n`);
      return;
    }
    const text = (values.text as string | undefined) ?? (await readAll(io.stdin));
    const ids = tokenizer.encode(text, { addSpecialTokens: special });
    if (values.tokens) {
      for (const id of ids) io.stdout.write(`${id}\t${JSON.stringify(tokenizer.idToToken(id))}\n`);
      return;
    }
    io.stdout.write(`${JSON.stringify(ids)}\n`);
  },
};
