/**
 * The files an operator deploys the sidecar with, checked against the real CLI: the systemd unit
 * (systemd-analyze verify, and its ExecStart run for real) and the compose example (parsed by
 * `docker compose config`, its sidecar command run for real, its Caddyfile validated by caddy).
 */
import { execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { buildNuts } from "../testing/nuts-cli.js";

const repoRoot = dirname(dirname(fileURLToPath(import.meta.url)));
const nutsBin = join(repoRoot, "bin", "nuts.js");
const unitFile = join(repoRoot, "deploy", "systemd", "nuts-sidecar.service");
const composeDir = join(repoRoot, "deploy", "compose");
const composeFile = join(composeDir, "docker-compose.sidecar.yml");
const caddy = join(repoRoot, ".tools", "bin", "caddy");
const dir = mkdtempSync(join(tmpdir(), "nuts-deploy-"));

function run(
  command: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(command, args, { env: { ...process.env, ...env } }, (error, stdout, stderr) => {
      done({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr });
    });
  });
}

const hasSystemdAnalyze = (await run("systemd-analyze", ["--version"])).code === 0;
const hasCompose = (await run("docker", ["compose", "version"])).code === 0;

/**
 * Runs `nuts <args>` with the deployment's paths moved into a temp folder, waits until the
 * sidecar listens, and returns its socket's permissions; then stops it with SIGTERM.
 */
async function socketModeOf(args: string[], configPath: string, socketDir: string) {
  const root = mkdtempSync(join(dir, "run-"));
  writeFileSync(join(root, "sidecar.json"), JSON.stringify({ header_routes: {} }));
  const moved = args.map((arg) =>
    arg.replace(configPath, join(root, "sidecar.json")).replace(`${socketDir}/`, `${root}/`),
  );
  const child = spawn(process.execPath, [nutsBin, ...moved], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    output += chunk;
  });
  const exited = new Promise<number | null>((done) => child.once("exit", (code) => done(code)));
  const deadline = Date.now() + 15_000;
  while (!output.includes('"msg":"sidecar listening"')) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`nuts ${moved.join(" ")} did not start listening:\n${output}`);
    }
    await new Promise((wait) => setTimeout(wait, 20));
  }
  const socket = statSync(join(root, "nuts.sock"));
  child.kill("SIGTERM");
  return { isSocket: socket.isSocket(), mode: socket.mode & 0o777, exitCode: await exited };
}

beforeAll(buildNuts);

describe("deploy/systemd/nuts-sidecar.service", () => {
  const unit = readFileSync(unitFile, "utf8");
  const setting = (name: string) =>
    unit
      .split("\n")
      .filter((line) => line.startsWith(`${name}=`))
      .map((line) => line.slice(name.length + 1));

  it("gives the socket to the caddy group, in a directory only nuts and caddy may enter", () => {
    expect({
      user: setting("User"),
      group: setting("Group"),
      runtimeDirectory: setting("RuntimeDirectory"),
      runtimeDirectoryMode: setting("RuntimeDirectoryMode"),
      killSignal: setting("KillSignal"),
    }).toEqual({
      user: ["nuts"],
      group: ["caddy"],
      runtimeDirectory: ["nuts"],
      runtimeDirectoryMode: ["0750"],
      killSignal: ["SIGTERM"],
    });
  });

  it("starts the real CLI: the socket is 0660 and SIGTERM stops it cleanly", async () => {
    const [execStart] = setting("ExecStart");
    const [binary, ...args] = (execStart ?? "").split(" ");
    expect(binary).toBe("/usr/local/bin/nuts");
    expect(args.slice(0, 1)).toEqual(["sidecar"]);
    expect(await socketModeOf(args, "/etc/nuts/sidecar.json", "/run/nuts")).toEqual({
      isSocket: true,
      mode: 0o660,
      exitCode: 0,
    });
  });

  it.skipIf(!hasSystemdAnalyze)("passes systemd-analyze verify", async () => {
    // verify checks that ExecStart's binary exists: point it at this checkout's.
    const copy = join(dir, "nuts-sidecar.service");
    writeFileSync(copy, unit.replace("/usr/local/bin/nuts ", `${nutsBin} `));
    expect(await run("systemd-analyze", ["verify", copy])).toEqual({
      code: 0,
      stdout: "",
      stderr: "",
    });
  });
});

describe.skipIf(!hasCompose)("deploy/compose/docker-compose.sidecar.yml", () => {
  interface ComposeService {
    command?: string[];
    image?: string;
    ports?: unknown[];
    volumes?: { type: string; source: string; target: string; read_only?: boolean }[];
  }
  let services: Record<string, ComposeService>;

  beforeAll(async () => {
    const result = await run("docker", [
      "compose",
      "-f",
      composeFile,
      "config",
      "--format",
      "json",
    ]);
    expect(result.stderr).toBe("");
    services = (JSON.parse(result.stdout) as { services: Record<string, ComposeService> }).services;
  });

  it("runs the NUTS image as the sidecar alone, unreachable but through the socket volume", () => {
    const sidecar = services["nuts-sidecar"] as ComposeService;
    expect(sidecar.ports).toBeUndefined();
    expect(sidecar.volumes?.map((volume) => [volume.source, volume.target])).toEqual([
      [join(composeDir, "sidecar.json"), "/etc/nuts/sidecar.json"],
      ["nuts-socket", "/run/nuts"],
    ]);
  });

  it("starts the real CLI with the sidecar's command: the socket is 0660", async () => {
    const command = services["nuts-sidecar"]?.command ?? [];
    expect(command[0]).toBe("sidecar");
    expect(await socketModeOf(command, "/etc/nuts/sidecar.json", "/run/nuts")).toEqual({
      isSocket: true,
      mode: 0o660,
      exitCode: 0,
    });
  });

  it("gives the official Caddy image the snippet, and a Caddyfile that caddy validates", async () => {
    const caddyService = services.caddy as ComposeService;
    expect(caddyService.image).toBe("caddy:2.11");
    const mounts = Object.fromEntries(
      (caddyService.volumes ?? []).map((volume) => [volume.target, volume.source]),
    );
    expect(mounts).toEqual({
      "/etc/caddy/Caddyfile": join(composeDir, "Caddyfile"),
      "/etc/caddy/nuts.caddy": resolve(repoRoot, "caddy", "nuts.caddy"),
      "/run/nuts": "nuts-socket",
    });
    expect(existsSync(mounts["/etc/caddy/nuts.caddy"] as string)).toBe(true);
    // The Caddyfile as the container sees it: the snippet at its mounted path.
    const caddyfile = readFileSync(join(composeDir, "Caddyfile"), "utf8").replace(
      "import /etc/caddy/nuts.caddy",
      `import ${mounts["/etc/caddy/nuts.caddy"]}`,
    );
    const copy = join(dir, "Caddyfile");
    writeFileSync(copy, caddyfile);
    const result = await run(caddy, ["validate", "--config", copy]);
    expect(result.stdout).toBe("Valid configuration\n");
    expect(result.code).toBe(0);
  });
});

describe("the npm package", () => {
  it("holds the snippet and the deployment files at the paths the docs name", async () => {
    const result = await run("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"]);
    const [pack] = JSON.parse(result.stdout) as { files: { path: string }[] }[];
    const paths = (pack?.files ?? []).map((file) => file.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        "bin/nuts.js",
        "dist/cli/main.js",
        "dist/sidecar/server.js",
        "caddy/nuts.caddy",
        "deploy/systemd/nuts-sidecar.service",
        "deploy/compose/docker-compose.sidecar.yml",
        "docs/drop-in.md",
      ]),
    );
    // What users run, not how it is built or tested.
    expect(
      paths.filter((path) => /\.test\.|(^|\/)testing\/|^features\/|^bench\/|\.ts$/.test(path)),
    ).toEqual([]);
  });
});
