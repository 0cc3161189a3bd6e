import { appendFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { MetricsLog, parseMetrics, type MetricsRecord } from "../metrics.js";

export interface MetricsFileOptions {
  /** Keep what the file holds and add to it (a resumed run; default), or start it empty (a new run). */
  append?: boolean;
}

/**
 * A MetricsLog that appends each record to a JSON Lines file (its folder is created when missing).
 * Every record is one append of one line, so a run that dies leaves the lines it finished.
 */
export function metricsFile(path: string, options: MetricsFileOptions = {}): MetricsLog {
  let opened = false;
  return new MetricsLog(async (line) => {
    if (!opened) {
      await mkdir(dirname(path), { recursive: true });
      if (options.append === false) await writeFile(path, "");
      opened = true;
    }
    await appendFile(path, line);
  });
}

/** The records of a metrics file that metricsFile wrote (a torn last line is skipped). */
export async function readMetrics(path: string): Promise<MetricsRecord[]> {
  return parseMetrics(await readFile(path, "utf8"), path);
}
