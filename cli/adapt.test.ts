/**
 * `nuts adapt` end to end: the built CLI run in a temporary folder. Built with `buildNuts`, which
 * takes the build lock and builds only when a source is newer: an unconditional `npm run build`
 * here rewrote dist/ while other test files ran the CLI from it (half-written modules).
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildNuts } from "../testing/nuts-cli.js";

const run = promisify(execFile);
const nuts = resolve("bin/nuts.js");
let folder: string;

beforeAll(async () => {
  await buildNuts();
  folder = mkdtempSync(join(tmpdir(), "nuts-adapt-"));
  writeFileSync(
    join(folder, "Caddyfile"),
    ":8080 {\n\troute /events* {\n\t\tnuts {\n\t\t\tstream_name EVENTS\n\t\t\tnats_token {$TOKEN}\n\t\t}\n\t}\n}\n",
  );
  writeFileSync(
    join(folder, "bad.Caddyfile"),
    ":8080 {\n\troute /events* {\n\t\tnuts {\n\t\t\tstream_nam EVENTS\n\t\t}\n\t}\n}\n",
  );
}, 120_000);
afterAll(() => rmSync(folder, { recursive: true, force: true }));

function nutsAdapt(...args: string[]) {
  return run("node", [nuts, "adapt", ...args], {
    cwd: folder,
    env: { ...process.env, TOKEN: "cli-secret" },
  });
}

describe("nuts adapt", () => {
  it("writes Caddyfile and sidecar.json, owner-only, and says how to start both", async () => {
    const { stdout } = await nutsAdapt("--config", "Caddyfile");
    const out = join(folder, "nuts-out");
    expect(statSync(out).mode & 0o777).toBe(0o700);
    expect(statSync(join(out, "Caddyfile")).mode & 0o777).toBe(0o600);
    expect(statSync(join(out, "sidecar.json")).mode & 0o777).toBe(0o600);
    const socket = `unix:${join(out, "nuts.sock")}`;
    expect(readFileSync(join(out, "Caddyfile"), "utf8")).toContain(
      `reverse_proxy unix/${join(out, "nuts.sock")} {`,
    );
    expect(readFileSync(join(out, "Caddyfile"), "utf8")).not.toContain("cli-secret");
    expect(JSON.parse(readFileSync(join(out, "sidecar.json"), "utf8"))).toEqual({
      routes: {
        events: { stream_name: "EVENTS", nats_token: "cli-secret", path_prefix: "/events" },
      },
    });
    expect(stdout).toContain(
      `nuts sidecar --config ${join(out, "sidecar.json")} --listen ${socket}`,
    );
    expect(stdout).toContain(`caddy run --config ${join(out, "Caddyfile")} --adapter caddyfile`);
  });

  it("takes --out and --listen", async () => {
    const { stdout } = await nutsAdapt(
      "--config",
      "Caddyfile",
      "--out",
      "elsewhere",
      "--listen",
      "127.0.0.1:9123",
    );
    expect(readFileSync(join(folder, "elsewhere", "Caddyfile"), "utf8")).toContain(
      "reverse_proxy 127.0.0.1:9123 {",
    );
    expect(stdout).toContain("--listen 127.0.0.1:9123");
  });

  it("prints a mistake as one sentence with the file and line, and exits 1", async () => {
    const failure = await nutsAdapt("--config", "bad.Caddyfile").then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failure?.code).toBe(1);
    expect(failure?.stderr).toBe(
      'nuts: bad.Caddyfile:4: unknown nuts option "stream_nam"; did you mean "stream_name"?\n',
    );
  });

  it("reports a missing config file without a stack trace", async () => {
    const failure = await nutsAdapt("--config", "nope.Caddyfile").then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failure?.code).toBe(1);
    expect(failure?.stderr).toBe("nuts: cannot read nope.Caddyfile: no such file\n");
  });
});
