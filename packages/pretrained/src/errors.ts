/** Base class of every error @llm/pretrained throws on bad input or a failed load. */
export class PretrainedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A source, option or argument that cannot be used: the message names it, what was expected and what was found. */
export class PretrainedArgumentError extends PretrainedError {}

/** A file could not be fetched, or what arrived is not what the server said it would be (size, sha256). */
export class DownloadError extends PretrainedError {
  constructor(
    message: string,
    /** The file's URL. */
    readonly url: string,
    /** The HTTP status, where the server answered with one. */
    readonly status?: number,
  ) {
    super(message);
  }
}

/** Offline mode (or no network) and the file is not in the cache. */
export class NotCachedError extends PretrainedError {
  constructor(
    message: string,
    readonly url: string,
  ) {
    super(message);
  }
}

/** A chat template that cannot be parsed or rendered, or raised an exception of its own (raise_exception). */
export class ChatTemplateError extends PretrainedError {}

/** The abort signal's reason, as fetch throws it (an AbortError DOMException unless the caller gave one). */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  signal?.throwIfAborted();
}
