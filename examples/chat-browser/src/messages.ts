/** What the page and the worker say to each other. */
import type { LoadProgress } from "@llm/pretrained";

export type ToWorker =
  | { type: "load"; source: string; endpoint?: string; revision?: string; backend: "auto" | "webgpu" | "cpu"; maxNewTokens: number }
  | { type: "send"; text: string }
  | { type: "reset" };

export type FromWorker =
  | { type: "progress"; progress: LoadProgress }
  | { type: "ready"; backend: string; location: string; hasTemplate: boolean; seconds: number }
  | { type: "piece"; text: string }
  | { type: "done"; reply: string; cached: number }
  | { type: "error"; message: string };
