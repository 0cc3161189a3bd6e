/**
 * The packages as a user gets them: every package packed with `pnpm pack`, the tarballs installed
 * into an empty folder with nothing else (offline, from the store), and used there as ESM and as
 * CommonJS, type-checked under two module resolutions without skipLibCheck, and bundled for the
 * browser. This is what `npm install @llm/...` gives, which the workspace's own tests never see.
 */
import { spawn, spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const PACKAGES = readdirSync(join(ROOT, "packages")).sort();
/** Packages with a main entry (a library); @llm/cli is a command only. */
const LIBRARIES = PACKAGES.filter((name) => {
  const pkg = JSON.parse(readFileSync(join(ROOT, "packages", name, "package.json"), "utf8")) as { exports?: Record<string, unknown> };
  return pkg.exports?.["."] !== undefined;
});
const FIXTURE = join(ROOT, "fixtures/models/gpt2");
const TSC = join(ROOT, "node_modules/typescript/bin/tsc");

let work: string;
let app: string;

function run(command: string, args: string[], cwd: string): string {
  const result = spawnSync(command, args, { cwd, encoding: "utf8", env: { ...process.env, NODE_OPTIONS: "" }, timeout: 600_000 });
  if (result.status !== 0) throw new Error(`${command} ${args.join(" ")} (in ${cwd}) failed:\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

/**
 * run() without blocking: the long steps (build, pack, install) must leave the test worker's event
 * loop free, or vitest's own messages to it time out ("Timeout calling onTaskUpdate").
 */
function runAsync(command: string, args: string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env: { ...process.env, NODE_OPTIONS: "" }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    const timer = setTimeout(() => child.kill(), 600_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${command} ${args.join(" ")} (in ${cwd}) failed:\n${out}\n${err}`));
    });
  });
}

beforeAll(async () => {
  await runAsync("pnpm", ["build"], ROOT); // turbo: nothing to do when the dist folders are current
  work = mkdtempSync(join(tmpdir(), "llm-install-"));
  const tarballs = join(work, "tarballs");
  mkdirSync(tarballs);
  const deps: Record<string, string> = {};
  for (const name of PACKAGES) {
    await runAsync("pnpm", ["pack", "--pack-destination", tarballs], join(ROOT, "packages", name));
    const file = readdirSync(tarballs).find((f) => f.startsWith(`llm-${name}-`))!;
    deps[`@llm/${name}`] = `file:${join(tarballs, file)}`;
  }
  app = join(work, "app");
  mkdirSync(app);
  // overrides: the packages' own dependencies on each other resolve to the tarballs, not a registry
  writeFileSync(
    join(app, "package.json"),
    JSON.stringify({ name: "consumer", private: true, dependencies: deps, pnpm: { overrides: deps } }, null, 2),
  );
  await runAsync("pnpm", ["install", "--prefer-offline", "--ignore-workspace", "--reporter=silent"], app);
  cpSync(join(ROOT, "tests/install/consumer"), app, { recursive: true });
}, 900_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("installed from the packed tarballs", () => {
  it("ships dist, README, LICENSE and package metadata, and no sources or tests", () => {
    for (const name of PACKAGES) {
      const dir = realpathSync(join(app, "node_modules/@llm", name));
      const files = readdirSync(dir).sort();
      expect(files, name).toEqual(expect.arrayContaining(["LICENSE", "README.md", "dist", "package.json"]));
      expect(
        files.filter((f) => f === "src" || f === "test"),
        name,
      ).toEqual([]);
      expect(readFileSync(join(dir, "LICENSE"), "utf8")).toContain("Apache License");
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as Record<string, unknown>;
      expect(pkg, name).toMatchObject({ license: "Apache-2.0", engines: { node: ">=20" } });
      expect(pkg.repository, name).toBeTruthy();
      expect(pkg.homepage, name).toBeTruthy();
      expect(JSON.stringify(pkg), `${name}: workspace: ranges are replaced when packing`).not.toContain("workspace:");
    }
  });

  for (const [format, file] of [
    ["esm", "run.mjs"],
    ["cjs", "run.cjs"],
  ] as const) {
    it(`works as ${format}: loads the fixture, generates its reference tokens, trains a step`, () => {
      const out = JSON.parse(run("node", [file, FIXTURE], app).trim().split("\n").at(-1)!) as Record<string, unknown>;
      expect(out.format).toBe(format);
      expect(out.ids).toEqual(out.expected);
      expect(out.sameRuntime).toBe(true);
      expect(Number.isFinite(out.loss)).toBe(true);
      expect(out.encoded).toEqual([2, 2]);
    });
  }

  it("ESM and CommonJS builds load side by side; a second install of @llm/tensor is an error naming both", () => {
    const tensorDir = realpathSync(join(app, "node_modules/@llm/tensor"));
    const both = `const cjs = require(${JSON.stringify(tensorDir)}); import(${JSON.stringify(join(tensorDir, "dist/index.js"))}).then((esm) => console.log(typeof cjs.tensor, typeof esm.tensor));`;
    expect(run("node", ["-e", both], app).trim()).toBe("function function");
    const copy = join(work, "copy/tensor");
    cpSync(tensorDir, copy, { recursive: true });
    const twice = `await import(${JSON.stringify(join(tensorDir, "dist/index.js"))}); await import(${JSON.stringify(join(copy, "dist/index.js"))});`;
    const result = spawnSync("node", ["--input-type=module", "-e", twice], { cwd: app, encoding: "utf8" });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/two copies of @llm\/tensor are loaded: 0\.0\.0 \(esm\) and 0\.0\.0 \(esm\)/);
  });

  it("the llm command runs from the installed @llm/cli: --help, and info on the fixture", () => {
    const bin = join(app, "node_modules/.bin/llm");
    expect(run(bin, ["--help"], app)).toContain("Usage: llm <command>");
    const info = run(bin, ["info", FIXTURE], app);
    expect(info).toContain("architecture  gpt2 (GPT2LMHeadModel): 2 layers, width 64, 4 heads, vocabulary 512, context 64");
    const result = spawnSync(bin, ["generate", FIXTURE, "-p", "hi"], { cwd: app, encoding: "utf8" });
    expect(result.status).toBe(1);
    expect(result.stderr).toBe(`llm generate: ${FIXTURE}: expected tokenizer.json (or vocab.json and merges.txt), found neither\n`);
  });

  for (const resolution of ["bundler", "node16"] as const) {
    it(`type-checks a consumer with moduleResolution ${resolution} and skipLibCheck false`, async () => {
      const module = resolution === "bundler" ? "esnext" : "node16";
      const tsconfig = {
        compilerOptions: {
          target: "es2022",
          module,
          moduleResolution: resolution,
          strict: true,
          skipLibCheck: false,
          noEmit: true,
          // @webgpu/types extends the DOM's types (as any WebGPU code does); GPUDevice & co. must
          // come from our declarations' reference to it, not from the consumer's own setup
          lib: ["es2022", "dom"],
          types: ["node"],
          typeRoots: [join(ROOT, "node_modules/@types")],
        },
        files: ["typed.ts"],
      };
      writeFileSync(join(app, `tsconfig.${resolution}.json`), JSON.stringify(tsconfig));
      // tsc takes half a minute: run without blocking the worker (see runAsync)
      const output = await runAsync("node", [TSC, "-p", `tsconfig.${resolution}.json`], app).catch((e: Error) => e.message);
      expect(output, "tsc").toBe("");
    });
  }

  it("bundles each package's main entry for the browser with no Node built-in", async () => {
    const builtins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);
    const entries: Record<string, string> = Object.fromEntries(LIBRARIES.map((name) => [name, `export * from "@llm/${name}";`]));
    entries["models+sampling"] = `export * from "@llm/models"; export * from "@llm/sampling";`;
    const sizes: Record<string, { minified: number; gzip: number }> = {};
    for (const [name, source] of Object.entries(entries)) {
      const result = await build({
        stdin: { contents: source, resolveDir: app, loader: "js" },
        bundle: true,
        platform: "browser",
        format: "esm",
        minify: true,
        write: false,
        metafile: true,
        logLevel: "silent",
      });
      const reached = Object.keys(result.metafile.inputs).filter((input) => builtins.has(input) || input.startsWith("node:"));
      expect(reached, name).toEqual([]);
      const bytes = result.outputFiles[0]!.contents;
      sizes[name] = { minified: bytes.byteLength, gzip: gzipSync(bytes).byteLength };
    }
    console.log(`browser bundles (esbuild --minify, bytes): ${JSON.stringify(sizes)}`);
    mkdirSync(join(ROOT, "out"), { recursive: true });
    writeFileSync(join(ROOT, "out/bundle-sizes.json"), `${JSON.stringify(sizes, null, 2)}\n`);
  });
});
