import type { Readable, Writable } from "node:stream";

/** Where a command reads and writes (process.stdin/stdout/stderr, or a test's streams). */
export interface Io {
  stdin: Readable & { isTTY?: boolean };
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean };
}

/** An error the user caused or can fix: printed as one line, without a stack. */
export class UsageError extends Error {}

/** Bytes as 1.2 MB. */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = -1;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 2 : value < 100 ? 1 : 0)} ${units[unit]}`;
}

/** 1234567 as "1,234,567". */
export function formatCount(n: number): string {
  return n.toLocaleString("en-US");
}
