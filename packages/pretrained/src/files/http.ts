import { DownloadError } from "../errors.js";
import { digestsFromEtag, normalizeEtag, type ExpectedFile } from "./digest.js";

/** How files are fetched: the fetch to use, headers (a token), an abort signal. */
export interface HttpOptions {
  /** Default: globalThis.fetch. */
  fetch?: typeof fetch;
  /** Sent to the first host of each request (an Authorization header is not sent on to another origin a redirect points at). */
  headers?: Readonly<Record<string, string>>;
  signal?: AbortSignal;
}

/** A response, the headers of every hop that led to it (first to last), and its final URL. */
export interface Fetched {
  response: Response;
  hops: Headers[];
  url: string;
}

const MAX_REDIRECTS = 10;

/**
 * fetch that keeps each redirect's headers where the runtime lets it (Node: redirects followed by
 * hand; the Hub's redirect to its file store carries the file's sha256 and size, X-Linked-Etag and
 * X-Linked-Size). Browsers follow redirects themselves and show only the last response.
 */
export async function fetchKeepingHops(url: string, init: RequestInit, http: HttpOptions): Promise<Fetched> {
  const fetchFn = http.fetch ?? globalThis.fetch;
  const headers = new Headers({ ...http.headers, ...(init.headers as Record<string, string> | undefined) });
  if (!followsByHand()) {
    const response = await fetchFn(url, { ...init, headers, signal: http.signal, redirect: "follow" });
    return { response, hops: [response.headers], url: response.url || url };
  }
  const origin = new URL(url).origin;
  const hops: Headers[] = [];
  let current = url;
  for (let hop = 0; ; hop++) {
    const response = await fetchFn(current, { ...init, headers, signal: http.signal, redirect: "manual" });
    hops.push(response.headers);
    const location = response.headers.get("location");
    if (response.status < 300 || response.status >= 400 || !location) return { response, hops, url: current };
    await response.body?.cancel();
    if (hop === MAX_REDIRECTS) throw new DownloadError(`${url}: more than ${MAX_REDIRECTS} redirects`, url, response.status);
    current = new URL(location, current).href;
    if (new URL(current).origin !== origin) headers.delete("authorization");
  }
}

/** Node (and other server runtimes) show redirect responses; browsers give an opaque one. */
function followsByHand(): boolean {
  return typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === "string";
}

/** The size and digests a server promised for a file, from the headers of its hops. */
export function expectedFile(fetched: Fetched): ExpectedFile {
  const [first] = fetched.hops;
  const last = fetched.hops.at(-1)!;
  const linkedEtag = fetched.hops.map((h) => h.get("x-linked-etag")).find((v) => v) ?? null;
  const linkedSize = fetched.hops.map((h) => h.get("x-linked-size")).find((v) => v) ?? null;
  const fromLinked = digestsFromEtag(linkedEtag);
  const fromLast = digestsFromEtag(last.get("etag"));
  const redirected = fetched.hops.length > 1 || first !== last;
  // content-length is the encoded size when the body is compressed
  const plainLength = last.get("content-encoding") ? null : last.get("content-length");
  const size = integerOrNull(linkedSize) ?? integerOrNull(plainLength);
  return {
    size,
    sha256: fromLinked.sha256 ?? fromLast.sha256,
    // the Hub's ETag of a file served directly (not an LFS file) is its git blob id
    gitSha1: linkedEtag || redirected ? null : fromLast.gitSha1,
  };
}

/** What the response says about the repository: its commit, and the ETag as given. */
export function responseFacts(fetched: Fetched): { commit: string | null; etag: string | null } {
  const commit = fetched.hops.map((h) => h.get("x-repo-commit")).find((v) => v) ?? null;
  const etag = normalizeEtag(fetched.hops.map((h) => h.get("x-linked-etag")).find((v) => v) ?? fetched.hops.at(-1)!.get("etag"));
  return { commit, etag };
}

function integerOrNull(value: string | null): number | null {
  if (value === null || !/^\d+$/.test(value.trim())) return null;
  return Number(value);
}

/**
 * True when a response says the file is not there (so an optional file such as
 * generation_config.json is simply absent). A missing repository or revision is not that: it is
 * an error the caller must see.
 */
export function isMissingFile(response: Response): boolean {
  if (response.status !== 404) return false;
  const code = response.headers.get("x-error-code");
  return code === null || code === "EntryNotFound";
}

/** A failed response as a DownloadError that says what to do. */
export async function responseError(url: string, response: Response): Promise<DownloadError> {
  const code = response.headers.get("x-error-code");
  const hubMessage = response.headers.get("x-error-message");
  await response.body?.cancel().catch(() => {});
  const status = `${response.status}${response.statusText ? ` ${response.statusText}` : ""}`;
  let hint = "";
  if (code === "RepoNotFound" || response.status === 401)
    hint = ": no such repository, or it is private or gated (pass a token: options.token, or HF_TOKEN in Node)";
  else if (code === "GatedRepo") hint = ": the repository is gated; accept its terms on the Hub and pass a token";
  else if (code === "RevisionNotFound") hint = ": no such revision (branch, tag or commit)";
  else if (response.status === 403) hint = ": access refused (a token without access to this repository?)";
  return new DownloadError(`${url}: the server answered ${status}${hint}${hubMessage ? ` (${hubMessage})` : ""}`, url, response.status);
}
