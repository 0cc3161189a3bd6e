import { TrainError } from "../errors.js";
import { parseJsonLines } from "../jsonl.js";

/** One turn of a conversation. */
// A type, not an interface: chat templates take messages with an index signature (any extra
// field), which a type literal satisfies and an interface does not.
export type ChatMessage = {
  role: string;
  content: string;
};

/**
 * A supervised fine-tuning example, in one of two forms: a conversation (trained on the
 * assistant's turns) or a prompt and its completion (trained on the completion).
 */
export type SftExample = { kind: "chat"; messages: ChatMessage[] } | { kind: "completion"; prompt: string; completion: string };

/** ShareGPT's speaker names. */
const SHAREGPT_ROLES: Readonly<Record<string, string>> = {
  human: "user",
  user: "user",
  gpt: "assistant",
  assistant: "assistant",
  system: "system",
};

/**
 * One record of an SFT dataset, in the shapes people have:
 *  - `{"messages": [{"role": "user", "content": ...}, {"role": "assistant", ...}]}` (chat; TRL's
 *    "conversational"), or ShareGPT's `{"conversations": [{"from": "human", "value": ...}, ...]}`;
 *  - `{"prompt": "...", "completion": "..."}` (strings), or with message lists for both (TRL's
 *    conversational prompt-completion);
 *  - Alpaca's `{"instruction": ..., "input": ..., "output": ...}`: a user turn (the instruction, then
 *    the input after a blank line when there is one) and the assistant's output;
 *  - `{"text": ...}`: plain text, trained on every token.
 * `where` (a file and line) is named in errors.
 */
export function sftExample(record: unknown, where = "example"): SftExample {
  if (record === null || typeof record !== "object" || Array.isArray(record)) {
    throw new TrainError(`${where}: expected a JSON object, found ${describe(record)}`);
  }
  const r = record as Record<string, unknown>;
  if ("messages" in r) return { kind: "chat", messages: messages(r.messages, `${where}: messages`) };
  if ("conversations" in r) return { kind: "chat", messages: shareGpt(r.conversations, `${where}: conversations`) };
  if ("prompt" in r || "completion" in r) {
    if (typeof r.prompt === "string" && typeof r.completion === "string")
      return { kind: "completion", prompt: r.prompt, completion: r.completion };
    if (Array.isArray(r.prompt) && Array.isArray(r.completion)) {
      return { kind: "chat", messages: [...messages(r.prompt, `${where}: prompt`), ...messages(r.completion, `${where}: completion`)] };
    }
    throw new TrainError(
      `${where}: expected "prompt" and "completion" both strings or both message lists, found ${describe(r.prompt)} and ${describe(r.completion)}`,
    );
  }
  if ("instruction" in r || "output" in r) {
    const instruction = string(r.instruction, `${where}: instruction`);
    const input = r.input === undefined || r.input === null ? "" : string(r.input, `${where}: input`);
    const output = string(r.output, `${where}: output`);
    return {
      kind: "chat",
      messages: [
        { role: "user", content: input ? `${instruction}\n\n${input}` : instruction },
        { role: "assistant", content: output },
      ],
    };
  }
  if ("text" in r) return { kind: "completion", prompt: "", completion: string(r.text, `${where}: text`) };
  throw new TrainError(
    `${where}: expected one of "messages", "conversations", "prompt"/"completion", "instruction"/"input"/"output" or "text", found keys ${Object.keys(
      r,
    )
      .map((k) => JSON.stringify(k))
      .join(", ")}`,
  );
}

/** Every non-empty line of a JSON Lines file as an SftExample; errors name the source and line. */
export function parseSftJsonl(text: string, source = "dataset.jsonl"): SftExample[] {
  return parseJsonLines(text, source, sftExample);
}

function messages(value: unknown, where: string): ChatMessage[] {
  if (!Array.isArray(value)) throw new TrainError(`${where}: expected a list of messages, found ${describe(value)}`);
  return value.map((m, i) => {
    const at = `${where}[${i}]`;
    if (m === null || typeof m !== "object") throw new TrainError(`${at}: expected {"role", "content"}, found ${describe(m)}`);
    const { role, content } = m as Record<string, unknown>;
    return { role: string(role, `${at}.role`), content: string(content, `${at}.content`) };
  });
}

function shareGpt(value: unknown, where: string): ChatMessage[] {
  if (!Array.isArray(value)) throw new TrainError(`${where}: expected a list of turns, found ${describe(value)}`);
  return value.map((m, i) => {
    const at = `${where}[${i}]`;
    const turn = (m ?? {}) as Record<string, unknown>;
    const from = string(turn.from, `${at}.from`);
    const role = SHAREGPT_ROLES[from];
    if (!role) throw new TrainError(`${at}.from: expected "human", "gpt" or "system", found ${JSON.stringify(from)}`);
    return { role, content: string(turn.value, `${at}.value`) };
  });
}

function string(value: unknown, where: string): string {
  if (typeof value !== "string") throw new TrainError(`${where}: expected a string, found ${describe(value)}`);
  return value;
}

function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  return typeof value === "object" ? "an object" : `${typeof value} ${JSON.stringify(value)}`;
}
