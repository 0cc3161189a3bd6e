import { noGrad, tensor, tidy } from "@llm/tensor";
import { describe, expect, it } from "vitest";
import {
  collateSft,
  conversationSegments,
  IGNORE_INDEX,
  packExamples,
  parseSftJsonl,
  plainFormatter,
  SftBatches,
  sftExample,
  sftLoss,
  tokenizeSft,
  type ConversationFormatter,
  type TokenizedExample,
} from "../src/index.js";
import { fixture } from "./fixtures.js";

/** One token per character (its code): every token's text is readable in a test. */
const chars = { encode: (s: string) => [...s].map((c) => c.charCodeAt(0)) };
const text = (ids: readonly number[]) => String.fromCharCode(...ids);

describe("SFT datasets in the shapes people have", () => {
  it("messages, ShareGPT conversations, prompt/completion (strings or messages), Alpaca, text", () => {
    const lines = [
      {
        messages: [
          { role: "user", content: "hi" },
          { role: "assistant", content: "hello" },
        ],
      },
      {
        conversations: [
          { from: "human", value: "hi" },
          { from: "gpt", value: "hello" },
        ],
      },
      { prompt: "2+2=", completion: "4" },
      { prompt: [{ role: "user", content: "hi" }], completion: [{ role: "assistant", content: "hello" }] },
      { instruction: "Add.", input: "2 2", output: "4" },
      { instruction: "Say hi.", input: "", output: "hi" },
      { text: "plain" },
    ];
    const examples = parseSftJsonl(lines.map((l) => JSON.stringify(l)).join("\n"));
    const chat = {
      kind: "chat",
      messages: [
        { role: "user", content: "hi" },
        { role: "assistant", content: "hello" },
      ],
    };
    expect(examples).toEqual([
      chat,
      chat,
      { kind: "completion", prompt: "2+2=", completion: "4" },
      chat,
      {
        kind: "chat",
        messages: [
          { role: "user", content: "Add.\n\n2 2" },
          { role: "assistant", content: "4" },
        ],
      },
      {
        kind: "chat",
        messages: [
          { role: "user", content: "Say hi." },
          { role: "assistant", content: "hi" },
        ],
      },
      { kind: "completion", prompt: "", completion: "plain" },
    ]);
  });

  it("a bad record names the line and what was expected", () => {
    expect(() => parseSftJsonl('{"prompt": "a", "completion": "b"}\n{"question": 1}', "data.jsonl")).toThrow(
      /data.jsonl:2: expected one of "messages", "conversations", "prompt"\/"completion", "instruction"\/"input"\/"output" or "text", found keys "question"/,
    );
    expect(() => parseSftJsonl("{oops", "d.jsonl")).toThrow(/d.jsonl:1: not valid JSON/);
    expect(() => sftExample({ messages: [{ role: "user" }] }, "x")).toThrow(/x: messages\[0\].content: expected a string, found nothing/);
    expect(() => sftExample({ conversations: [{ from: "bot", value: "a" }] })).toThrow(
      /from: expected "human", "gpt" or "system", found "bot"/,
    );
  });
});

describe("assistant-only loss, token by token", () => {
  const conversation = [
    { role: "system", content: "Be brief." },
    { role: "user", content: "Hi?" },
    { role: "assistant", content: "Yo." },
    { role: "user", content: "Bye?" },
    { role: "assistant", content: "Ok." },
  ];

  it("the plain formatter's text, and which parts are the assistant's", () => {
    const f = plainFormatter();
    expect(f.render(conversation, { addGenerationPrompt: false })).toBe(
      "System: Be brief.\nUser: Hi?\nAssistant: Yo.\nUser: Bye?\nAssistant: Ok.\n",
    );
    expect(conversationSegments(f, conversation)).toEqual([
      { text: "System: Be brief.\nUser: Hi?\nAssistant:", train: false },
      { text: " Yo.\n", train: true },
      { text: "User: Bye?\nAssistant:", train: false },
      { text: " Ok.\n", train: true },
    ]);
  });

  it("every token is trained exactly when it is the assistant's (plain formatter, and a ChatML-style template)", () => {
    // What a chat template renders (Qwen/ChatML layout), written out: the interface a template plugs into.
    const chatml: ConversationFormatter = {
      render: (messages, { addGenerationPrompt }) =>
        messages.map((m) => `<|im_start|>${m.role}\n${m.content}<|im_end|>\n`).join("") +
        (addGenerationPrompt ? "<|im_start|>assistant\n" : ""),
    };
    for (const [formatter, expected] of [
      [plainFormatter(), [" Yo.\n", " Ok.\n"]],
      [chatml, ["Yo.<|im_end|>\n", "Ok.<|im_end|>\n"]],
    ] as const) {
      const { ids, train } = tokenizeSft({ kind: "chat", messages: conversation }, { tokenizer: chars, formatter, bosId: 1, eosId: 2 });
      expect(ids.length).toBe(train.length);
      expect(ids[0]).toBe(1);
      expect(train[0]).toBe(false);
      // Runs of trained tokens, read back as text: exactly the assistant's replies (+ EOS after the last).
      const runs: number[][] = [];
      train.forEach((t, i) => {
        if (t && (i === 0 || !train[i - 1])) runs.push([]);
        if (t) runs.at(-1)!.push(ids[i]!);
      });
      expect(runs.map((r) => text(r.filter((id) => id !== 2)))).toEqual(expected);
      expect(ids.at(-1)).toBe(2);
      expect(train.at(-1)).toBe(true);
      // and everything untrained is the rest of the rendered text
      const untrained = text(ids.filter((_, i) => !train[i] && i > 0));
      expect(untrained + expected.join("")).toHaveLength(formatter.render(conversation, { addGenerationPrompt: false }).length);
    }
  });

  it("a prompt/completion pair trains the completion only; a formatter that is not prefix-consistent is refused", () => {
    const { ids, train } = tokenizeSft({ kind: "completion", prompt: "2+2=", completion: "4" }, { tokenizer: chars, eosId: 0 });
    expect(text(ids.slice(0, 5))).toBe("2+2=4");
    expect(train).toEqual([false, false, false, false, true, true]);
    const reordering: ConversationFormatter = { render: (m, o) => (o.addGenerationPrompt ? "X" : "") + m.map((x) => x.content).join("|") };
    expect(() => conversationSegments(reordering, conversation)).toThrow(/does not render the conversation as its prefixes/);
    expect(() => conversationSegments(plainFormatter(), [{ role: "user", content: "hi" }])).toThrow(/no assistant turn to learn from/);
  });
});

describe("packing", () => {
  const examples: TokenizedExample[] = [
    { ids: [10, 11, 12, 13, 14], train: [false, false, true, true, true] },
    { ids: [20, 21, 22], train: [false, true, true] },
    { ids: [30, 31, 32, 33, 34, 35, 36], train: [false, false, false, true, true, true, true] },
    { ids: [40, 41], train: [false, true] },
    { ids: [50, 51, 52, 53], train: [false, true, true, true] },
  ];

  it("best-fit decreasing fills rows; attention never crosses examples, positions restart, targets stay inside, token by token", () => {
    const { rows, fill, truncated, targets } = packExamples(examples, { seqLen: 8, padId: 0 });
    expect(truncated).toBe(0);
    expect(rows.length).toBe(3); // 21 tokens in rows of 8
    expect(fill).toBeCloseTo(21 / 24, 10);
    const batch = collateSft(rows);
    const S = 8;
    let counted = 0;
    rows.forEach((row, b) => {
      // Recover each example from its segment and check it is one of the inputs, whole.
      const bySegment = new Map<number, number[]>();
      row.segments.forEach((s, t) => s > 0 && bySegment.set(s, [...(bySegment.get(s) ?? []), t]));
      for (const [, slots] of bySegment) {
        const ids = slots.map((t) => row.ids[t]!);
        const original = examples.find((e) => e.ids[0] === ids[0])!;
        expect(ids).toEqual(original.ids);
        slots.forEach((t, k) => {
          expect(row.positions[t]).toBe(k);
          const wanted = k + 1 < ids.length && original.train[k + 1] ? ids[k + 1]! : IGNORE_INDEX;
          expect(row.targets[t], `row ${b} slot ${t}`).toBe(wanted);
          if (wanted !== IGNORE_INDEX) counted++;
        });
      }
      for (let q = 0; q < S; q++) {
        for (let k = 0; k < S; k++) {
          const allowed = batch.mask[(b * S + q) * S + k] === 1;
          expect(allowed, `row ${b}: query ${q} -> key ${k}`).toBe(row.segments[q] === row.segments[k] && k <= q);
        }
        if (row.segments[q] === 0) expect(row.targets[q]).toBe(IGNORE_INDEX);
      }
    });
    expect(targets).toBe(counted);
    expect(batch.count).toBe(counted);
    expect(counted).toBe(3 + 2 + 4 + 1 + 3); // every trained token (an example's first token is never a target)
  });

  it("packed logits equal each example run alone (gpt2: learned positions; llama: rotary; bloom: ALiBi), and so does the loss", async () => {
    for (const name of ["gpt2", "llama", "bloom"]) {
      const { model } = await fixture(name);
      model.eval();
      const { rows } = packExamples(examples, { seqLen: 12, padId: 0 });
      const batch = collateSft(rows);
      noGrad(() =>
        tidy(() => {
          const t = { ids: tensor(batch.ids, { shape: [rows.length, 12], dtype: "int32" }) };
          const packed = model.forward(t.ids, {
            positionIds: tensor(batch.positions, { shape: [rows.length, 12], dtype: "int32" }),
            attentionMask: tensor(batch.mask, { shape: [rows.length, 12, 12], dtype: "bool" }),
          });
          const packedValues = packed.dataSync();
          const V = packed.shape[2]!;
          let worst = 0;
          rows.forEach((row, b) => {
            let start = 0;
            while (start < 12 && row.segments[start]! > 0) {
              let end = start;
              while (end < 12 && row.segments[end] === row.segments[start]) end++;
              const alone = model.forward(tensor([Array.from(row.ids.slice(start, end))], { dtype: "int32" })).dataSync();
              for (let t = 0; t < end - start; t++) {
                for (let v = 0; v < V; v++)
                  worst = Math.max(worst, Math.abs(alone[t * V + v]! - packedValues[(b * 12 + start + t) * V + v]!));
              }
              start = end;
            }
          });
          expect(worst, name).toBeLessThan(1e-4);
          // The loss of the packed batch is the mean over every example's trained tokens.
          const { sum, count } = sftLoss(model, batch);
          const { rows: single } = packExamples(examples, { seqLen: 12, padId: 0, strategy: "none" });
          const alone = sftLoss(model, collateSft(single));
          expect(count).toBe(alone.count);
          expect(Math.abs(sum.dataSync()[0]! - alone.sum.dataSync()[0]!), name).toBeLessThan(1e-3);
        }),
      );
    }
  });

  it("examples longer than a row are cut and counted; SftBatches is seeded and resumes exactly", () => {
    const { rows, truncated } = packExamples(examples, { seqLen: 4, padId: 0 });
    expect(truncated).toBe(2); // the examples of 5 and 7 tokens
    expect(rows.every((r) => r.ids.length === 4)).toBe(true);
    const a = new SftBatches(rows, { batchSize: 2, seed: 3 });
    const b = new SftBatches(rows, { batchSize: 2, seed: 3 });
    for (let i = 0; i < 5; i++) a.next();
    b.restore(a.state());
    for (let i = 0; i < 7; i++) expect(Array.from(b.next().ids)).toEqual(Array.from(a.next().ids));
    expect(() => packExamples(examples, { seqLen: 1, padId: 0 })).toThrow(/seqLen must be an integer >= 2, got 1/);
  });
});
