/**
 * config.json text as transformers writes it: two-space JSON where the keys named in `floatKeys`
 * (dotted paths, "rope_parameters.factor") keep a decimal point when their value is whole (30.0,
 * not 30). JavaScript numbers cannot tell 30.0 from 30, but transformers 5's typed configs refuse
 * an int where a float belongs (Gemma 2's final_logit_softcapping), so whoever read the value as a
 * float says so here.
 */
export function configJson(config: Readonly<Record<string, unknown>>, floatKeys: Iterable<string> = []): string {
  const floats = new Set(floatKeys);
  return `${write(config, "", "", floats)}\n`;
}

function write(value: unknown, path: string, indent: string, floats: ReadonlySet<string>): string {
  if (typeof value === "number") {
    const text = JSON.stringify(value);
    return floats.has(path) && Number.isInteger(value) && !/e/i.test(text) ? `${text}.0` : text;
  }
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    return `[\n${value.map((v) => `${inner}${write(v, path, inner, floats)}`).join(",\n")}\n${indent}]`;
  }
  // as JSON.stringify: undefined and functions are left out
  const entries = Object.entries(value).filter(([, v]) => v !== undefined && typeof v !== "function");
  if (entries.length === 0) return "{}";
  const item = ([k, v]: [string, unknown]) => `${inner}${JSON.stringify(k)}: ${write(v, path ? `${path}.${k}` : k, inner, floats)}`;
  return `{\n${entries.map(item).join(",\n")}\n${indent}}`;
}
