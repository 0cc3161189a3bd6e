import { TrainError } from "./errors.js";

/**
 * Every non-empty line of a JSON Lines text, each parsed and handed to `read` with where it came
 * from ("source:line"), so a bad line's error names the file and the line.
 */
export function parseJsonLines<T>(text: string, source: string, read: (record: unknown, where: string) => T): T[] {
  const out: T[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === "") return;
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch (error) {
      throw new TrainError(`${source}:${i + 1}: not valid JSON (${(error as Error).message})`);
    }
    out.push(read(record, `${source}:${i + 1}`));
  });
  return out;
}
