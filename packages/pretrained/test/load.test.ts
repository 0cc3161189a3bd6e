/**
 * loadPretrained against a local server in the Hub's layout (test/helpers/hub_server.ts): by Hub
 * id and by URL, progress, the cache (a second load makes no request), verification (a truncated
 * or corrupted download is refetched), offline mode and abort.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadModel } from "@llm/models/node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DownloadError, NotCachedError, type LoadProgress, type Pretrained } from "../src/index.js";
import { folderCache, loadPretrained } from "../src/node.js";
import { chatFolder } from "./helpers/folders.js";
import { serveHub, type HubServer } from "./helpers/hub_server.js";

let work: string;
let server: HubServer;
let plain: string;
let sharded: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "llm-pretrained-load-"));
  plain = await chatFolder(join(work, "chat"));
  sharded = await chatFolder(join(work, "chat-sharded"), { sharded: true });
  server = await serveHub({ "test-org/chat": plain, "test-org/chat-sharded": sharded });
});
afterAll(async () => {
  await server?.close();
  rmSync(work, { recursive: true, force: true });
});

/** A fresh cache folder per test, so each starts cold. */
let caches = 0;
const freshCache = () => join(work, `cache-${caches++}`);
const since = (from: number) => server.requests.slice(from);

/** The model's parameters as arrays, by name. */
async function weights(p: Pretrained): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = {};
  for (const [name, t] of p.model.namedParameters()) out[name] = Array.from(await t.data());
  return out;
}

let reference: Record<string, number[]>;
beforeAll(async () => {
  const local = await loadPretrained(plain);
  reference = await weights(local);
  local.dispose();
});

describe("loadPretrained over HTTP", () => {
  it("by Hub id: model, tokenizer, generation and chat template, each file reported as it arrives", async () => {
    const events: LoadProgress[] = [];
    const from = server.requests.length;
    const p = await loadPretrained("test-org/chat", { endpoint: server.url, cacheDir: freshCache(), onProgress: (e) => events.push(e) });
    expect(await weights(p)).toEqual(reference);
    expect(p.tokenizer.vocabSize).toBe(512);
    expect(p.generationConfig.eosTokenIds).toEqual([2]);
    expect(p.chatTemplate).not.toBeNull();
    const paths = since(from).map((r) => r.path);
    expect(paths).toContain("/test-org/chat/resolve/main/config.json");
    expect(paths.some((path) => path.startsWith("/lfs/"))).toBe(true);
    // every file present ends with a done event of its full size, downloaded (not cached)
    const done = events.filter((e) => e.done);
    expect(done.map((e) => e.file).sort()).toEqual(readdirSync(plain).sort());
    for (const e of done)
      expect([e.loaded, e.total, e.cached]).toEqual([statSync(join(plain, e.file)).size, statSync(join(plain, e.file)).size, false]);
    const weightsEvents = events.filter((e) => e.file === "model.safetensors");
    expect(weightsEvents[0]!.loaded).toBe(0);
    p.dispose();
  });

  it("a cached second load makes no request at all, and says each file came from the cache", async () => {
    const cacheDir = freshCache();
    const first = await loadPretrained("test-org/chat", { endpoint: server.url, cacheDir });
    first.dispose();
    const from = server.requests.length;
    const events: LoadProgress[] = [];
    const second = await loadPretrained("test-org/chat", { endpoint: server.url, cacheDir, onProgress: (e) => events.push(e) });
    expect(since(from)).toEqual([]);
    expect(await weights(second)).toEqual(reference);
    expect(events.length).toBeGreaterThan(0);
    expect(events.every((e) => e.cached && e.done)).toBe(true);
    // files the repository does not have (model.safetensors.index.json, chat_template.jinja, ...) are remembered as missing
    const meta = join(
      cacheDir,
      "meta",
      server.url.replace("http://", "").replace(":", "_"),
      "test-org/chat/resolve/main/chat_template.jinja.json",
    );
    expect(JSON.parse(readFileSync(meta, "utf8"))).toMatchObject({ missing: true });
    second.dispose();
  });

  it("by URL: a plain static folder (no digests) and the Hub's resolve URL", async () => {
    for (const base of [`${server.url}/static/test-org/chat/`, `${server.url}/test-org/chat/resolve/main`]) {
      const p = await loadPretrained(base, { cacheDir: freshCache() });
      expect(await weights(p)).toEqual(reference);
      p.dispose();
    }
  });

  it("sharded weights over HTTP: the index, then each shard", async () => {
    const from = server.requests.length;
    const p = await loadPretrained("test-org/chat-sharded", { endpoint: server.url, cacheDir: freshCache() });
    expect(await weights(p)).toEqual(reference);
    const shards = readdirSync(sharded).filter((f) => /^model-\d+-of-\d+\.safetensors$/.test(f));
    expect(shards.length).toBeGreaterThan(2);
    const paths = since(from).map((r) => r.path);
    for (const shard of shards) expect(paths).toContain(`/test-org/chat-sharded/resolve/main/${shard}`);
    p.dispose();
  });

  it("a pinned revision (a commit) and a token sent to the Hub", async () => {
    const from = server.requests.length;
    const p = await loadPretrained("test-org/chat", {
      endpoint: server.url,
      revision: server.commit,
      token: "hf_test",
      cacheDir: freshCache(),
    });
    const hub = since(from).filter((r) => r.path.startsWith("/test-org/"));
    expect(hub.every((r) => r.path.includes(`/resolve/${server.commit}/`) && r.authorization === "Bearer hf_test")).toBe(true);
    p.dispose();
  });

  it("without a cache, every read is a range request and only the bytes needed are fetched", async () => {
    const from = server.requests.length;
    const p = await loadPretrained("test-org/chat", { endpoint: server.url, cache: false });
    expect(await weights(p)).toEqual(reference);
    const requests = since(from);
    expect(requests.length).toBeGreaterThan(5);
    expect(requests.filter((r) => r.range === null)).toEqual([]);
    // the weights' bytes are asked for once each (the header, then each tensor's range), never the whole file
    expect(requests.some((r) => r.path.startsWith("/lfs/") && r.range === "bytes=0-0")).toBe(true);
    p.dispose();
  });
});

describe("verification and retries", () => {
  it("a truncated download (the connection drops) is detected and fetched again", async () => {
    server.faults.set("model.safetensors", ["truncate"]);
    const from = server.requests.length;
    const p = await loadPretrained("test-org/chat", { endpoint: server.url, cacheDir: freshCache() });
    expect(await weights(p)).toEqual(reference);
    expect(since(from).filter((r) => r.path.startsWith("/lfs/")).length).toBe(2);
    p.dispose();
  });

  it("a server error (5xx) is tried again", async () => {
    server.faults.set("tokenizer.json", ["error"]);
    const from = server.requests.length;
    const p = await loadPretrained("test-org/chat", { endpoint: server.url, cacheDir: freshCache() });
    expect(since(from).filter((r) => r.path.endsWith("/tokenizer.json")).length).toBe(2);
    p.dispose();
  });

  it("a corrupted download (same length, one byte flipped) fails its sha256 and is fetched again; a small file's git blob id too", async () => {
    server.faults.set("model.safetensors", ["corrupt"]);
    server.faults.set("tokenizer.json", ["corrupt"]);
    const from = server.requests.length;
    const p = await loadPretrained("test-org/chat", { endpoint: server.url, cacheDir: freshCache() });
    expect(await weights(p)).toEqual(reference);
    const paths = since(from).map((r) => r.path);
    expect(paths.filter((path) => path.startsWith("/lfs/")).length).toBe(2);
    expect(paths.filter((path) => path.endsWith("/tokenizer.json")).length).toBe(2);
    p.dispose();
  });

  it("a download that stays corrupt fails with the expected and found sha256, and leaves nothing in the cache", async () => {
    server.faults.set("model.safetensors", ["corrupt", "corrupt", "corrupt"]);
    const cacheDir = freshCache();
    const error = await loadPretrained("test-org/chat", { endpoint: server.url, cacheDir }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DownloadError);
    expect((error as Error).message).toMatch(
      /model\.safetensors: download failed 3 times \(attempt 1: expected sha256 [0-9a-f]{64}, found [0-9a-f]{64}; attempt 2: .*; attempt 3: .*\)/,
    );
    const left = readdirSync(join(cacheDir, "files"), { recursive: true }).map(String);
    expect(left.filter((f) => f.includes("model.safetensors"))).toEqual([]);
  });

  it("a cached file cut short on disk is fetched again; verifyCached catches same-size damage", async () => {
    const cacheDir = freshCache();
    (await loadPretrained("test-org/chat", { endpoint: server.url, cacheDir })).dispose();
    const host = server.url.replace("http://", "").replace(":", "_");
    const file = join(cacheDir, "files", host, "test-org/chat/resolve/main/model.safetensors");
    truncateSync(file, 1000);
    let from = server.requests.length;
    (await loadPretrained("test-org/chat", { endpoint: server.url, cacheDir })).dispose();
    expect(since(from).filter((r) => r.path.startsWith("/lfs/")).length).toBe(1);
    // the same size, one byte changed: only a hash finds it
    const bytes = readFileSync(file);
    bytes[bytes.length - 5] ^= 0xff;
    writeFileSync(file, bytes);
    from = server.requests.length;
    const p = await loadPretrained("test-org/chat", { endpoint: server.url, cacheDir, verifyCached: true });
    expect(since(from).filter((r) => r.path.startsWith("/lfs/")).length).toBe(1);
    expect(await weights(p)).toEqual(reference);
    p.dispose();
  });
});

describe("offline mode, abort, errors", () => {
  it("offline: loads from the cache with no request; a file never fetched is a NotCachedError", async () => {
    const cacheDir = freshCache();
    (await loadPretrained("test-org/chat", { endpoint: server.url, cacheDir })).dispose();
    const from = server.requests.length;
    const p = await loadPretrained("test-org/chat", { endpoint: server.url, cacheDir, offline: true });
    expect(await weights(p)).toEqual(reference);
    p.dispose();
    const cold = await loadPretrained("test-org/chat-sharded", { endpoint: server.url, cacheDir, offline: true }).catch((e: unknown) => e);
    expect(cold).toBeInstanceOf(NotCachedError);
    expect((cold as Error).message).toBe(
      `${server.url}/test-org/chat-sharded/resolve/main/config.json: not in the cache (${cacheDir}), and offline mode makes no request`,
    );
    expect(since(from)).toEqual([]);
  });

  it("abort: a load stuck in a download rejects with the signal's reason and leaves no file behind", async () => {
    server.faults.set("model.safetensors", ["hang"]);
    const cacheDir = freshCache();
    const controller = new AbortController();
    const events: LoadProgress[] = [];
    const loading = loadPretrained("test-org/chat", {
      endpoint: server.url,
      cacheDir,
      signal: controller.signal,
      onProgress: (e) => {
        events.push(e);
        if (e.file === "model.safetensors") setTimeout(() => controller.abort(), 50);
      },
    });
    const error = await loading.catch((e: unknown) => e);
    expect((error as Error).name).toBe("AbortError");
    const files = readdirSync(join(cacheDir, "files"), { recursive: true }).map(String);
    expect(files.filter((f) => f.includes("model.safetensors"))).toEqual([]);
    // an already-aborted signal makes no request
    const from = server.requests.length;
    await expect(loadPretrained("test-org/chat", { endpoint: server.url, cacheDir, signal: AbortSignal.abort() })).rejects.toThrow(
      /aborted/,
    );
    expect(since(from)).toEqual([]);
  });

  it("names an unknown repository, revision or source", async () => {
    await expect(loadPretrained("test-org/nothing", { endpoint: server.url, cacheDir: freshCache() })).rejects.toThrow(
      `${server.url}/test-org/nothing/resolve/main/config.json: the server answered 401 Unauthorized: no such repository, or it is private or gated (pass a token: options.token, or HF_TOKEN in Node) (Repository not found)`,
    );
    await expect(loadPretrained("test-org/chat", { endpoint: server.url, revision: "v9", cacheDir: freshCache() })).rejects.toThrow(
      /resolve\/v9\/config\.json: the server answered 404 Not Found: no such revision/,
    );
    await expect(loadPretrained("not a/model/id")).rejects.toThrow(
      'source: "not a/model/id" is not a folder or .gguf file here; expected a model folder, a .gguf file, an http(s) URL or a Hub id ("namespace/name")',
    );
    await expect(loadPretrained("./no-such-folder")).rejects.toThrow(/source: "\.\/no-such-folder" is not a folder or \.gguf file here/);
    // nothing listens on a port just closed: each attempt is named, with the cause
    const closed = await serveHub({});
    await closed.close();
    await expect(loadPretrained("org/name", { endpoint: closed.url, cacheDir: freshCache(), retries: 1 })).rejects.toThrow(
      `${closed.url}/org/name/resolve/main/config.json: download failed 2 times (attempt 1: cannot reach the server (fetch failed: ECONNREFUSED); attempt 2: cannot reach the server (fetch failed: ECONNREFUSED))`,
    );
    await expect(loadPretrained(plain, { dtype: "iq2_xxs" as never })).rejects.toThrow(
      /dtype: expected one of auto, float32, .* found "iq2_xxs"/,
    );
  });

  it("the cache folder holds files under their URL path, each written whole", async () => {
    const cacheDir = freshCache();
    const cache = folderCache(cacheDir);
    (await loadPretrained("test-org/chat", { endpoint: server.url, cache })).dispose();
    const host = server.url.replace("http://", "").replace(":", "_");
    const cached = readdirSync(join(cacheDir, "files", host, "test-org/chat/resolve/main")).sort();
    expect(cached).toEqual(readdirSync(plain).sort());
    for (const f of cached)
      expect(readFileSync(join(cacheDir, "files", host, "test-org/chat/resolve/main", f)).equals(readFileSync(join(plain, f))), f).toBe(
        true,
      );
    // a loadModel of the cached folder reads it as any folder
    const model = await loadModel(join(cacheDir, "files", host, "test-org/chat/resolve/main"));
    expect(model.parameters().length).toBeGreaterThan(0);
  });
});
