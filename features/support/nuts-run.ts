/**
 * `nuts run --config <file>` as a user starts it: a child process with the config in a temp
 * folder of its own, stopped with SIGTERM. Its output is kept for failure reports.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { withoutAdmin } from "../../testing/nuts-cli.js";
import { eventually } from "./wait.js";

export const REPO_ROOT = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
const NUTS_BIN = join(REPO_ROOT, "bin", "nuts.js");
const STARTUP_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 10_000;
const MAX_LOG_CHARS = 200_000;

export interface NutsRunOptions {
  /** The config file's name decides its format: `Caddyfile` or `caddy.json`. */
  fileName: string;
  text: string;
  /** Environment for `{$VAR}` placeholders, on top of this process's own. */
  env: Record<string, string>;
  /** The port the config's site listens on; `nuts run` is ready once it answers HTTP. */
  port: number;
}

export class NutsRun {
  private output = "";
  private exited: Promise<void>;
  private exitDescription: string | undefined;

  private constructor(
    readonly child: ChildProcess,
    readonly dir: string,
    readonly baseUrl: string,
  ) {
    for (const stream of [child.stdout, child.stderr]) {
      stream?.setEncoding("utf8");
      stream?.on("data", (chunk: string) => {
        if (this.output.length < MAX_LOG_CHARS) this.output += chunk;
      });
    }
    this.exited = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        this.exitDescription = signal ? `signal ${signal}` : `code ${code}`;
        resolve();
      });
    });
    liveRuns.add(child);
  }

  /** Writes the config, starts `nuts run` and waits until its site answers. */
  static async start(options: NutsRunOptions): Promise<NutsRun> {
    const dir = await mkdtemp(join(tmpdir(), "nuts-bdd-"));
    const configFile = join(dir, options.fileName);
    await writeFile(configFile, options.text);
    // The runtime dir (generated config, sockets) goes inside our temp folder, removed on stop.
    const args = [NUTS_BIN, "run", "--config", configFile, "--runtime-dir", join(dir, "run")];
    const child = spawn(process.execPath, args, {
      cwd: dir,
      env: { ...process.env, ...withoutAdmin(), ...options.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const run = new NutsRun(child, dir, `http://127.0.0.1:${options.port}`);
    try {
      await eventually(
        `nuts run to serve ${run.baseUrl}`,
        async () => {
          if (run.exitDescription) {
            throw new StartupFailed(`nuts run exited (${run.exitDescription}):\n${run.output}`);
          }
          return answersHttp(run.baseUrl);
        },
        { timeoutMs: STARTUP_TIMEOUT_MS },
      );
    } catch (error) {
      await run.stop();
      if (error instanceof Error && error.cause instanceof StartupFailed) throw error.cause;
      throw new Error(`${(error as Error).message}\nnuts run output:\n${run.output}`);
    }
    return run;
  }

  get log(): string {
    return this.output;
  }

  get running(): boolean {
    return this.exitDescription === undefined;
  }

  /**
   * The process ids of the sidecar `nuts run` supervises: its descendants whose command line
   * runs `nuts sidecar` (or `main.js sidecar`).
   */
  sidecarPids(): number[] {
    return descendants(this.child.pid ?? -1).filter((pid) => {
      const argv = commandLine(pid);
      return argv.includes("sidecar") && !argv.some((arg) => arg.endsWith("caddy"));
    });
  }

  /** SIGTERM, then SIGKILL if it has not exited in time; removes the temp folder. */
  async stop(): Promise<void> {
    if (this.running) {
      this.child.kill("SIGTERM");
      const timer = setTimeout(() => this.child.kill("SIGKILL"), STOP_TIMEOUT_MS);
      await this.exited;
      clearTimeout(timer);
    }
    liveRuns.delete(this.child);
    await rm(this.dir, { recursive: true, force: true });
  }
}

class StartupFailed extends Error {
  override name = "StartupFailed";
}

/** Runs still alive are killed when cucumber exits, so no Caddy outlives the test run. */
const liveRuns = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of liveRuns) child.kill("SIGKILL");
});

async function answersHttp(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(1_000) });
    await response.body?.cancel();
    return true;
  } catch {
    return false;
  }
}

function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // The command name may hold spaces and parentheses; the ppid follows the last ")".
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(entry));
      children.set(ppid, list);
    } catch {
      // the process went away while we looked
    }
  }
  const found: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift() as number;
    for (const child of children.get(pid) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

function commandLine(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
  } catch {
    return [];
  }
}
