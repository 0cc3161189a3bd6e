import { LayerArgumentError } from "../errors.js";
import { Linear } from "../linear.js";
import type { Module } from "../module.js";
import { OutputHead } from "../output_head.js";
import type { AdaptableLayer } from "./lora_layer.js";
import { compilePattern, type ResolvedLoraConfig } from "./config.js";

/** Every module under `root` with its dotted name (an unnamed child adds no level, as in namedParameters). */
export function namedModules(root: Module): [string, Module][] {
  const out: [string, Module][] = [];
  const seen = new Set<Module>();
  const visit = (module: Module, path: string) => {
    for (const [name, child] of module.namedChildren()) {
      if (seen.has(child)) continue;
      seen.add(child);
      const childPath = name ? (path ? `${path}.${name}` : name) : path;
      if (name) out.push([childPath, child]);
      visit(child, childPath);
    }
  };
  visit(root, "");
  return out;
}

/** Layers LoRA can adapt: Linear, and the output head (lm_head, a Linear in transformers). */
function adaptable(m: Module): m is Module & AdaptableLayer {
  return m instanceof Linear || m instanceof OutputHead;
}

/**
 * The layers a config adapts, by name, with peft's rules (check_target_module_exists): excluded
 * names first; a string target is a regex over the whole name ("all-linear": every Linear, not the
 * output head, as peft leaves out the output embedding); a list matches a name equal to an entry,
 * or ending in "." + entry, the latter then filtered by layersToTransform. A target that names
 * something other than a Linear or the head is an error, and so is a config that matches nothing.
 */
export function findLoraTargets(root: Module, config: ResolvedLoraConfig): [string, AdaptableLayer][] {
  const modules = namedModules(root);
  const targets = config.targetModules;
  const allLinear = typeof targets === "string" && targets.toLowerCase() === "all-linear";
  const matches = modules.filter(([name, m]) => isTarget(config, name) && (!allLinear || m instanceof Linear));
  const notLinear = matches.filter(([, m]) => !adaptable(m));
  if (notLinear.length && !allLinear) {
    // A regex may sweep in containers on its way; a named target must be a Linear.
    const named = typeof targets === "string" ? [] : notLinear;
    if (named.length) {
      const [name, m] = named[0]!;
      throw new LayerArgumentError(
        `LoRA: target ${JSON.stringify(name)} is a ${m.constructor.name}; adapters go on Linear layers and the output head (${named.length} such target(s))`,
      );
    }
  }
  const linear = matches.filter((entry): entry is [string, Module & AdaptableLayer] => adaptable(entry[1]));
  if (linear.length === 0) {
    const available = [...new Set(modules.filter(([, m]) => m instanceof Linear).map(([n]) => n.split(".").pop()!))];
    throw new LayerArgumentError(
      `LoRA: targetModules ${JSON.stringify(targets)} matched no Linear layer of the model${
        typeof targets === "string" ? " (a string is a regular expression the whole name must match; a list matches by name)" : ""
      }; its Linear layers are named ${available.map((n) => JSON.stringify(n)).join(", ")}`,
    );
  }
  return linear;
}

function isTarget(config: ResolvedLoraConfig, name: string): boolean {
  const exclude = config.excludeModules;
  if (exclude !== null) {
    if (typeof exclude === "string") {
      if (compilePattern(exclude, "LoRA: excludeModules").test(name)) return false;
    } else if (exclude.some((e) => name === e || name.endsWith(`.${e}`))) return false;
  }
  const targets = config.targetModules;
  if (typeof targets === "string") {
    if (targets.toLowerCase() === "all-linear") return true;
    return compilePattern(targets, "LoRA: targetModules").test(name);
  }
  if (targets.includes(name)) return true;
  if (!targets.some((t) => name.endsWith(`.${t}`))) return false;
  const layers = config.layersToTransform;
  if (layers === null || (Array.isArray(layers) && layers.length === 0)) return true;
  const index = layerIndex(name, config.layersPattern);
  if (index === null) return false;
  return typeof layers === "number" ? index === layers : (layers as readonly number[]).includes(index);
}

/** The first numbered level of a name ("model.layers.3.mlp" -> 3), or the one after layersPattern. */
function layerIndex(name: string, pattern: string | readonly string[] | null): number | null {
  const patterns = pattern === null ? [] : typeof pattern === "string" ? [pattern] : pattern;
  if (patterns.length === 0) {
    const m = /^.*?\.[^.]*\.(\d+)\./.exec(name);
    return m ? Number(m[1]) : null;
  }
  for (const p of patterns) {
    const m = compilePattern(p, "LoRA: layersPattern", (x) => `^(?:|.*?\\.)${x}\\.(\\d+)\\.`).exec(name);
    if (m) return Number(m[1]);
  }
  return null;
}
