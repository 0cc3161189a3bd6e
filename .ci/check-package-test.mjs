// Checks that one package's own `pnpm test` ran that package's tests (issue 21: with a project
// root resolved against the current folder it found no test files and exited 1).
// Usage: node .ci/check-package-test.mjs <vitest JSON report> <package folder, e.g. packages/sampling>
import { existsSync, readFileSync } from "node:fs";
import { resolve, sep } from "node:path";

const [file, packageDir] = process.argv.slice(2);
const command = `pnpm test in ${packageDir}`;
if (!existsSync(file)) {
  console.error(`${command}: expected a vitest JSON report at ${file}, found no file (did vitest find any tests?)`);
  process.exit(1);
}
const report = JSON.parse(readFileSync(file, "utf8"));
const testDir = resolve(packageDir, "test") + sep;
const outside = report.testResults.map((s) => s.name).filter((name) => !name.startsWith(testDir));
if (report.numTotalTests === 0 || outside.length > 0) {
  console.error(
    `${command}: expected tests from ${testDir} only, found ${report.numTotalTests} tests` +
      (outside.length > 0 ? `, and files outside it: ${outside.slice(0, 3).join(", ")}` : ""),
  );
  process.exit(1);
}
console.log(`${command}: ran ${report.numTotalTests} tests in ${report.testResults.length} files`);
