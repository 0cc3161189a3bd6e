import type { LanguageModel } from "@llm/layers";
import { Rng } from "@llm/tensor";
import { checkNumber, TrainError } from "../errors.js";
import { parseJsonLines } from "../jsonl.js";
import { encodePair, loglikelihoods, type EvalTokenizer } from "./loglikelihood.js";

/** A multiple-choice question: the text before the answer, the answers, the index of the right one. */
export interface MultipleChoiceDoc {
  context: string;
  choices: string[];
  gold: number;
}

const CONTEXT_KEYS = ["context", "query", "question", "ctx", "prompt"];
const CHOICE_KEYS = ["choices", "endings", "options"];
const GOLD_KEYS = ["gold", "label", "answer", "answerKey"];

/**
 * One record of a multiple-choice JSONL task, in the shapes people have: a context under
 * "context"/"query"/"question"/"ctx"/"prompt"; choices under "choices"/"endings"/"options" (a list, or
 * ARC's {"text": [...], "label": [...]}); the answer under "gold"/"label"/"answer"/"answerKey" as an
 * index (a number or digits, as HellaSwag writes it), a choice label ("B"), or the choice's text.
 */
export function multipleChoiceDoc(record: unknown, where = "doc"): MultipleChoiceDoc {
  if (record === null || typeof record !== "object" || Array.isArray(record)) throw new TrainError(`${where}: expected a JSON object`);
  const r = record as Record<string, unknown>;
  const contextKey = CONTEXT_KEYS.find((k) => typeof r[k] === "string");
  if (!contextKey) throw new TrainError(`${where}: expected the context as a string under one of ${CONTEXT_KEYS.join(", ")}`);
  const choiceKey = CHOICE_KEYS.find((k) => k in r);
  let choices: string[];
  let labels: string[] | null = null;
  const raw = choiceKey ? r[choiceKey] : undefined;
  if (Array.isArray(raw) && raw.every((c) => typeof c === "string")) choices = raw as string[];
  else if (raw && typeof raw === "object" && Array.isArray((raw as { text?: unknown }).text)) {
    choices = (raw as { text: string[] }).text;
    labels = (raw as { label?: string[] }).label ?? null;
  } else throw new TrainError(`${where}: expected a list of choices under one of ${CHOICE_KEYS.join(", ")}`);
  if (choices.length < 2) throw new TrainError(`${where}: expected at least 2 choices, found ${choices.length}`);
  const goldKey = GOLD_KEYS.find((k) => k in r);
  const answer = goldKey ? r[goldKey] : undefined;
  let gold = -1;
  if (typeof answer === "number") gold = answer;
  else if (typeof answer === "string") {
    if (labels) gold = labels.indexOf(answer);
    else if (/^\d+$/.test(answer)) gold = Number(answer);
    else if (choices.includes(answer)) gold = choices.indexOf(answer);
    else if (/^[A-Z]$/.test(answer)) gold = answer.charCodeAt(0) - 65;
  }
  if (!Number.isInteger(gold) || gold < 0 || gold >= choices.length) {
    throw new TrainError(
      `${where}: the answer ${JSON.stringify(answer)} (under ${goldKey ?? GOLD_KEYS.join("/")}) names none of the ${choices.length} choices`,
    );
  }
  return { context: r[contextKey] as string, choices, gold };
}

/** Every non-empty line of a JSONL task; errors name the source and line. */
export function parseMultipleChoiceJsonl(text: string, source = "task.jsonl"): MultipleChoiceDoc[] {
  return parseJsonLines(text, source, multipleChoiceDoc);
}

export interface FewShotOptions {
  /** Solved examples put before each question. */
  k: number;
  /** Where they are drawn from (a training split); a question never gets itself as an example. */
  pool: readonly MultipleChoiceDoc[];
  /** Seeds the draw (default 1234, lm-evaluation-harness's). */
  seed?: number;
}

/**
 * k solved examples drawn from a pool, then the question: lm-evaluation-harness's layout
 * (example text + target delimiter + its right answer, joined and followed by the few-shot delimiter).
 * The draw is seeded: the same seed gives the same examples (our generator, so not lm-eval's own draw).
 */
export class FewShotPrompter {
  private readonly rng: Rng;

  constructor(private readonly options: FewShotOptions & { description?: string; targetDelimiter?: string; fewshotDelimiter?: string }) {
    checkNumber("FewShotPrompter", "k", options.k, (v) => Number.isInteger(v) && v >= 0, "an integer >= 0");
    this.rng = new Rng(options.seed ?? 1234);
  }

  /** The context for `doc` with k examples before it. */
  context(doc: MultipleChoiceDoc): string {
    const { k, pool } = this.options;
    const target = this.options.targetDelimiter ?? " ";
    const between = this.options.fewshotDelimiter ?? "\n\n";
    const candidates = pool.filter(
      (d) => d !== doc && !(d.context === doc.context && d.gold === doc.gold && d.choices.join() === doc.choices.join()),
    );
    if (candidates.length < k)
      throw new TrainError(`FewShotPrompter: ${k} examples asked for, the pool has ${candidates.length} other questions`);
    const shots = this.rng.shuffle([...candidates]).slice(0, k);
    const examples = shots.map((s) => `${s.context}${target}${s.choices[s.gold]}`).join(between);
    return `${this.options.description ?? ""}${k > 0 ? examples + between : ""}${doc.context}`;
  }
}

export interface MultipleChoiceOptions {
  /** Between the context and each choice (default " ", lm-evaluation-harness's target_delimiter). */
  targetDelimiter?: string;
  /** Few-shot examples before each question. */
  fewShot?: FewShotOptions;
  maxLength?: number;
  /** The token an empty context starts from (BOS/EOS). */
  prefixId?: number;
}

/** One question's scores. */
export interface MultipleChoiceScore {
  /** log p(delimiter + choice | context) per choice. */
  logLikelihoods: number[];
  /** argmax of the log-likelihoods. */
  prediction: number;
  /** argmax of log-likelihood / the choice's length in characters. */
  predictionNorm: number;
  gold: number;
}

export interface MultipleChoiceResult {
  /** Fraction of questions whose most likely choice is the right one (lm-evaluation-harness's acc). */
  acc: number;
  /** Its standard error (sample standard deviation / sqrt(n), as lm-evaluation-harness reports). */
  accStderr: number;
  /** The same with each log-likelihood divided by its choice's length in characters (acc_norm). */
  accNorm: number;
  accNormStderr: number;
  n: number;
  scores: MultipleChoiceScore[];
}

/**
 * Scores a multiple-choice task as lm-evaluation-harness's multiple_choice output type does: each
 * choice's log-likelihood after the context, acc from the argmax, acc_norm from the argmax of the
 * log-likelihood per character of the choice.
 */
export async function scoreMultipleChoice(
  model: LanguageModel,
  tokenizer: EvalTokenizer,
  docs: readonly MultipleChoiceDoc[],
  options: MultipleChoiceOptions = {},
): Promise<MultipleChoiceResult> {
  if (docs.length === 0) throw new TrainError("scoreMultipleChoice: expected at least one question, got none");
  const delimiter = options.targetDelimiter ?? " ";
  const prompter = options.fewShot ? new FewShotPrompter(options.fewShot) : null;
  const scores: MultipleChoiceScore[] = [];
  for (const doc of docs) {
    const context = prompter ? prompter.context(doc) : doc.context;
    const requests = doc.choices.map((c) => encodePair(tokenizer, context, delimiter + c, options.prefixId));
    const lls = (await loglikelihoods(model, requests, { maxLength: options.maxLength })).map((r) => r.logLikelihood);
    scores.push({
      logLikelihoods: lls,
      prediction: argmax(lls),
      predictionNorm: argmax(lls.map((ll, i) => ll / [...doc.choices[i]!].length)), // characters, as Python counts them
      gold: doc.gold,
    });
  }
  const acc = scores.map((s) => (s.prediction === s.gold ? 1 : 0));
  const accNorm = scores.map((s) => (s.predictionNorm === s.gold ? 1 : 0));
  return { acc: mean(acc), accStderr: stderr(acc), accNorm: mean(accNorm), accNormStderr: stderr(accNorm), n: scores.length, scores };
}

/** First index of the largest value (numpy's argmax). */
function argmax(values: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

function mean(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

function stderr(values: readonly number[]): number {
  if (values.length < 2) return 0;
  const m = mean(values);
  const variance = values.reduce((a, v) => a + (v - m) ** 2, 0) / (values.length - 1);
  return Math.sqrt(variance / values.length);
}
