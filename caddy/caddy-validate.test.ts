/**
 * The real Caddy must accept every config the adapter writes: `caddy adapt --validate` for
 * Caddyfiles and `caddy validate` for JSON. Validation provisions every module (reverse_proxy
 * with a unix socket upstream included) without binding ports or dialling upstreams.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { adaptFile } from "./index.js";
import { GOLDEN_ENV, GOLDEN_LISTEN, goldenCases } from "./testing/golden-cases.js";

const run = promisify(execFile);
const caddy = resolve(".tools/bin/caddy");
const scratch = mkdtempSync(join(tmpdir(), "nuts-caddy-validate-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Caddy keeps certificates and autosaves under these; keep them out of the user's home. */
const caddyEnv = {
  PATH: process.env.PATH ?? "",
  HOME: scratch,
  XDG_DATA_HOME: scratch,
  XDG_CONFIG_HOME: scratch,
};

async function validate(path: string, format: "caddyfile" | "json"): Promise<void> {
  const args =
    format === "json"
      ? ["validate", "--config", path]
      : ["adapt", "--config", path, "--adapter", "caddyfile", "--validate"];
  await run(caddy, args, { env: caddyEnv, timeout: 20_000 });
}

describe("caddy accepts the adapter's output", () => {
  it("has the caddy binary (install it with `bash scripts/install-tools.sh`)", () => {
    expect(existsSync(caddy)).toBe(true);
  });

  goldenCases().forEach((testCase, index) => {
    it(`validates the output for ${testCase.input}`, async () => {
      const adapted = await adaptFile(testCase.input, { listen: GOLDEN_LISTEN, env: GOLDEN_ENV });
      const out = join(scratch, `${index}.${testCase.format === "json" ? "json" : "Caddyfile"}`);
      const text =
        adapted.caddy.format === "json" ? JSON.stringify(adapted.caddy.json) : adapted.caddy.text;
      writeFileSync(out, text);
      await expect(validate(out, testCase.format)).resolves.toBeUndefined();
    });
  });

  it("rejects a broken config, so the checks above can fail", async () => {
    const out = join(scratch, "broken.Caddyfile");
    writeFileSync(out, ":8080 {\n\tnuts {\n\t\tstream_name EVENTS\n\t}\n}\n");
    await expect(validate(out, "caddyfile")).rejects.toThrow(/unrecognized directive: nuts/);
  });
});

describe("caddy reads the generated reverse_proxy as intended", () => {
  it("guards against long URIs, sets (replaces) X-Nuts-Route and Host, flushes at once, speaks h2c, waits for a restarting sidecar and dials the socket", async () => {
    const adapted = await adaptFile("caddy/testdata/basic.Caddyfile", {
      listen: GOLDEN_LISTEN,
      env: {},
    });
    const out = join(scratch, "header.Caddyfile");
    writeFileSync(out, adapted.caddy.format === "caddyfile" ? adapted.caddy.text : "");
    const { stdout } = await run(caddy, ["adapt", "--config", out, "--adapter", "caddyfile"], {
      env: caddyEnv,
    });
    const routes = JSON.parse(stdout).apps.http.servers.srv0.routes[0].handle[0].routes;
    // First the guard: a URI over 32 KiB gets the 414 from Caddy (oversized-guard.ts).
    expect(routes[0]).toEqual({
      match: [
        { expression: { expr: "size({http.request.uri}) > 32768", name: "nuts_events_oversized" } },
      ],
      handle: [
        { handler: "headers", response: { set: { "Content-Type": ["application/json"] } } },
        {
          handler: "static_response",
          status_code: 414,
          body: '{"error":"uri_too_long","message":"the request URI is over 32 KiB; ask for fewer or shorter topics"}',
        },
      ],
    });
    expect(routes[1].handle[0]).toEqual({
      flush_interval: -1,
      handler: "reverse_proxy",
      headers: { request: { set: { "X-Nuts-Route": ["events"], Host: ["nuts-sidecar"] } } },
      load_balancing: { try_duration: 10_000_000_000, try_interval: 100_000_000 },
      transport: { protocol: "http", versions: ["h2c"] },
      upstreams: [{ dial: "unix//run/nuts/nuts.sock" }],
    });
  });
});
