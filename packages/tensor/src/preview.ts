/**
 * A short JSON-like preview of any value for error messages, safe on whatever a file held:
 * JSON.stringify recurses and overflows the stack on a value nested a few thousand deep (which
 * JSON.parse reads without trouble), and prints all of a huge one. This descends at most 3
 * levels, shows at most 8 items per level and stops at `max` characters.
 */
export function previewJson(value: unknown, max = 80): string {
  if (value === undefined) return "nothing";
  const text = write(value, 0, max + 1);
  return text.length > max ? `${text.slice(0, max - 3)}...` : text;
}

function write(v: unknown, depth: number, budget: number): string {
  if (v === null || typeof v === "boolean") return String(v);
  if (typeof v === "number") return Number.isFinite(v) ? String(v) : String(v);
  if (typeof v === "string") return JSON.stringify(v.length > budget ? v.slice(0, budget) : v);
  if (typeof v === "bigint") return `${v}n`;
  if (typeof v !== "object") return typeof v;
  const array = Array.isArray(v);
  const [open, close] = array ? ["[", "]"] : ["{", "}"];
  const entries: [string | null, unknown][] = array
    ? (v as unknown[]).slice(0, 8).map((x) => [null, x])
    : Object.keys(v as object)
        .slice(0, 8)
        .map((k) => [k, (v as Record<string, unknown>)[k]]);
  const total = array ? (v as unknown[]).length : Object.keys(v as object).length;
  if (total === 0) return `${open}${close}`;
  if (depth >= 3) return `${open}...${close}`;
  let out = open;
  for (const [i, [key, item]] of entries.entries()) {
    if (out.length > budget) break;
    out += `${i > 0 ? "," : ""}${key === null ? "" : `${JSON.stringify(key)}:`}${write(item, depth + 1, budget - out.length)}`;
  }
  if (total > entries.length) out += ",...";
  return `${out}${close}`;
}

/** How deeply a JSON value nests (a scalar is 0, [] is 1), counted without recursion; stops past `limit`. */
export function jsonDepth(value: unknown, limit = Infinity): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== "object" || v === null) continue;
    const d = depth + 1;
    if (d > deepest) deepest = d;
    if (deepest > limit) return deepest;
    for (const child of Array.isArray(v) ? v : Object.values(v)) if (typeof child === "object" && child !== null) stack.push([child, d]);
  }
  return deepest;
}
