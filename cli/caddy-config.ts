/**
 * Everything `nuts run` needs to know about the Caddy binary and its config: where caddy is,
 * the adapter's output turned into one Caddy JSON document with a private admin endpoint, and
 * the addresses that document serves.
 *
 * Why JSON: a Caddyfile from the adapter is first run through `caddy adapt` (Caddy's own
 * parser, so its error lines are the ones users know), then the `admin` object is set in the
 * JSON. Merging a global options block into Caddyfile text would have to cope with one that is
 * already there; in JSON it is one property, and a JSON config given to `nuts run` is handled
 * the same way.
 */
import { execFile } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import type { Adapted } from "../caddy/index.js";
import { UserError } from "./errors.js";
import { writePrivateFile } from "./runtime-dir.js";

export interface FindCaddyOptions {
  /** `--caddy <path>` */
  flag?: string;
  env: NodeJS.ProcessEnv;
  /** The repository root, for `.tools/bin/caddy`. */
  projectRoot: string;
}

export const CADDY_NOT_FOUND =
  "caddy not found; install it (scripts/install-tools.sh does) or pass --caddy";

/** `--caddy`, then env NUTS_CADDY, then PATH, then the project's `.tools/bin/caddy`. */
export function findCaddy({ flag, env, projectRoot }: FindCaddyOptions): string {
  if (flag !== undefined) {
    if (!isExecutable(flag)) throw new UserError(`--caddy ${flag}: no executable file there`);
    return flag;
  }
  const fromEnv = env.NUTS_CADDY;
  if (fromEnv) {
    if (!isExecutable(fromEnv)) {
      throw new UserError(`NUTS_CADDY=${fromEnv}: no executable file there`);
    }
    return fromEnv;
  }
  for (const dir of (env.PATH ?? "").split(delimiter)) {
    if (dir === "") continue;
    const candidate = join(dir, "caddy");
    if (isExecutable(candidate)) return candidate;
  }
  const bundled = join(projectRoot, ".tools", "bin", "caddy");
  if (isExecutable(bundled)) return bundled;
  throw new UserError(CADDY_NOT_FOUND);
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The parts of Caddy's JSON config that `nuts run` reads or sets. */
export interface CaddyJson {
  admin?: { disabled?: boolean; listen?: string; config?: { persist?: boolean } };
  apps?: {
    http?: {
      servers?: Record<string, CaddyServer>;
    };
  };
  [key: string]: unknown;
}

interface CaddyServer {
  listen?: string[];
  routes?: { match?: { host?: string[] }[] }[];
  tls_connection_policies?: unknown[];
  automatic_https?: { disable?: boolean };
}

/**
 * The adapter's Caddy config as JSON. A Caddyfile is written to `<runtimeDir>/Caddyfile` and
 * adapted by `caddy adapt`; its error becomes a UserError with Caddy's own line.
 */
export async function caddyJsonOf(
  caddy: Adapted["caddy"],
  options: {
    caddyBinary: string;
    runtimeDir: string;
    env: NodeJS.ProcessEnv;
    /** The user's config, named in errors. */
    sourceFile: string;
  },
): Promise<CaddyJson> {
  if (caddy.format === "json") return structuredClone(caddy.json) as CaddyJson;
  const caddyfile = join(options.runtimeDir, "Caddyfile");
  await writePrivateFile(caddyfile, caddy.text);
  const { stdout, stderr, error } = await run(
    options.caddyBinary,
    ["adapt", "--config", caddyfile, "--adapter", "caddyfile"],
    options.env,
  );
  if (error) {
    throw new UserError(
      // Caddy's line numbers are those of the adapted copy, which it names itself.
      `caddy rejected the config adapted from ${options.sourceFile}: ${caddyErrorLine(stderr) ?? error.message}`,
      { cause: error },
    );
  }
  try {
    return JSON.parse(stdout) as CaddyJson;
  } catch (parseError) {
    throw new Error(`caddy adapt printed something other than JSON: ${stdout.slice(0, 200)}`, {
      cause: parseError,
    });
  }
}

function run(
  file: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ stdout: string; stderr: string; error: Error | null }> {
  return new Promise((resolve) => {
    execFile(file, args, { env, maxBuffer: 64 << 20 }, (error, stdout, stderr) =>
      resolve({ stdout, stderr, error }),
    );
  });
}

/**
 * Points Caddy's admin endpoint at a unix socket in the runtime dir, unless the config says
 * where it goes (or switches it off) itself, and stops Caddy from autosaving the config over
 * the user's own `caddy run --resume` state.
 */
export function withPrivateAdmin(config: CaddyJson, adminSocket: string): CaddyJson {
  const admin = { ...config.admin };
  if (!admin.disabled && admin.listen === undefined) admin.listen = `unix/${adminSocket}`;
  admin.config = { persist: false, ...admin.config };
  return { ...config, admin };
}

/**
 * Every browser that leaves an event stream makes Caddy's reverse proxy log a warning
 * ("aborting with incomplete response"); thousands of them in a reconnect storm. Unless the
 * config sets up logging itself, the proxy's log keeps errors only.
 */
export function withQuietProxyLog(config: CaddyJson): CaddyJson {
  if (config.logging !== undefined) return config;
  const proxy = "http.handlers.reverse_proxy";
  return {
    ...config,
    logging: {
      logs: {
        default: { exclude: [proxy] },
        proxy: { include: [proxy], level: "ERROR" },
      },
    },
  };
}

/** `http://localhost:8080`-style URLs for every address the HTTP servers listen on. */
export function siteAddresses(config: CaddyJson): string[] {
  const addresses: string[] = [];
  for (const server of Object.values(config.apps?.http?.servers ?? {})) {
    const hosts = new Set<string>();
    for (const route of server.routes ?? []) {
      for (const match of route.match ?? []) for (const host of match.host ?? []) hosts.add(host);
    }
    for (const listen of server.listen ?? []) {
      const port = /:(\d+)(-\d+)?$/.exec(listen)?.[1];
      const bound = listen.replace(/^tcp\d?\//, "").replace(/:\d+(-\d+)?$/, "");
      const tls =
        port === "443" ||
        (server.tls_connection_policies !== undefined && server.automatic_https?.disable !== true);
      const scheme = tls ? "https" : "http";
      const defaultPort = tls ? "443" : "80";
      const portPart = port === undefined || port === defaultPort ? "" : `:${port}`;
      const names = hosts.size > 0 ? [...hosts] : [bound === "" ? "localhost" : bound];
      for (const name of names) addresses.push(`${scheme}://${name}${portPart}`);
    }
  }
  return [...new Set(addresses)];
}

/**
 * Caddy ends a failed start with `Error: loading initial config: ...`; that line, without the
 * `Error: ` prefix. For JSON log lines at level error, their `error` or `msg` field.
 */
export function caddyErrorLine(stderr: string): string | undefined {
  const lines = stderr.split("\n").map((line) => line.trim());
  const plain = lines.filter((line) => line.startsWith("Error: ")).at(-1);
  if (plain) return plain.slice("Error: ".length);
  for (const line of lines.reverse()) {
    if (!line.startsWith("{")) continue;
    try {
      const entry = JSON.parse(line) as { level?: string; msg?: string; error?: string };
      if (entry.level === "error" || entry.level === "fatal") return entry.error ?? entry.msg;
    } catch {
      // Not a log entry after all.
    }
  }
  return undefined;
}
