// Reads vitest's JSON report and prints the closing line CI looks for.
import { readFileSync, existsSync } from "node:fs";

const file = process.argv[2];
if (!existsSync(file)) {
  console.log("0 passed, 1 failed");
  process.exit(0);
}
const report = JSON.parse(readFileSync(file, "utf8"));
const failedSuites = report.testResults.filter((s) => s.status === "failed" && s.assertionResults.length === 0).length;
console.log(
  `${report.numPassedTests} passed, ${report.numFailedTests + failedSuites} failed, ${report.numPendingTests + report.numTodoTests} skipped`,
);
