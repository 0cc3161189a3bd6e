/** Base class of every error @llm/layers throws on bad input. */
export class LayerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A layer was built or called with a value it cannot use (a head count, a shape, an option). */
export class LayerArgumentError extends LayerError {}

export interface ShapeMismatch {
  readonly key: string;
  readonly expected: readonly number[];
  readonly found: readonly number[];
}

/**
 * loadStateDict found tensors that do not fit the module: every problem is listed by name, so
 * one error tells the whole story of a wrong checkpoint.
 */
export class StateDictError extends LayerError {
  constructor(
    readonly missing: readonly string[],
    readonly unexpected: readonly string[],
    readonly mismatched: readonly ShapeMismatch[],
    source?: string,
  ) {
    const parts: string[] = [];
    if (missing.length) parts.push(`missing keys: ${listKeys(missing)}`);
    if (unexpected.length) parts.push(`unexpected keys: ${listKeys(unexpected)}`);
    for (const m of mismatched) {
      parts.push(`${m.key}: expected shape [${m.expected.join(",")}], found [${m.found.join(",")}]`);
    }
    super(`${source ? `${source}: ` : ""}state dict does not fit the model: ${parts.join("; ")}`);
  }
}

function listKeys(keys: readonly string[]): string {
  const shown = keys.slice(0, 12).join(", ");
  return keys.length > 12 ? `${shown} (and ${keys.length - 12} more)` : shown;
}
