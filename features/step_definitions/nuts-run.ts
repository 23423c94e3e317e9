import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { Given, When } from "@cucumber/cucumber";
import { REPO_ROOT } from "../support/nuts-run.js";
import { eventually } from "../support/wait.js";
import type { NutsWorld } from "../support/world.js";

Given("nuts run serves this Caddyfile:", async function (this: NutsWorld, caddyfile: string) {
  await this.startNuts("Caddyfile", caddyfile);
});

Given("nuts run serves this Caddy JSON config:", async function (this: NutsWorld, json: string) {
  await this.startNuts("caddy.json", json, { expandInText: true });
});

Given("nuts run serves the example {string}", async function (this: NutsWorld, example: string) {
  const path = join(REPO_ROOT, example);
  await this.startNuts("Caddyfile", await readFile(path, "utf8"), {
    extraEnv: (port) => ({
      NUTS_HTTP_PORT: String(port),
      NUTS_DEMO_ROOT: join(REPO_ROOT, "caddy", "examples", "demo"),
    }),
  });
});

When("the sidecar process dies", async function (this: NutsWorld) {
  const [pid, ...others] = this.stack.sidecarPids();
  if (pid === undefined || others.length > 0) {
    throw new Error(`expected one sidecar process under nuts run, found ${[pid, ...others]}`);
  }
  process.kill(pid, "SIGKILL");
  await eventually(`nuts run to start a new sidecar in place of pid ${pid}`, () => {
    const now = this.stack.sidecarPids();
    return now.length === 1 && now[0] !== pid;
  });
});
