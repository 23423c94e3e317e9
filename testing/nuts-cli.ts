/**
 * Runs the real `nuts` command (`node bin/nuts.js ...`, which loads the compiled dist/) as a
 * child process, the way a user would, and collects its exit code and output.
 */
import { spawn } from "node:child_process";
import { closeSync, openSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

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
const compiledEntry = join(repoRoot, "dist", "cli", "main.js");
const SOURCE_FOLDERS = ["cli", "sidecar", "caddy"];
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
