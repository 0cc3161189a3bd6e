import { SUPPORTED_DTYPES, type LoadProgress, type Pretrained } from "@llm/pretrained";
import { loadPretrained, resolveSource, type NodeLoadPretrainedOptions } from "@llm/pretrained/node";
import type { WeightDType } from "@llm/models";
import type { Backend, CheckpointFiles } from "@llm/tensor";
import { formatBytes, type Io, UsageError } from "./io.js";

/** The loading options from the command line. */
export async function loadOptions(values: Record<string, unknown>, io: Io): Promise<NodeLoadPretrainedOptions> {
  return {
    revision: values.revision as string | undefined,
    endpoint: values.endpoint as string | undefined,
    cacheDir: values["cache-dir"] as string | undefined,
    offline: values.offline ? true : undefined,
    ...(values["no-cache"] ? { cache: false as const } : {}),
    file: values.file as string | undefined,
    onProgress: values.quiet ? undefined : downloadProgress(io),
  };
}

/** --backend, --dtype and --threads, checked here so that a bad one is named as the flag it is. */
export async function computeOptions(values: Record<string, unknown>): Promise<NodeLoadPretrainedOptions> {
  const dtype = values.dtype as string | undefined;
  if (dtype !== undefined && !(SUPPORTED_DTYPES as readonly string[]).includes(dtype)) {
    throw new UsageError(`--dtype: expected one of ${SUPPORTED_DTYPES.join(", ")}, found ${JSON.stringify(dtype)}`);
  }
  const threads = values.threads as string | undefined;
  if (threads !== undefined && !/^[1-9]\d*$/.test(threads.trim())) {
    throw new UsageError(`--threads: expected a positive integer, found ${JSON.stringify(threads)}`);
  }
  const backend = await backendNamed(values.backend as string | undefined);
  if (backend && threads !== undefined) throw new UsageError("--threads: sets CPU threads; it does not go with --backend webgpu");
  return { backend, dtype: dtype as WeightDType | undefined, threads: threads === undefined ? undefined : Number(threads) };
}

/** A model from the command line's SOURCE, with download progress on stderr. */
export async function loadModelSource(source: string | undefined, values: Record<string, unknown>, io: Io): Promise<Pretrained> {
  if (!source) throw new UsageError("expected a SOURCE: a model folder, a .gguf file, an http(s) URL or a Hub id");
  return loadPretrained(source, { ...(await loadOptions(values, io)), ...(await computeOptions(values)) });
}

/** The files of SOURCE (a folder, or remote ones: range requests unless told to cache). */
export async function sourceFiles(source: string, values: Record<string, unknown>, io: Io, cache = false): Promise<CheckpointFiles> {
  return (await sourceOf(source, values, io, cache)).files;
}

/** The files of SOURCE and the .gguf file among them, when it is one (see @llm/pretrained/node's resolveSource). */
export async function sourceOf(
  source: string,
  values: Record<string, unknown>,
  io: Io,
  cache = false,
): Promise<{ files: CheckpointFiles; file: string | undefined }> {
  const options = await loadOptions(values, io);
  return resolveSource(source, cache || options.offline ? options : { ...options, cache: false });
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
