/**
 * JSON as Python's `json.dumps(value, indent=2, sort_keys=True)` writes it (how peft writes
 * adapter_config.json): keys sorted at every level, non-ASCII escaped as \uXXXX, no trailing
 * newline, and numbers of `floatKeys` written as Python writes floats (0.0, 1e-05).
 */
export function pythonJson(value: unknown, floatKeys: ReadonlySet<string> = new Set()): string {
  return write(value, "", false, floatKeys);
}

function write(value: unknown, indent: string, isFloat: boolean, floatKeys: ReadonlySet<string>): string {
  if (value === null || value === undefined) return "null";
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "number") return isFloat ? pythonFloat(value) : pythonNumber(value);
  if (typeof value === "string") return quote(value);
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    return `[\n${value.map((v) => inner + write(v, inner, isFloat, floatKeys)).join(",\n")}\n${indent}]`;
  }
  const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (entries.length === 0) return "{}";
  return `{\n${entries.map(([k, v]) => `${inner}${quote(k)}: ${write(v, inner, floatKeys.has(k), floatKeys)}`).join(",\n")}\n${indent}}`;
}

function pythonNumber(n: number): string {
  return Number.isInteger(n) ? String(n) : pythonFloat(n);
}

/** Python's float repr: shortest round-trip digits, exponent form below 1e-4 or from 1e16 on. */
export function pythonFloat(n: number): string {
  if (Number.isNaN(n)) return "NaN";
  if (!Number.isFinite(n)) return n > 0 ? "Infinity" : "-Infinity";
  if (n === 0) return Object.is(n, -0) ? "-0.0" : "0.0";
  const [mantissa, exp] = n.toExponential().split("e") as [string, string];
  const e = Number(exp);
  if (e < -4 || e >= 16) return `${mantissa}e${e < 0 ? "-" : "+"}${String(Math.abs(e)).padStart(2, "0")}`;
  const digits = mantissa.replace("-", "").replace(".", "");
  const sign = n < 0 ? "-" : "";
  if (e < 0) return `${sign}0.${"0".repeat(-e - 1)}${digits}`;
  const whole = digits.padEnd(e + 1, "0");
  const fraction = digits.slice(e + 1);
  return `${sign}${whole.slice(0, e + 1)}.${fraction || "0"}`;
}

function quote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const code = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === "\\") out += "\\\\";
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (ch === "\b") out += "\\b";
    else if (ch === "\f") out += "\\f";
    else if (code < 0x20 || (code >= 0x7f && code <= 0xffff)) out += `\\u${code.toString(16).padStart(4, "0")}`;
    else if (code > 0xffff) {
      // a surrogate pair, each half escaped (ensure_ascii)
      const hi = Math.floor((code - 0x10000) / 0x400) + 0xd800;
      const lo = ((code - 0x10000) % 0x400) + 0xdc00;
      out += `\\u${hi.toString(16)}\\u${lo.toString(16)}`;
    } else out += ch;
  }
  return `${out}"`;
}
