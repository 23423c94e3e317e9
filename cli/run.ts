/**
 * `nuts run --config Caddyfile`: one command for the whole thing. Adapts the config, writes the
 * generated Caddy JSON and sidecar.json into a private runtime dir, starts the sidecar, then
 * Caddy, and supervises both until Ctrl-C (see supervisor.ts).
 *
 * Caddy's admin endpoint goes to a unix socket in the runtime dir (caddy-config.ts), so several
 * `nuts run` (parallel tests, two projects) never fight over localhost:2019, and SIGHUP reloads
 * through it: the config file is adapted again and what changed is applied (see Reloader).
 */
import { existsSync } from "node:fs";
import { rename, rm, stat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type Command, Option } from "commander";
import type { Adapted } from "../caddy/index.js";
import { parseAdminListen } from "../sidecar/admin.js";
import { type ListenAddress, parseListen } from "../sidecar/listen.js";
import {
  type CaddyJson,
  caddyJsonOf,
  findCaddy,
  siteAddresses,
  withPrivateAdmin,
  withQuietProxyLog,
} from "./caddy-config.js";
import {
  DEFAULT_ADMIN_LISTEN,
  DEFAULT_CADDY_METRICS_LISTEN,
  isFree,
  withCaddyMetrics,
  withoutCaddyMetrics,
} from "./caddy-metrics.js";
import { action, isUserFacing, UserError } from "./errors.js";
import {
  defaultRuntimeDirPath,
  prepareRuntimeDir,
  type RuntimeDir,
  writePrivateFile,
} from "./runtime-dir.js";
import { shownPath } from "./shown-path.js";
import { SIDECAR_NODE_OPTIONS } from "./sidecar-node-options.js";
import { type SidecarCommand, type SidecarSwap, Supervisor } from "./supervisor.js";

interface RunFlags {
  config: string;
  listen?: string;
  runtimeDir?: string;
  caddy?: string;
  adminListen?: string;
  caddyMetricsListen?: string;
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
    .addOption(
      new Option(
        "--admin-listen <address>",
        `the sidecar's /livez, /readyz and /metrics: host:PORT, unix:/path.sock or off (default: ${DEFAULT_ADMIN_LISTEN} when free)`,
      ).env("NUTS_ADMIN_LISTEN"),
    )
    .addOption(
      new Option(
        "--caddy-metrics-listen <address>",
        `Caddy's own /metrics: host:PORT or off (default: ${DEFAULT_CADDY_METRICS_LISTEN} when free)`,
      ).env("NUTS_CADDY_METRICS_LISTEN"),
    )
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
  const report = (line: string) => process.stderr.write(`nuts: ${line}\n`);
  const adminListen = await chooseMetricsAddress(
    flags.adminListen,
    DEFAULT_ADMIN_LISTEN,
    "the sidecar's health and metrics are off (choose another with --admin-listen)",
    report,
  );
  if (adminListen !== null) parseAdminListen(adminListen);
  const caddyMetricsListen = await chooseMetricsAddress(
    flags.caddyMetricsListen,
    DEFAULT_CADDY_METRICS_LISTEN,
    "Caddy's metrics are off (choose another with --caddy-metrics-listen)",
    report,
  );
  if (caddyMetricsListen !== null && !/^[^/\s]+:\d{1,5}$/.test(caddyMetricsListen)) {
    throw new UserError(
      `--caddy-metrics-listen ${caddyMetricsListen}: use host:PORT such as ${DEFAULT_CADDY_METRICS_LISTEN}, or off`,
    );
  }
  // The second socket a reload starts a new sidecar on, beside the running one.
  const otherSocket = join(runtime.path, "nuts.1.sock");
  const otherListen = (current: string): string | undefined => {
    if (flags.listen !== undefined) return undefined;
    return current === `unix:${otherSocket}`
      ? `unix:${runtime.sidecarSocket}`
      : `unix:${otherSocket}`;
  };

  // Loaded here, not at the top: the other commands should not pay for the Caddyfile parser.
  const { adaptFile, requireRoutes } = await import("../caddy/index.js");
  /** Reads and adapts the config file as it is now; throws for a config that does not adapt. */
  const generate = async (listen: string): Promise<Generation> => {
    const adapted = requireRoutes(
      await adaptFile(configFile, { listen, env: process.env }),
      configFile,
    );
    const sidecarAddress = checkListen(adapted.listen);
    let caddyJson = withPrivateAdmin(
      withQuietProxyLog(
        await caddyJsonOf(adapted.caddy, {
          caddyBinary,
          runtimeDir: runtime.path,
          env: process.env,
          sourceFile: flags.config,
        }),
      ),
      runtime.caddyAdminSocket,
    );
    if (caddyMetricsListen !== null) caddyJson = withCaddyMetrics(caddyJson, caddyMetricsListen);
    return {
      adapted,
      sidecarAddress,
      sidecarText: `${JSON.stringify(adapted.sidecar, null, 2)}\n`,
      caddyJson,
      caddyText: `${JSON.stringify(caddyJson, null, 2)}\n`,
    };
  };
  const files: GeneratedFiles = {
    sidecar: join(runtime.path, "sidecar.json"),
    caddy: join(runtime.path, "caddy.json"),
    caddyNext: join(runtime.path, "caddy.next.json"),
  };
  const first = await generate(listen);
  await writePrivateFile(files.sidecar, first.sidecarText);
  await writePrivateFile(files.caddy, first.caddyText);

  const sidecarCommand = (generation: Generation): SidecarCommand => ({
    command: process.execPath,
    args: [
      // Node's own options (`node --max-old-space-size=… nuts run`) apply to the sidecar too,
      // as with child_process.fork; with bin/nuts.js's #! line they include the sidecar's.
      ...SIDECAR_NODE_OPTIONS.filter((option) => !process.execArgv.includes(option)),
      ...process.execArgv,
      join(projectRoot, "bin", "nuts.js"),
      "sidecar",
      "--config",
      files.sidecar,
      "--listen",
      generation.adapted.listen,
      "--admin-listen",
      adminListen ?? "off",
    ],
    env: process.env,
    address: generation.sidecarAddress,
  });
  const supervisor = new Supervisor({
    sidecar: sidecarCommand(first),
    caddy: {
      command: caddyBinary,
      args: ["run", "--config", files.caddy],
      env: process.env,
    },
    report,
  });

  const reloader = new Reloader({
    generate,
    current: first,
    listen,
    otherListen,
    files,
    supervisor,
    sidecarCommand,
    configName: flags.config,
    report,
  });
  const onStopSignal = (signal: NodeJS.Signals) => {
    process.stderr.write(`nuts: ${signal}: stopping Caddy and the sidecar\n`);
    supervisor.stop();
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, onStopSignal);
  process.on("SIGHUP", () => reloader.request());
  // The children have process groups of their own: nothing else would stop them if we crashed.
  process.on("exit", () => supervisor.killAll());

  if ((await supervisor.start()) === "running") {
    process.stdout.write(
      summary(first.adapted, first.caddyJson, runtime, caddyBinary, {
        admin: adminListen,
        caddy: caddyMetricsListen,
      }),
    );
  }
  const exitCode = await supervisor.done;
  if (flags.runtimeDir === undefined) {
    // A folder we chose goes with us: its sidecar.json may hold NATS secrets.
    await rm(runtime.path, { recursive: true, force: true });
  } else {
    await Promise.all(
      [runtime.sidecarSocket, otherSocket, runtime.caddyAdminSocket, files.caddyNext].map((file) =>
        rm(file, { force: true }),
      ),
    );
  }
  process.exit(exitCode);
}

/** What one reading of the config file produced: the files to write and what they say. */
interface Generation {
  adapted: Adapted;
  sidecarAddress: ListenAddress;
  /** sidecar.json as written. */
  sidecarText: string;
  caddyJson: CaddyJson;
  /** caddy.json as written. */
  caddyText: string;
}

interface GeneratedFiles {
  sidecar: string;
  caddy: string;
  /** A new Caddy config waits here until Caddy has accepted it. */
  caddyNext: string;
}

interface ReloaderOptions {
  /** Adapts the config file as it is now, with `listen` for the sidecar unless the file says. */
  generate: (listen: string) => Promise<Generation>;
  /** The generation running now. */
  current: Generation;
  /** The sidecar address `nuts run` chose (or --listen), as passed to `generate`. */
  listen: string;
  /**
   * Another address for a sidecar started beside the running one, or undefined when the
   * address is the user's (--listen) and a new sidecar must take the old one's place.
   */
  otherListen: (listen: string) => string | undefined;
  files: GeneratedFiles;
  supervisor: Supervisor;
  sidecarCommand: (generation: Generation) => SidecarCommand;
  /** The config file as the user named it. */
  configName: string;
  report: (line: string) => void;
}

/**
 * SIGHUP: adapts the config file again and applies what changed, the way `nginx -s reload` and
 * `caddy reload` do. A config that does not adapt (or that Caddy would refuse) changes nothing:
 * the error is printed and the previous config keeps running. One reload at a time; signals
 * that arrive meanwhile make one more.
 *
 * Caddy is never reloaded while requests wait in its proxy for a sidecar to listen: a reload
 * cancels their retries and they get a 502, which an EventSource never retries. So a sidecar
 * whose config changed is started beside the old one on the other of two sockets, Caddy is
 * pointed at it, and only then is the old one stopped; its streams end cleanly and browsers
 * come back with their last id to the new one, losing nothing. When the user fixed the address
 * (--listen, sidecar_listen), Caddy goes first and the sidecar is replaced in place while
 * Caddy holds the reconnects.
 */
class Reloader {
  private current: Generation;
  private listen: string;
  private busy = false;
  private again = false;

  constructor(private readonly options: ReloaderOptions) {
    this.current = options.current;
    this.listen = options.listen;
  }

  request(): void {
    if (!this.options.supervisor.running) {
      this.options.report("SIGHUP: not running yet (or stopping); nothing reloaded");
      return;
    }
    if (this.busy) {
      this.again = true;
      return;
    }
    this.busy = true;
    void (async () => {
      do {
        this.again = false;
        try {
          this.options.report(`reloaded ${this.options.configName}: ${await this.reload()}`);
        } catch (error) {
          const reason = isUserFacing(error) ? error.message : String(error);
          this.options.report(`reload failed, still running the previous config: ${reason}`);
        }
      } while (this.again && this.options.supervisor.running);
      this.busy = false;
    })();
  }

  /** Applies the config file as it is now; returns what was done, throws if nothing was. */
  private async reload(): Promise<string> {
    const previous = this.current;
    let next = await this.options.generate(this.listen);
    const sidecarChanged = next.sidecarText !== previous.sidecarText;
    if (!sidecarChanged && next.caddyText === previous.caddyText) return "nothing changed";

    let listen = this.listen;
    const other = this.options.otherListen(this.listen);
    if (sidecarChanged && next.adapted.listen === this.listen && other !== undefined) {
      listen = other;
      next = await this.options.generate(listen);
    }
    const caddyChanged = next.caddyText !== previous.caddyText;
    if (caddyChanged) await this.checkCaddy(previous, next);
    if (!sidecarChanged && next.adapted.listen === previous.adapted.listen) {
      await this.applyCaddy(previous);
      this.current = next;
      return "applied the new Caddy config; the sidecar config is unchanged, so it kept running";
    }
    if (next.adapted.listen !== previous.adapted.listen) {
      await this.startBeside(previous, next, caddyChanged);
    } else {
      await this.replaceInPlace(previous, next, caddyChanged);
    }
    this.current = next;
    this.listen = listen;
    return caddyChanged
      ? "restarted the sidecar and applied the new Caddy config"
      : "restarted the sidecar; the Caddy config is unchanged";
  }

  /** Writes the new Caddy config beside the running one and has `caddy validate` check it. */
  private async checkCaddy(previous: Generation, next: Generation): Promise<void> {
    const { files, supervisor } = this.options;
    if (adminAddressOf(previous) === undefined) {
      throw new UserError(
        "Caddy's admin endpoint is off, so its config cannot be reloaded; restart nuts run instead",
      );
    }
    await writePrivateFile(files.caddyNext, next.caddyText);
    await supervisor.validateCaddy(files.caddyNext).catch(async (error: unknown) => {
      await rm(files.caddyNext, { force: true });
      throw error;
    });
  }

  /** Caddy loads the checked config; it keeps the running one if that fails. */
  private async applyCaddy(previous: Generation): Promise<void> {
    const { files, supervisor } = this.options;
    // Caddy is told through the endpoint it listens on now, wherever the new config moves it.
    const admin = adminAddressOf(previous) as string;
    try {
      await supervisor.reloadCaddy(files.caddyNext, admin);
    } catch (error) {
      await rm(files.caddyNext, { force: true });
      throw error;
    }
    await rename(files.caddyNext, files.caddy);
  }

  private async startBeside(previous: Generation, next: Generation, caddyChanged: boolean) {
    const { files, supervisor, sidecarCommand } = this.options;
    await writePrivateFile(files.sidecar, next.sidecarText);
    let swap: SidecarSwap | undefined;
    try {
      swap = await supervisor.startSidecarBeside(sidecarCommand(next));
      if (caddyChanged) await this.applyCaddy(previous);
    } catch (error) {
      await swap?.rollback();
      await writePrivateFile(files.sidecar, previous.sidecarText);
      await rm(files.caddyNext, { force: true });
      throw error;
    }
    await swap.commit();
  }

  private async replaceInPlace(previous: Generation, next: Generation, caddyChanged: boolean) {
    const { files, supervisor, sidecarCommand } = this.options;
    if (caddyChanged) await this.applyCaddy(previous);
    await writePrivateFile(files.sidecar, next.sidecarText);
    try {
      await supervisor.replaceSidecar(sidecarCommand(next));
    } catch (error) {
      if (!supervisor.running) throw error;
      await writePrivateFile(files.sidecar, previous.sidecarText);
      await supervisor.replaceSidecar(sidecarCommand(previous));
      const applied = caddyChanged ? "; Caddy runs its new config" : "";
      throw new UserError(
        `${(error as Error).message}; the sidecar runs its previous config${applied}`,
        {
          cause: error,
        },
      );
    }
  }
}

/** Where the running Caddy takes admin requests (`unix//path.sock`), if anywhere. */
function adminAddressOf(generation: Generation): string | undefined {
  const admin = generation.caddyJson.admin;
  return admin?.disabled ? undefined : admin?.listen;
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
  metrics: { admin: string | null; caddy: string | null },
): string {
  const lines: string[] = [];
  const sites = siteAddresses(withoutCaddyMetrics(caddyJson));
  lines.push(`nuts: serving ${sites.length > 0 ? sites.join(", ") : "(no HTTP servers)"}`);
  for (const route of adapted.routes) {
    const where = `${shownPath(route.file)}:${route.line}`;
    lines.push(
      `nuts: route ${route.name}: ${route.pathPrefix || "/"} -> stream ${route.streamName}, topic prefix ${JSON.stringify(route.topicPrefix)} (${where})`,
    );
  }
  const admin = caddyJson.admin?.disabled ? "off" : (caddyJson.admin?.listen ?? "default");
  lines.push(
    `nuts: sidecar on ${adapted.listen}; caddy ${caddyBinary} with admin ${admin}; generated config in ${runtime.path}`,
  );
  if (metrics.admin !== null) {
    const at = metrics.admin.startsWith("unix:") ? metrics.admin : `http://${metrics.admin}`;
    lines.push(`nuts: sidecar health and metrics on ${at} (/livez, /readyz, /metrics)`);
  }
  if (metrics.caddy !== null) lines.push(`nuts: caddy metrics on http://${metrics.caddy}/metrics`);
  lines.push("nuts: press Ctrl-C to stop");
  return `${lines.join("\n")}\n`;
}

/**
 * The address for a metrics listener: the flag's (`off` turns it off), else the default when
 * nothing listens there (a second `nuts run` on the machine gets none, and says so).
 */
async function chooseMetricsAddress(
  flag: string | undefined,
  fallback: string,
  whenTaken: string,
  report: (line: string) => void,
): Promise<string | null> {
  if (flag === "off" || flag === "") return null;
  if (flag !== undefined) return flag;
  if (await isFree(fallback)) return fallback;
  report(`${fallback} is in use; ${whenTaken}`);
  return null;
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
