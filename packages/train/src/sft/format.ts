import { TrainError } from "../errors.js";
import type { ChatMessage } from "./dataset.js";

/**
 * Renders a conversation as the model's text. A chat template plugs in here:
 * `{ render: (messages, o) => applyChatTemplate(messages, { addGenerationPrompt: o.addGenerationPrompt }) }`.
 */
export interface ConversationFormatter {
  /** The conversation as text; with addGenerationPrompt, followed by what opens the assistant's next turn. */
  render(messages: readonly ChatMessage[], options: { addGenerationPrompt: boolean }): string;
}

export interface PlainFormatterOptions {
  /** The label written before each role's turn (default System / User / Assistant; others as they are). */
  labels?: Readonly<Record<string, string>>;
  /** Ends every turn (default "\n"). */
  endOfTurn?: string;
}

/**
 * Plain prompt/response formatting, for models without a chat template:
 * "User: ...\nAssistant: ...\n". The generation prompt is "Assistant:", so the assistant's trained
 * text is " <reply>\n" (its first word keeps its space, and the line end is learned as the stop).
 */
export function plainFormatter(options: PlainFormatterOptions = {}): ConversationFormatter {
  const labels: Record<string, string> = { system: "System", user: "User", assistant: "Assistant", ...options.labels };
  const end = options.endOfTurn ?? "\n";
  const label = (role: string) => labels[role] ?? role;
  return {
    render(messages, { addGenerationPrompt }) {
      const turns = messages.map((m) => `${label(m.role)}: ${m.content}${end}`).join("");
      return addGenerationPrompt ? `${turns}${label("assistant")}:` : turns;
    },
  };
}

/** A piece of an example's text, and whether the loss counts its tokens. */
export interface TextSegment {
  text: string;
  train: boolean;
}

/**
 * Splits a rendered conversation into what the model reads and what it learns: each assistant
 * turn is the text between render(turns before it, with the generation prompt) and render(turns up
 * to it). Works with any formatter that renders a conversation as its prefixes, as chat templates do.
 */
export function conversationSegments(
  formatter: ConversationFormatter,
  messages: readonly ChatMessage[],
  where = "conversation",
): TextSegment[] {
  const segments: TextSegment[] = [];
  let rendered = "";
  let assistantTurns = 0;
  messages.forEach((m, i) => {
    if (m.role !== "assistant") return;
    assistantTurns++;
    const prompt = formatter.render(messages.slice(0, i), { addGenerationPrompt: true });
    const full = formatter.render(messages.slice(0, i + 1), { addGenerationPrompt: false });
    if (!prompt.startsWith(rendered) || !full.startsWith(prompt)) {
      throw new TrainError(
        `${where}: turn ${i}: the formatter does not render the conversation as its prefixes (the text up to the assistant's turn ${JSON.stringify(
          prompt.slice(-40),
        )} is not where the text with the turn begins), so the assistant's tokens cannot be told apart`,
      );
    }
    if (prompt.length > rendered.length) segments.push({ text: prompt.slice(rendered.length), train: false });
    segments.push({ text: full.slice(prompt.length), train: true });
    rendered = full;
  });
  if (assistantTurns === 0)
    throw new TrainError(`${where}: no assistant turn to learn from (roles: ${messages.map((m) => m.role).join(", ")})`);
  const whole = formatter.render(messages, { addGenerationPrompt: false });
  if (whole.startsWith(rendered) && whole.length > rendered.length) segments.push({ text: whole.slice(rendered.length), train: false });
  return segments;
}
