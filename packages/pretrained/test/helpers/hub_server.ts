/**
 * A local server with the Hugging Face Hub's URL layout and headers, over folders on disk:
 *   GET /{org}/{name}/resolve/{revision}/{file}
 * - an LFS file (*.safetensors) answers 302 to /lfs/{sha256} with X-Linked-Etag (its sha256),
 *   X-Linked-Size and X-Repo-Commit, as the Hub does; the file store answers with the bytes and
 *   ETag = sha256
 * - any other file answers 200 with ETag = its git blob sha1 and X-Repo-Commit
 * - a missing file: 404 with X-Error-Code EntryNotFound; an unknown repository: 401 RepoNotFound;
 *   an unknown revision: 404 RevisionNotFound
 * - Range requests (206), CORS for browser pages
 * and a plain static layout, /static/{org}/{name}/{file}, with Content-Length only.
 * Every request is logged; faults can be set per file (a truncated body, flipped bytes).
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join, relative } from "node:path";

export type Fault = "truncate" | "corrupt" | "hang" | "error";

export interface HubServer {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  /** Every request: method, path (with query), range header. */
  readonly requests: { method: string; path: string; range: string | null; authorization: string | null }[];
  /** file name -> faults to apply, one per request for it (consumed in order). */
  readonly faults: Map<string, Fault[]>;
  readonly commit: string;
  close(): Promise<void>;
}

interface RepoFile {
  bytes: Buffer;
  sha256: string;
  gitSha1: string;
}

const CORS = {
  "access-control-allow-origin": "*",
  "access-control-allow-headers": "range, authorization, accept-encoding",
  "access-control-expose-headers":
    "etag, x-linked-etag, x-linked-size, x-repo-commit, x-error-code, x-error-message, content-range, content-length, accept-ranges",
};

export function isLfs(name: string): boolean {
  return name.endsWith(".safetensors") || name.endsWith(".gguf");
}

export async function serveHub(repos: Record<string, string>, commit = "0123456789abcdef0123456789abcdef01234567"): Promise<HubServer> {
  const files = new Map<string, Map<string, RepoFile>>();
  const blobs = new Map<string, Buffer>();
  for (const [id, dir] of Object.entries(repos)) {
    const repo = new Map<string, RepoFile>();
    for (const path of walk(dir)) {
      const bytes = readFileSync(path);
      const file = {
        bytes,
        sha256: createHash("sha256").update(bytes).digest("hex"),
        gitSha1: createHash("sha1").update(`blob ${bytes.length}\0`).update(bytes).digest("hex"),
      };
      repo.set(relative(dir, path).split("\\").join("/"), file);
      blobs.set(file.sha256, bytes);
    }
    files.set(id, repo);
  }
  const requests: HubServer["requests"] = [];
  const faults = new Map<string, Fault[]>();
  const hanging = new Set<ServerResponse>();

  const send = (req: IncomingMessage, res: ServerResponse, name: string, bytes: Buffer, headers: Record<string, string>) => {
    const fault = faults.get(name)?.shift();
    if (fault === "error") return void res.writeHead(503, { ...CORS, "content-type": "text/plain" }).end("busy");
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? "");
    let status = 200;
    let body = bytes;
    const out: Record<string, string> = { ...CORS, ...headers, "accept-ranges": "bytes", "content-type": "application/octet-stream" };
    if (range) {
      const start = Number(range[1]);
      const end = range[2] ? Math.min(Number(range[2]), bytes.length - 1) : bytes.length - 1;
      if (start >= bytes.length) {
        res.writeHead(416, { ...CORS, "content-range": `bytes */${bytes.length}` }).end();
        return;
      }
      status = 206;
      body = bytes.subarray(start, end + 1);
      out["content-range"] = `bytes ${start}-${end}/${bytes.length}`;
    }
    out["content-length"] = String(body.length);
    res.writeHead(status, out);
    if (req.method === "HEAD") return void res.end();
    if (fault === "truncate") {
      // the promised length, half the bytes, then the connection drops
      res.write(body.subarray(0, body.length >> 1), () => res.destroy());
      return;
    }
    if (fault === "corrupt") {
      const bad = Buffer.from(body);
      bad[bad.length >> 1] ^= 0xff;
      res.end(bad);
      return;
    }
    if (fault === "hang") {
      res.write(body.subarray(0, Math.min(body.length, 64)));
      hanging.add(res);
      return;
    }
    res.end(body);
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    requests.push({
      method: req.method ?? "GET",
      path: url.pathname + url.search,
      range: req.headers.range ?? null,
      authorization: req.headers.authorization ?? null,
    });
    if (req.method === "OPTIONS") return void res.writeHead(204, CORS).end();
    const error = (status: number, code: string, message: string) =>
      res.writeHead(status, { ...CORS, "x-error-code": code, "x-error-message": message, "content-type": "text/plain" }).end(message);
    const lfs = /^\/lfs\/([0-9a-f]{64})$/.exec(url.pathname);
    if (lfs) {
      const bytes = blobs.get(lfs[1]!);
      if (!bytes) return error(404, "EntryNotFound", "no such blob");
      return send(req, res, url.searchParams.get("file") ?? "", bytes, { etag: `"${lfs[1]}"` });
    }
    const parts = url.pathname.split("/").slice(1).map(decodeURIComponent);
    if (parts[0] === "static") {
      const repo = files.get(`${parts[1]}/${parts[2]}`);
      const file = repo?.get(parts.slice(3).join("/"));
      if (!file) return void res.writeHead(404, CORS).end("not found");
      return send(req, res, parts.slice(3).join("/"), file.bytes, {});
    }
    const [org, name, resolve, revision, ...rest] = parts;
    const repo = files.get(`${org}/${name}`);
    if (!repo || resolve !== "resolve") return error(401, "RepoNotFound", "Repository not found");
    if (revision !== "main" && revision !== commit) return error(404, "RevisionNotFound", "Invalid rev id");
    const fileName = rest.join("/");
    const file = repo.get(fileName);
    if (!file) return error(404, "EntryNotFound", "Entry not found");
    const common = { "x-repo-commit": commit };
    if (isLfs(fileName)) {
      res
        .writeHead(302, {
          ...CORS,
          ...common,
          location: `/lfs/${file.sha256}?file=${encodeURIComponent(fileName)}`,
          "x-linked-etag": `"${file.sha256}"`,
          "x-linked-size": String(file.bytes.length),
          etag: `"${file.sha256}"`,
        })
        .end();
      return;
    }
    send(req, res, fileName, file.bytes, { ...common, etag: `"${file.gitSha1}"` });
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    faults,
    commit,
    close: () =>
      new Promise<void>((ok) => {
        for (const res of hanging) res.destroy();
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}
