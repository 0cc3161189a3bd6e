// Prepares `.gpu/` for running `pnpm bench:webgpu` on the lent GPU machine (no Node, no network
// there; see ../shared/gpu/README.md): bundles benchmarks/webgpu.mjs into .gpu/bench.mjs with
// `webgpu` left external, and, unless already there, packs node, Dawn and the Vulkan/GL loaders.
// Run from the repository root after `pnpm build`:  node benchmarks/webgpu-gpu-bundle.mjs
// To try the bundle here first (SwiftShader): unpack .gpu/dawn.node.xz into
// .gpu/node_modules/webgpu/dist/linux-x64/dawn.node, run node .gpu/bench.mjs --quick with
// VK_ICD_FILENAMES set, then run this script again (it removes the unpacked copy).
// Then, on the device:  source .gpu/device-env.sh && node .gpu/bench.mjs   (carry: [".gpu"])
import { execFileSync, execSync } from "node:child_process";
import { appendFileSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { build } from "tsup";

const root = process.cwd();
const out = join(root, ".gpu");
if (!existsSync(join(root, "pnpm-workspace.yaml")))
  throw new Error(`run from the repository root (found no pnpm-workspace.yaml in ${root})`);
mkdirSync(join(out, "node_modules/webgpu/dist/linux-x64"), { recursive: true });

const exclude = join(root, ".git/info/exclude");
if (existsSync(exclude) && !readFileSync(exclude, "utf8").split("\n").includes("/.gpu/")) appendFileSync(exclude, "/.gpu/\n");

await build({
  entry: { bench: "benchmarks/webgpu.mjs" },
  outDir: ".gpu",
  format: ["esm"],
  platform: "node",
  target: "node20",
  bundle: true,
  splitting: false,
  clean: false,
  dts: false,
  silent: true,
  external: ["webgpu"],
  noExternal: [/^(?!webgpu$).*/],
  outExtension: () => ({ js: ".mjs" }),
  // tfjs is CommonJS: give the ESM bundle a require for its Node built-ins.
  banner: { js: 'import { createRequire as __cr } from "node:module"; const require = __cr(import.meta.url);' },
});
console.log("wrote .gpu/bench.mjs");

const shared = join(root, "../shared/gpu/device-env.sh");
if (existsSync(shared)) copyFileSync(shared, join(out, "device-env.sh"));
else console.warn(`warning: ${shared} not found; copy device-env.sh into .gpu/ by hand`);

const requireFromBench = createRequire(join(root, "benchmarks/package.json"));
const dawn = dirname(requireFromBench.resolve("webgpu/package.json"));
copyFileSync(join(dawn, "index.js"), join(out, "node_modules/webgpu/index.js"));
copyFileSync(join(dawn, "package.json"), join(out, "node_modules/webgpu/package.json"));
const xz = (src, dst) => {
  if (existsSync(dst)) return;
  execSync(`xz -T2 -6 -c "${src}" > "${dst}"`);
  console.log(`packed ${dst}`);
};
xz(process.execPath, join(out, "node.xz"));
xz(join(dawn, "dist/linux-x64/dawn.node"), join(out, "dawn.node.xz"));
const debs = ["libvulkan1", "libegl1", "libglvnd0", "libopengl0", "libgl1", "libglx0", "libgles2"];
if (!debs.every((d) => execSync(`ls "${out}"`).toString().includes(`${d}_`))) {
  execFileSync("apt-get", ["download", ...debs], { cwd: out, stdio: "inherit" });
}
// The device unpacks Dawn itself; an unpacked copy from a local test run would only eat the
// 64 MiB that may be carried.
rmSync(join(out, "node_modules/webgpu/dist/linux-x64/dawn.node"), { force: true });
console.log(execSync(`du -sh "${out}"`).toString().trim());
console.log('device: run(command: "source .gpu/device-env.sh && node .gpu/bench.mjs", carry: [".gpu"], timeout_s: 300)');
