/**
 * Runs the real `nuts` command (`node bin/nuts.js ...`, which loads the compiled dist/) as a
 * child process, the way a user would, and collects its exit code and output.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, openSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { childrenOf, isAlive } from "./processes.js";

export interface NutsResult {
  /** Exit code; null if a signal ended it. */
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunNutsOptions {
  /** Written to stdin, which is then closed. @default "" */
  input?: string | Uint8Array;
  /** Added to the environment; NATS_* variables of the test process are not passed on. */
  env?: Record<string, string>;
}

const repoRoot = dirname(dirname(fileURLToPath(import.meta.url)));
const toolsBin = join(repoRoot, ".tools", "bin");
const compiledEntry = join(repoRoot, "dist", "cli", "main.js");
const SOURCE_FOLDERS = ["cli", "sidecar", "caddy", "mercure"];
const BUILD_LOCK = join(tmpdir(), `nuts-build-${Buffer.from(repoRoot).toString("hex")}.lock`);
const STALE_LOCK_MS = 120_000;

export async function runNuts(args: string[], options: RunNutsOptions = {}): Promise<NutsResult> {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith("NATS_")),
  );
  const child = spawn(process.execPath, [join(repoRoot, "bin", "nuts.js"), ...args], {
    cwd: repoRoot,
    env: { ...env, ...options.env },
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
  });
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  child.stdin.end(options.input ?? "");
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (exitCode) => resolve(exitCode));
  });
  return { code, stdout, stderr };
}

/** PATH with the project's `.tools/bin` (caddy, nats-server) first. */
export function pathWithTools(): string {
  return [toolsBin, process.env.PATH ?? ""].join(delimiter);
}

/**
 * A Caddyfile whose site on `:port` streams the EVENTS stream (topic prefix `events.`) under
 * /events; `extra` (whole lines, tab-indented) goes at the end of the site block.
 */
export function eventsCaddyfile(port: number, natsUrl: string, extra = ""): string {
  return `:${port} {
\troute /events* {
\t\tnuts {
\t\t\tnats_url ${natsUrl}
\t\t\tstream_name EVENTS
\t\t\ttopic_prefix events.
\t\t}
\t}
${extra}}
`;
}

/** A running `nuts run`; its output is kept (the start and the end of a long one). */
export interface NutsRun {
  process: ChildProcess;
  pid: number;
  runtimeDir: string;
  stdout(): string;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  waitForStderr(pattern: RegExp): Promise<RegExpMatchArray>;
  /** SIGTERM; SIGKILL for it and its children if it has not exited after 15 s. */
  kill(): Promise<void>;
}

/** Output past this is cut to its last half: Caddy logs every refused request. */
const MAX_OUTPUT_CHARS = 200_000;

/**
 * Starts `node [nodeOptions] bin/nuts.js run --config <configFile> --runtime-dir <runtimeDir>` with `.tools/bin` on PATH
 * and no NATS_* or NUTS_CADDY from this process, and waits until it has printed what it serves.
 * A run that does not get there is killed.
 */
/**
 * `nuts run` takes fixed loopback ports for its admin and Caddy metrics listeners by default;
 * tests that run at the same time (two CI runs, parallel test files) would race for them. Tests
 * that want the listeners set these variables themselves.
 */
export function withoutAdmin(): Record<string, string> {
  return {
    NUTS_ADMIN_LISTEN: process.env.NUTS_ADMIN_LISTEN ?? "off",
    NUTS_CADDY_METRICS_LISTEN: process.env.NUTS_CADDY_METRICS_LISTEN ?? "off",
  };
}

export async function startNutsRun(
  configFile: string,
  runtimeDir: string,
  startupTimeoutMs = 20_000,
  nodeOptions: string[] = [],
): Promise<NutsRun> {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(
      ([name]) => !name.startsWith("NATS_") && name !== "NUTS_CADDY",
    ),
  );
  const child = spawn(
    process.execPath,
    [
      ...nodeOptions,
      join(repoRoot, "bin", "nuts.js"),
      "run",
      "--config",
      configFile,
      "--runtime-dir",
      runtimeDir,
    ],
    {
      env: { ...env, ...withoutAdmin(), PATH: pathWithTools() },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let stdout = "";
  let stderr = "";
  const keep = (text: string) =>
    text.length > MAX_OUTPUT_CHARS ? text.slice(-MAX_OUTPUT_CHARS / 2) : text;
  const waiters = new Set<() => void>();
  const notify = () => {
    for (const waiter of waiters) waiter();
  };
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    stdout = keep(stdout + chunk);
    notify();
  });
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    stderr = keep(stderr + chunk);
    notify();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => {
      resolve({ code, signal });
      notify();
    }),
  );
  let gone = false;
  void exited.then(() => {
    gone = true;
  });

  const waitFor = (read: () => string, pattern: RegExp, timeoutMs = 20_000) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(
          new Error(`timed out waiting for ${pattern}\nstdout:\n${stdout}\nstderr:\n${stderr}`),
        );
      }, timeoutMs);
      const check = () => {
        const match = read().match(pattern);
        if (match || gone) {
          clearTimeout(timer);
          waiters.delete(check);
          if (match) resolve(match);
          else reject(new Error(`nuts run exited\nstdout:\n${stdout}\nstderr:\n${stderr}`));
        }
      };
      waiters.add(check);
      check();
    });

  const run: NutsRun = {
    process: child,
    pid: child.pid as number,
    runtimeDir,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    waitForStderr: (pattern) => waitFor(() => stderr, pattern),
    async kill() {
      if (gone) return;
      const children = childrenOf(run.pid);
      child.kill("SIGTERM");
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        for (const each of children) if (isAlive(each.pid)) process.kill(each.pid, "SIGKILL");
      }, 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
  try {
    await waitFor(() => stdout, /nuts: press Ctrl-C to stop\n/, startupTimeoutMs);
  } catch (error) {
    await run.kill();
    throw error;
  }
  return run;
}

/**
 * Compiles the sources to dist/ (`npm run build`) unless dist/ is newer than every source file.
 * Test files run in parallel workers, so a lock file keeps two builds from writing dist/ at once.
 */
export async function buildNuts(): Promise<void> {
  await withBuildLock(async () => {
    if (!needsBuild()) return;
    const tsc = join(repoRoot, "node_modules", "typescript", "bin", "tsc");
    const result = await new Promise<{ code: number | null; output: string }>((resolve) => {
      const child = spawn(process.execPath, [tsc, "-p", "tsconfig.build.json"], { cwd: repoRoot });
      let output = "";
      child.stdout.on("data", (chunk) => {
        output += chunk;
      });
      child.once("close", (code) => resolve({ code, output }));
    });
    // tsc still emits when some other file has a type error; only a missing entry point is fatal.
    if (needsBuild()) {
      throw new Error(`npm run build did not produce ${compiledEntry}:\n${result.output}`);
    }
  });
}

function needsBuild(): boolean {
  let builtAt: number;
  try {
    builtAt = statSync(compiledEntry).mtimeMs;
  } catch {
    return true;
  }
  return SOURCE_FOLDERS.some((folder) => newestSource(join(repoRoot, folder)) > builtAt);
}

function newestSource(folder: string): number {
  let newest = 0;
  for (const entry of readdirSync(folder, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !entry.name.endsWith(".ts") || entry.name.endsWith(".test.ts")) continue;
    newest = Math.max(newest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

async function withBuildLock(work: () => Promise<void>): Promise<void> {
  for (;;) {
    try {
      closeSync(openSync(BUILD_LOCK, "wx"));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      // A lock left behind by a crashed run must not block every later run.
      if (Date.now() - lockCreatedAt() > STALE_LOCK_MS) rmSync(BUILD_LOCK, { force: true });
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  try {
    await work();
  } finally {
    rmSync(BUILD_LOCK, { force: true });
  }
}

function lockCreatedAt(): number {
  try {
    return statSync(BUILD_LOCK).mtimeMs;
  } catch {
    return Date.now();
  }
}
