import { TokenizerError, describe } from "./errors.js";
import { findCatastrophicBacktracking } from "./regex_safety.js";

export interface TranslateOptions {
  /**
   * Case folding used inside `(?i:...)` groups. "ascii" adds the other ASCII case (what
   * Hugging Face tokenizers.js does); "unicode" also adds the characters Unicode simple case
   * folding maps to an ASCII letter (ſ for s, K (Kelvin) for k), as Rust's `regex` crate does
   * for tiktoken.
   */
  caseFold?: "ascii" | "unicode";
  /** where the pattern came from, for error messages */
  source?: string;
}

const WORD = "\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}";

function foldLetter(c: string, mode: "ascii" | "unicode"): string {
  const lower = c.toLowerCase();
  const upper = c.toUpperCase();
  let chars = lower + upper;
  if (mode === "unicode") {
    if (lower === "s") chars += "\u017f";
    if (lower === "k") chars += "\u212a";
  }
  return chars;
}

/**
 * Translates a pattern written for Oniguruma (Hugging Face tokenizers) or Rust's regex crate
 * (tiktoken) into a JavaScript `u`-mode pattern with the same meaning: `\s` is Unicode
 * White_Space (JavaScript's `\s` adds U+FEFF and lacks U+0085), `\d` is `\p{Nd}`, `\w` is the
 * Unicode word class, and `(?i:...)` groups (which JavaScript in Node 20 lacks) have their
 * letters expanded by hand. Constructs JavaScript cannot express exactly throw TokenizerError.
 */
export function translateRegex(pattern: string, options: TranslateOptions = {}): string {
  const mode = options.caseFold ?? "ascii";
  const where = options.source ?? "pattern";
  const fail = (what: string, at: number): never => {
    throw new TokenizerError(
      `${where}: unsupported regex construct ${what} at index ${at} in ${JSON.stringify(pattern)}; ` +
        `expected a pattern JavaScript can run exactly (Unicode classes, groups, look-arounds, (?i:...) groups)`,
    );
  };
  let out = "";
  let inClass = false;
  // stack of group kinds: true = case-insensitive group
  const groups: boolean[] = [];
  const groupStarts: number[] = [];
  const ci = () => groups.includes(true);
  let atomStart = -1; // where in `out` the last complete atom starts (for possessive quantifiers)
  let classStart = -1;
  let captures = 0;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    // possessive quantifier X?+ X*+ X++ X{n,m}+ : emulated exactly with an atomic look-ahead and back-reference
    if (!inClass && (c === "+" || c === "*" || c === "?" || c === "}") && pattern[i + 1] === "+" && atomStart >= 0) {
      let q = c;
      if (c === "}") {
        const open = out.lastIndexOf("{");
        q = `${out.slice(open)}}`;
        out = out.slice(0, open);
      }
      const atom = out.slice(atomStart);
      out = `${out.slice(0, atomStart)}(?=(${atom}${q}))\\${++captures}`;
      atomStart = -1;
      i++;
      continue;
    }
    if (c === "{" && !inClass) {
      const m = /^\{\d*(,\d*)?\}/.exec(pattern.slice(i));
      if (m) {
        // quantifier: keep atomStart pointing at the quantified atom
        const close = i + m[0].length - 1;
        out += pattern.slice(i, close);
        i = close - 1;
        continue;
      }
    }
    if (!inClass && c !== "+" && c !== "*" && c !== "?" && c !== "}" && c !== ")" && c !== "|") atomStart = out.length;
    if (c === "|") atomStart = -1;
    if (c === "\\") {
      const n = pattern[i + 1];
      if (n === undefined) fail("a trailing backslash", i);
      i++;
      switch (n) {
        case "s":
          out += inClass ? "\\p{White_Space}" : "\\p{White_Space}";
          break;
        case "S":
          out += "\\P{White_Space}";
          break;
        case "d":
          out += "\\p{Nd}";
          break;
        case "D":
          out += "\\P{Nd}";
          break;
        case "w":
          out += inClass ? WORD : `[${WORD}]`;
          break;
        case "W":
          if (inClass) fail("\\W inside a character class", i - 1);
          out += `[^${WORD}]`;
          break;
        case "A":
          out += "^";
          break;
        case "z":
          out += "$";
          break;
        case "G":
        case "K":
        case "X":
        case "R":
          fail(`\\${n}`, i - 1);
          break;
        case "p":
        case "P": {
          const m = /^\{\^?([A-Za-z_= ]+)\}/.exec(pattern.slice(i + 1));
          if (!m) {
            // single-letter form \pL
            const l = pattern[i + 1];
            if (l && /[A-Za-z]/.test(l)) {
              out += `\\${n}{${l}}`;
              i++;
              break;
            }
            fail(`\\${n} without a property name`, i - 1);
          }
          const negated = m![0][1] === "^";
          const name = m![1]!;
          const kind = negated ? (n === "p" ? "P" : "p") : n;
          out += `\\${kind}{${name}}`;
          i += m![0].length;
          break;
        }
        case "x": {
          const m = /^\{([0-9A-Fa-f]+)\}/.exec(pattern.slice(i + 1));
          if (m) {
            out += `\\u{${m[1]}}`;
            i += m[0].length;
          } else {
            out += "\\x";
          }
          break;
        }
        default:
          if (/[A-Za-z]/.test(n!) && ci() && !"nrtfvbBuc0".includes(n!)) fail(`\\${n} in a (?i:) group`, i - 1);
          if (/[0-9]/.test(n!) && n !== "0") fail("a back-reference", i - 1);
          out += `\\${n}`;
      }
      continue;
    }
    if (inClass) {
      if (c === "]") {
        inClass = false;
        out += c;
        atomStart = classStart;
      } else if (c === "[") {
        if (pattern[i + 1] === ":") fail("a POSIX bracket class", i);
        out += "\\[";
      } else if (ci() && /[A-Za-z]/.test(c)) {
        if (pattern[i + 1] === "-" || pattern[i - 1] === "-") fail("a letter range inside a (?i:) group", i);
        out += foldLetter(c, mode);
      } else if (c === "&" && pattern[i + 1] === "&") {
        fail("a class intersection (&&)", i);
      } else {
        out += c;
      }
      continue;
    }
    if (c === "[") {
      inClass = true;
      classStart = out.length;
      out += c;
      if (pattern[i + 1] === "^") {
        out += "^";
        i++;
      }
      if (pattern[i + 1] === "]") {
        out += "\\]";
        i++;
      }
      continue;
    }
    if (c === "(") {
      if (pattern[i + 1] === "?") {
        const rest = pattern.slice(i + 2);
        if (rest.startsWith(":") || rest.startsWith("=") || rest.startsWith("!") || rest.startsWith("<=") || rest.startsWith("<!")) {
          groups.push(false);
          groupStarts.push(out.length);
          out += "(";
          continue;
        }
        const m = /^([imsx]*)(?:-([imsx]*))?([:)])/.exec(rest);
        if (m && m[1] === "i" && !m[2] && m[3] === ":") {
          groups.push(true);
          groupStarts.push(out.length);
          out += "(?:";
          i += 1 + m[0].length;
          continue;
        }
        fail(`"(?${rest.slice(0, 4)}"`, i);
      }
      groups.push(false);
      groupStarts.push(out.length);
      out += "(?:"; // captures would change String.split semantics; groups never need capturing here
      continue;
    }
    if (c === ")") {
      groups.pop();
      out += c;
      atomStart = groupStarts.pop() ?? -1;
      continue;
    }
    if (ci() && /[A-Za-z]/.test(c)) {
      out += `[${foldLetter(c, mode)}]`;
      continue;
    }
    out += c;
  }
  return out;
}

/** Compiles a translated pattern with the `gu` flags, naming the source on failure. */
export function compileRegex(pattern: string, options: TranslateOptions = {}): RegExp {
  if (typeof pattern !== "string")
    throw new TokenizerError(`${options.source ?? "pattern"}: expected a regex string, found ${describe(pattern)}`);
  // JavaScript's engine cannot be stopped mid-match: a pattern that can backtrack exponentially is refused up front
  const catastrophic = findCatastrophicBacktracking(pattern);
  if (catastrophic)
    throw new TokenizerError(
      `${options.source ?? "pattern"}: regex ${describe(pattern)} can take time exponential in the text's length (${catastrophic}); ` +
        "expected a pattern without nested or overlapping repetition",
    );
  const js = translateRegex(pattern, options);
  try {
    return new RegExp(js, "gu");
  } catch (e) {
    throw new TokenizerError(
      `${options.source ?? "pattern"}: regex ${JSON.stringify(pattern)} could not be compiled for JavaScript ` +
        `(translated to ${JSON.stringify(js)}): ${(e as Error).message}`,
    );
  }
}
