#!/usr/bin/env -S node --max-semi-space-size=2
// Entry point installed as `nuts`. The TypeScript sources are compiled to dist/ by `npm ci`
// (the package's `prepare` script), so this file only hands over to the compiled CLI. The #!
// line's Node option is for `nuts sidecar` (see cli/sidecar-node-options.ts).
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const compiled = fileURLToPath(new URL("../dist/cli/main.js", import.meta.url));
if (!existsSync(compiled)) {
  process.stderr.write(
    "nuts: dist/ is missing; run `npm ci` (or `npm run build`) in the project first.\n",
  );
  process.exit(1);
}
await import(compiled);
