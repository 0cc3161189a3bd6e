import type { LoadProgress, Pretrained } from "@llm/pretrained";
import { loadPretrained, resolveFiles, type NodeLoadPretrainedOptions } from "@llm/pretrained/node";
import type { Backend, CheckpointFiles } from "@llm/tensor";
import { numberOption } from "./args.js";
import { formatBytes, type Io, UsageError } from "./io.js";

/** The loading options from the command line. */
export async function loadOptions(values: Record<string, unknown>, io: Io): Promise<NodeLoadPretrainedOptions> {
  return {
    revision: values.revision as string | undefined,
    endpoint: values.endpoint as string | undefined,
    cacheDir: values["cache-dir"] as string | undefined,
    offline: values.offline ? true : undefined,
    ...(values["no-cache"] ? { cache: false as const } : {}),
    backend: await backendNamed(values.backend as string | undefined),
    dtype: values.dtype as string | undefined,
    threads: numberOption(values, "threads", undefined),
    onProgress: values.quiet ? undefined : downloadProgress(io),
  };
}

/** A model from the command line's SOURCE, with download progress on stderr. */
export async function loadModelSource(source: string | undefined, values: Record<string, unknown>, io: Io): Promise<Pretrained> {
  if (!source) throw new UsageError("expected a SOURCE: a model folder, an http(s) URL or a Hub id");
  return loadPretrained(source, await loadOptions(values, io));
}

/** The files of SOURCE (a folder, or remote ones: range requests unless told to cache). */
export async function sourceFiles(source: string, values: Record<string, unknown>, io: Io, cache = false): Promise<CheckpointFiles> {
  const options = await loadOptions(values, io);
  return resolveFiles(source, cache || options.offline ? options : { ...options, cache: false });
}

async function backendNamed(name: string | undefined): Promise<Backend | undefined> {
  if (name === undefined || name === "cpu") return undefined;
  if (name === "webgpu") {
    const { createWebGPUBackend } = await import("@llm/webgpu");
    return createWebGPUBackend();
  }
  throw new UsageError(`--backend: expected cpu or webgpu, found ${JSON.stringify(name)}`);
}

/** One line per file on a terminal (redrawn as bytes arrive); on a pipe, one line per downloaded file. */
function downloadProgress(io: Io): (p: LoadProgress) => void {
  const tty = io.stderr.isTTY === true;
  return (p) => {
    if (p.cached) return;
    const total = p.total === null ? "" : ` of ${formatBytes(p.total)}`;
    const line = `downloading ${p.file}: ${formatBytes(p.loaded)}${total}${p.total ? ` (${Math.floor((100 * p.loaded) / p.total)}%)` : ""}`;
    if (tty) io.stderr.write(`\r\x1b[2K${line}${p.done ? "\n" : ""}`);
    else if (p.done) io.stderr.write(`downloaded ${p.file} (${formatBytes(p.loaded)})\n`);
  };
}
