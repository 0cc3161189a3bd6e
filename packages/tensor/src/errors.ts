/** Base class of every error @llm/tensor throws on bad input. */
export class TensorError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Shapes that do not fit: broadcasting, matmul, reshape, concat, axis out of range. */
export class ShapeError extends TensorError {}

/** A tensor of the wrong element type for an op. */
export class DTypeError extends TensorError {}

/** Any other bad argument (a disposed tensor, a bad option value). */
export class ArgumentError extends TensorError {}

export const fmtShape = (shape: readonly number[]): string => `[${shape.join(",")}]`;
