#!/usr/bin/env node
// Prints one closing line for CI, "N passed, N failed", from the machine-readable reports that
// `make test` leaves in reports/ (vitest's JSON reporter and cucumber's message formatter).
import { existsSync, readFileSync } from "node:fs";

let passed = 0;
let failed = 0;

const vitest = "reports/vitest.json";
if (existsSync(vitest)) {
  const report = JSON.parse(readFileSync(vitest, "utf8"));
  passed += report.numPassedTests ?? 0;
  failed += (report.numFailedTests ?? 0) + (report.numTodoTests ?? 0) * 0;
}

const cucumber = "reports/cucumber.json";
if (existsSync(cucumber)) {
  for (const feature of JSON.parse(readFileSync(cucumber, "utf8"))) {
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
