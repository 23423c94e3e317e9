import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { buildNuts, runNuts } from "../testing/nuts-cli.js";

const dir = mkdtempSync(join(tmpdir(), "nuts-sidecar-cli-"));

function configFile(name: string, config: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof config === "string" ? config : JSON.stringify(config));
  return path;
}

beforeAll(buildNuts);

// Each mistake stops the sidecar before it listens: exit 1, one sentence naming the file, the
// option and the fix, no stack trace.
describe("nuts sidecar refuses a bad start", () => {
  it("names the file and the option for a config mistake", async () => {
    const path = configFile("two-auth.json", {
      routes: { e: { stream_name: "E", nats_token: "t", nats_user: "u", nats_password: "p" } },
    });
    expect(await runNuts(["sidecar", "--config", path])).toEqual({
      code: 1,
      stdout: "",
      stderr: `nuts: ${path}: route "e": choose one NATS auth mode, not nats_token and nats_user/nats_password\n`,
    });
  });

  it("says how to write a duration", async () => {
    const path = configFile("duration.json", {
      routes: { e: { stream_name: "E", heartbeat_interval: "ten" } },
    });
    expect((await runNuts(["sidecar", "--config", path])).stderr).toBe(
      `nuts: ${path}: route "e": heartbeat_interval takes seconds (like 30, 0.5 or "500ms") up to one day, got "ten"\n`,
    );
  });

  it("reports a file that is not JSON", async () => {
    const path = configFile("broken.json", "{ routes: ");
    const result = await runNuts(["sidecar", "--config", path]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(new RegExp(`^nuts: ${path} is not valid JSON: .+\\n$`));
  });

  it("reports a missing file", async () => {
    const path = join(dir, "missing.json");
    expect(await runNuts(["sidecar", "--config", path])).toEqual({
      code: 1,
      stdout: "",
      stderr: `nuts: cannot read the sidecar config ${path}: ENOENT\n`,
    });
  });

  it("refuses a socket mode that lets everyone connect", async () => {
    const path = configFile("header-routes.json", { header_routes: {} });
    const args = ["sidecar", "--config", path, "--listen", `unix:${join(dir, "s.sock")}`];
    expect(await runNuts([...args, "--socket-mode", "666"])).toEqual({
      code: 1,
      stdout: "",
      stderr:
        "nuts: --socket-mode 666: the sidecar must only be reachable through Caddy; give Caddy's group access (660), never everyone\n",
    });
    expect((await runNuts([...args, "--socket-mode", "rw"])).stderr).toBe(
      "nuts: --socket-mode rw: give octal permissions such as 600 or 660\n",
    );
  });

  it("refuses to listen beyond loopback", async () => {
    const path = configFile("good.json", { routes: { e: { stream_name: "E" } } });
    expect(await runNuts(["sidecar", "--config", path, "--listen", "0.0.0.0:9999"])).toEqual({
      code: 1,
      stdout: "",
      stderr:
        "nuts: --listen 0.0.0.0:9999: the sidecar must only be reachable through Caddy; use a unix socket or a loopback address such as 127.0.0.1:9999\n",
    });
  });
});
