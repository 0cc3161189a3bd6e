/** Base class of every error @llm/models throws on a bad config or checkpoint. */
export class ModelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** config.json holds a value we cannot build a model from (or an unknown model_type). */
export class ModelConfigError extends ModelError {}

/** The checkpoint's files or tensors do not fit the model its config describes. */
export class CheckpointError extends ModelError {}
