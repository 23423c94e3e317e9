/**
 * `nuts run --config Caddyfile`: one command for the whole thing. Adapts the config, writes the
 * generated Caddy JSON and sidecar.json into a private runtime dir, starts the sidecar, then
 * Caddy, and supervises both until Ctrl-C (see supervisor.ts).
 *
 * Caddy's admin endpoint goes to a unix socket in the runtime dir (caddy-config.ts), so several
 * `nuts run` (parallel tests, two projects) never fight over localhost:2019.
 */
import { existsSync } from "node:fs";
import { rm, stat } from "node:fs/promises";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Command } from "commander";
import type { Adapted } from "../caddy/index.js";
import { type ListenAddress, parseListen } from "../sidecar/listen.js";
import {
  type CaddyJson,
  caddyJsonOf,
  findCaddy,
  siteAddresses,
  withPrivateAdmin,
} from "./caddy-config.js";
import { action, UserError } from "./errors.js";
import {
  defaultRuntimeDirPath,
  prepareRuntimeDir,
  type RuntimeDir,
  writePrivateFile,
} from "./runtime-dir.js";
import { Supervisor } from "./supervisor.js";

interface RunFlags {
  config: string;
  listen?: string;
  runtimeDir?: string;
  caddy?: string;
}

export function registerRun(program: Command): void {
  program
    .command("run")
    .description("adapt a Caddyfile, then run Caddy and the sidecar together until Ctrl-C")
    .requiredOption("--config <file>", "Caddyfile (or Caddy JSON) with nuts { ... } blocks")
    .option(
      "--listen <address>",
      "where the sidecar listens: unix:/path.sock or 127.0.0.1:PORT (default: a unix socket in the runtime dir)",
    )
    .option(
      "--runtime-dir <dir>",
      "private folder for the generated config and sockets (default: $XDG_RUNTIME_DIR/nuts-<hash>, else <tmp>/nuts-<uid>-<hash>, removed on exit)",
    )
    .option("--caddy <path>", "the caddy binary (default: env NUTS_CADDY, PATH, .tools/bin/caddy)")
    .action(action(runNuts));
}

async function runNuts(flags: RunFlags): Promise<void> {
  const configFile = resolve(flags.config);
  await stat(configFile).catch((error: NodeJS.ErrnoException) => {
    throw new UserError(`cannot read --config ${flags.config}: ${error.code ?? error.message}`);
  });
  const projectRoot = findProjectRoot();
  const caddyBinary = findCaddy({ flag: flags.caddy, env: process.env, projectRoot });
  const runtime = await prepareRuntimeDir(
    flags.runtimeDir ?? (await defaultRuntimeDirPath(configFile)),
  );
  const listen = flags.listen ?? `unix:${runtime.sidecarSocket}`;
  checkListen(listen);

  // Loaded here, not at the top: the other commands should not pay for the Caddyfile parser.
  const { adaptFile, requireRoutes } = await import("../caddy/index.js");
  const adapted = requireRoutes(
    await adaptFile(configFile, { listen, env: process.env }),
    configFile,
  );
  const sidecarAddress = checkListen(adapted.listen);

  const sidecarConfig = join(runtime.path, "sidecar.json");
  await writePrivateFile(sidecarConfig, `${JSON.stringify(adapted.sidecar, null, 2)}\n`);
  const caddyJson = withPrivateAdmin(
    await caddyJsonOf(adapted.caddy, {
      caddyBinary,
      runtimeDir: runtime.path,
      env: process.env,
      sourceFile: flags.config,
    }),
    runtime.caddyAdminSocket,
  );
  const caddyConfig = join(runtime.path, "caddy.json");
  await writePrivateFile(caddyConfig, `${JSON.stringify(caddyJson, null, 2)}\n`);

  const supervisor = new Supervisor({
    sidecar: {
      command: process.execPath,
      args: [
        join(projectRoot, "bin", "nuts.js"),
        "sidecar",
        "--config",
        sidecarConfig,
        "--listen",
        adapted.listen,
      ],
      env: process.env,
      address: sidecarAddress,
    },
    caddy: {
      command: caddyBinary,
      args: ["run", "--config", caddyConfig],
      env: process.env,
    },
    report: (line) => process.stderr.write(`nuts: ${line}\n`),
  });

  const onSignal = (signal: NodeJS.Signals) => {
    process.stderr.write(`nuts: ${signal}: stopping Caddy and the sidecar\n`);
    supervisor.stop();
  };
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, onSignal);
  // The children have process groups of their own: nothing else would stop them if we crashed.
  process.on("exit", () => supervisor.killAll());

  if ((await supervisor.start()) === "running") {
    process.stdout.write(summary(adapted, caddyJson, runtime, caddyBinary));
  }
  const exitCode = await supervisor.done;
  if (flags.runtimeDir === undefined) {
    // A folder we chose goes with us: its sidecar.json may hold NATS secrets.
    await rm(runtime.path, { recursive: true, force: true });
  } else {
    await Promise.all(
      [runtime.sidecarSocket, runtime.caddyAdminSocket].map((socket) =>
        rm(socket, { force: true }),
      ),
    );
  }
  process.exit(exitCode);
}

/** The sidecar address must be one the supervisor can wait for: a socket or a fixed port. */
function checkListen(text: string): ListenAddress {
  const address = parseListen(text);
  if (address.type === "tcp" && address.port === 0) {
    throw new UserError(`--listen ${text}: Caddy needs a fixed port to proxy to; pick one`);
  }
  return address;
}

function summary(
  adapted: Adapted,
  caddyJson: CaddyJson,
  runtime: RuntimeDir,
  caddyBinary: string,
): string {
  const lines: string[] = [];
  const sites = siteAddresses(caddyJson);
  lines.push(`nuts: serving ${sites.length > 0 ? sites.join(", ") : "(no HTTP servers)"}`);
  for (const route of adapted.routes) {
    const where = `${relative(process.cwd(), route.file) || route.file}:${route.line}`;
    lines.push(
      `nuts: route ${route.name}: ${route.pathPrefix || "/"} -> stream ${route.streamName}, topic prefix ${JSON.stringify(route.topicPrefix)} (${where})`,
    );
  }
  const admin = caddyJson.admin?.disabled ? "off" : (caddyJson.admin?.listen ?? "default");
  lines.push(
    `nuts: sidecar on ${adapted.listen}; caddy ${caddyBinary} with admin ${admin}; generated config in ${runtime.path}`,
  );
  lines.push("nuts: press Ctrl-C to stop");
  return `${lines.join("\n")}\n`;
}

/** The folder with bin/nuts.js: two levels up from dist/cli/run.js, one from cli/run.ts. */
function findProjectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 4; depth++) {
    if (existsSync(join(dir, "bin", "nuts.js"))) return dir;
    dir = dirname(dir);
  }
  throw new Error(`cannot find bin/nuts.js above ${fileURLToPath(import.meta.url)}`);
}
