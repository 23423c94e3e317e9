#!/usr/bin/env node
// Prints one closing line for CI, "N passed, N failed", from the machine-readable reports that
// `make test` and `make test-node-versions` leave in reports/: vitest's JSON reports (one per
// Node line) and cucumber's JSON reports (the local stack, and the Docker stack).
import { existsSync, readdirSync, readFileSync } from "node:fs";

let passed = 0;
let failed = 0;
const reports = existsSync("reports") ? readdirSync("reports").sort() : [];

for (const name of reports.filter((file) => /^vitest.*\.json$/.test(file))) {
  const report = JSON.parse(readFileSync(`reports/${name}`, "utf8"));
  passed += report.numPassedTests ?? 0;
  failed += report.numFailedTests ?? 0;
}

for (const name of reports.filter((file) => /^cucumber.*\.json$/.test(file))) {
  for (const feature of JSON.parse(readFileSync(`reports/${name}`, "utf8"))) {
    for (const scenario of feature.elements ?? []) {
      if (scenario.type !== "scenario") continue;
      const ok = (scenario.steps ?? []).every((step) =>
        ["passed", "skipped"].includes(step.result?.status),
      );
      if (ok) passed++;
      else failed++;
    }
  }
}

process.stdout.write(`${passed} passed, ${failed} failed\n`);
