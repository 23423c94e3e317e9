/**
 * Golden pairs: every `testdata/<case>.Caddyfile` (and `<case>.json`) and every example
 * Caddyfile is adapted and compared byte for byte with `<case>.out.Caddyfile` (or `.out.json`)
 * and `<case>.sidecar.json`. Run with UPDATE_GOLDEN=1 to rewrite the expected files after a
 * deliberate change, then review the diff.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { adaptFile } from "./index.js";
import { GOLDEN_ENV, GOLDEN_LISTEN, goldenCases } from "./testing/golden-cases.js";

const update = process.env.UPDATE_GOLDEN === "1";

describe("golden pairs", () => {
  it("has a corpus covering the constructs", () => {
    expect(goldenCases().length).toBeGreaterThanOrEqual(12);
  });

  for (const testCase of goldenCases()) {
    it(`adapts ${testCase.input}`, async () => {
      const adapted = await adaptFile(testCase.input, { listen: GOLDEN_LISTEN, env: GOLDEN_ENV });
      const caddy =
        adapted.caddy.format === "json"
          ? `${JSON.stringify(adapted.caddy.json, null, 2)}\n`
          : adapted.caddy.text;
      const sidecar = `${JSON.stringify(adapted.sidecar, null, 2)}\n`;
      if (update || !existsSync(testCase.caddyOut)) writeFileSync(testCase.caddyOut, caddy);
      if (update || !existsSync(testCase.sidecarOut)) writeFileSync(testCase.sidecarOut, sidecar);
      expect(caddy).toBe(readFileSync(testCase.caddyOut, "utf8"));
      expect(sidecar).toBe(readFileSync(testCase.sidecarOut, "utf8"));
    });
  }
});
