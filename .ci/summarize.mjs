// Reads vitest's JSON report and prints the closing line CI looks for.
import { readFileSync, existsSync } from "node:fs";

const file = process.argv[2];
// vitest's exit status: non-zero also when a test worker died or missed an RPC deadline, which the
// JSON report does not count as a failed test.
const status = Number(process.argv[3] ?? 0);
if (!existsSync(file)) {
  console.log("0 passed, 1 failed");
  process.exit(0);
}
const report = JSON.parse(readFileSync(file, "utf8"));
const failedSuites = report.testResults.filter((s) => s.status === "failed" && s.assertionResults.length === 0).length;
let failed = report.numFailedTests + failedSuites;
// An unhandled error (a worker that died, an RPC timeout) fails the run without failing a test:
// count it, so the last line never says "0 failed" for a run that failed.
if ((report.success === false || status !== 0) && failed === 0) {
  console.error("the run failed outside any test (an unhandled error: see the log above)");
  failed = 1;
}
console.log(`${report.numPassedTests} passed, ${failed} failed, ${report.numPendingTests + report.numTodoTests} skipped`);
