import type { TensorRule } from "./architectures.js";

/** A rule's template as a matcher: "{i}" is a layer number. */
function pattern(template: string): RegExp {
  return new RegExp(`^${template.replace(/[.]/g, "\\.").replace("{i}", "(\\d+)")}$`);
}

/** The rule that names `name` on one side ("ours" or "gguf"), and the name on the other side. */
export function translateName(
  rules: readonly TensorRule[],
  name: string,
  from: "ours" | "gguf",
): { rule: TensorRule; name: string } | null {
  const to = from === "ours" ? "gguf" : "ours";
  for (const rule of rules) {
    const m = pattern(rule[from]).exec(name);
    if (m) return { rule, name: m[1] === undefined ? rule[to] : rule[to].replace("{i}", m[1]) };
  }
  return null;
}
