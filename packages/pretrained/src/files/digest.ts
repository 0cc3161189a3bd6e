import { sha1 } from "@noble/hashes/legacy";
import { sha256 } from "@noble/hashes/sha2";
import { bytesToHex } from "@noble/hashes/utils";

/** An incremental hash: bytes in as they arrive, the hex digest at the end. */
export interface Hasher {
  update(bytes: Uint8Array): void;
  hex(): string;
}

export type HashAlgorithm = "sha256" | "sha1";

/** Makes a hasher; @llm/pretrained/node passes Node's crypto (faster), browsers use @noble/hashes. */
export type HasherFactory = (algorithm: HashAlgorithm) => Hasher;

export const nobleHasher: HasherFactory = (algorithm) => {
  const h = algorithm === "sha256" ? sha256.create() : sha1.create();
  return { update: (bytes) => void h.update(bytes), hex: () => bytesToHex(h.digest()) };
};

/**
 * What a file's bytes must hash to, as the server said: the Hub gives an LFS file's sha256 (its
 * X-Linked-Etag, or the ETag of the file behind the redirect) and a small file's git blob sha1
 * (its ETag).
 */
export interface ExpectedFile {
  size: number | null;
  sha256: string | null;
  /** sha1 of "blob {size}\0" + the bytes: git's object id of the file. */
  gitSha1: string | null;
}

/** Hashes a download as it streams and checks it against what the server said at the end. */
export class DownloadDigest {
  private readonly sha256: Hasher | null;
  private readonly gitSha1: Hasher | null;
  bytes = 0;

  constructor(
    readonly expected: ExpectedFile,
    makeHasher: HasherFactory,
  ) {
    this.sha256 = expected.sha256 ? makeHasher("sha256") : null;
    // git's id needs the size up front; without one the check is left out
    this.gitSha1 = expected.gitSha1 && expected.size !== null ? makeHasher("sha1") : null;
    this.gitSha1?.update(new TextEncoder().encode(`blob ${expected.size}\0`));
  }

  update(chunk: Uint8Array): void {
    this.bytes += chunk.byteLength;
    this.sha256?.update(chunk);
    this.gitSha1?.update(chunk);
  }

  /**
   * Ends the download: null when the bytes are what was promised, else what differs (for the
   * error message). Call once.
   */
  finish(): string | null {
    const { size, sha256, gitSha1 } = this.expected;
    if (size !== null && this.bytes !== size) return `expected ${size} bytes, found ${this.bytes}`;
    this.foundSha256 = this.sha256?.hex() ?? null;
    if (this.foundSha256 !== null && this.foundSha256 !== sha256) return `expected sha256 ${sha256}, found ${this.foundSha256}`;
    const foundSha1 = this.gitSha1?.hex() ?? null;
    if (foundSha1 !== null && foundSha1 !== gitSha1) return `expected git blob sha1 ${gitSha1}, found ${foundSha1}`;
    return null;
  }

  /** The sha256 of what arrived, where one was computed (after finish()). */
  foundSha256: string | null = null;
}

/** An ETag's value without W/ and quotes. */
export function normalizeEtag(etag: string | null): string | null {
  if (!etag) return null;
  return etag.replace(/^W\//, "").replace(/^"|"$/g, "");
}

const SHA256 = /^[0-9a-f]{64}$/;
const SHA1 = /^[0-9a-f]{40}$/;

/** A 64-hex ETag is a sha256, a 40-hex one a git blob id; anything else says nothing checkable. */
export function digestsFromEtag(etag: string | null): { sha256: string | null; gitSha1: string | null } {
  const value = normalizeEtag(etag)?.toLowerCase() ?? null;
  return { sha256: value && SHA256.test(value) ? value : null, gitSha1: value && SHA1.test(value) ? value : null };
}
