// Builds the page and its worker and serves the repository root.
//   node tools.mjs build   -> dist/page.js, dist/worker.js
//   node tools.mjs serve   -> builds, then http://localhost:8080/examples/chat-browser/
// The packages are bundled from source (like the tests), so no `pnpm build` is needed.
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { extname, join, normalize, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = fileURLToPath(new URL(".", import.meta.url));
export const repoRoot = resolve(here, "../..");

export async function buildPage() {
  const pkg = (name) => join(repoRoot, "packages", name, "src/index.ts");
  await build({
    entryPoints: [join(here, "src/page.ts"), join(here, "src/worker.ts")],
    outdir: join(here, "dist"),
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    sourcemap: true,
    logLevel: "warning",
    plugins: [
      {
        name: "workspace-sources",
        setup(b) {
          // Package roots map to their sources; Node-only entries (reached through dynamic imports
          // a browser never takes) stay external.
          b.onResolve({ filter: /^@llm\/[a-z]+$/ }, (a) => ({ path: pkg(a.path.slice(5)) }));
          b.onResolve({ filter: /^(@llm\/tensor\/node|webgpu|node:.*)$/ }, (a) => ({ path: a.path, external: true }));
        },
      },
    ],
  });
  return join(here, "dist");
}

const TYPES = { ".html": "text/html", ".js": "text/javascript", ".json": "application/json", ".map": "application/json" };

/** A static file server over the repository root; resolves to { url, close }. */
export function serve(port = 0) {
  const server = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, "http://x").pathname)).replace(/^(\.\.[/\\])+/, "");
    const file = join(repoRoot, path.endsWith("/") ? `${path}index.html` : path);
    try {
      const body = await readFile(file);
      res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream" });
      res.end(body);
    } catch {
      res.writeHead(404).end(`not found: ${path}`);
    }
  });
  return new Promise((ok) =>
    server.listen(port, "127.0.0.1", () => {
      const { port: p } = server.address();
      ok({ url: `http://localhost:${p}/examples/chat-browser/`, close: () => new Promise((done) => server.close(done)) });
    }),
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const cmd = process.argv[2];
  await buildPage();
  if (cmd === "serve") {
    const { url } = await serve(8080);
    console.log(`open ${url} in a browser (WebGPU when it has it), or ${url}?source=ORG/NAME (Ctrl-C to stop)`);
  } else {
    console.log("wrote dist/page.js and dist/worker.js");
  }
}
