/**
 * NUTS added to a Caddy the user runs: a stock `caddy run` whose Caddyfile imports
 * caddy/nuts.caddy, and the sidecar started on its own (`nuts sidecar`), each a child process
 * with its own temp folder, as an operator's service manager would run them. Neither knows about
 * the other beyond the socket path. A recording upstream can stand in for the sidecar to show
 * exactly which headers Caddy forwards.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import type { IncomingHttpHeaders } from "node:http";
import { createServer as createHttp2Server, type Http2Server, type Http2Session } from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { After, Status } from "@cucumber/cucumber";
import { freePort } from "../../testing/processes.js";
import { REPO_ROOT } from "./nuts-run.js";
import { eventually } from "./wait.js";
import type { NutsWorld } from "./world.js";

export const SNIPPET = join(REPO_ROOT, "caddy", "nuts.caddy");
const CADDY = process.env.NUTS_CADDY ?? join(REPO_ROOT, ".tools", "bin", "caddy");
const NUTS_BIN = join(REPO_ROOT, "bin", "nuts.js");
const STARTUP_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 10_000;
const MAX_LOG_CHARS = 200_000;

/** A child process whose output is kept for failure reports and which is stopped with SIGTERM. */
class Service {
  output = "";
  exitDescription: string | undefined;
  private readonly exited: Promise<void>;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
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
        live.delete(child);
        resolve();
      });
    });
    live.add(child);
  }

  /** Throws with the output when the process has exited; for startup waits. */
  assertRunning(): void {
    if (this.exitDescription !== undefined) {
      throw new StartupFailed(`${this.name} exited (${this.exitDescription}):\n${this.output}`);
    }
  }

  async stop(): Promise<void> {
    if (this.exitDescription === undefined) {
      this.child.kill("SIGTERM");
      const timer = setTimeout(() => this.child.kill("SIGKILL"), STOP_TIMEOUT_MS);
      await this.exited;
      clearTimeout(timer);
    }
  }
}

class StartupFailed extends Error {
  override name = "StartupFailed";
}

/** Whatever is still running when cucumber exits is killed, so no Caddy outlives the run. */
const live = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of live) child.kill("SIGKILL");
});

/** Waits for `ready`, failing at once with the process's output if it exits first. */
async function started(service: Service, what: string, ready: () => Promise<boolean> | boolean) {
  try {
    await eventually(
      what,
      async () => {
        service.assertRunning();
        return ready();
      },
      { timeoutMs: STARTUP_TIMEOUT_MS },
    );
  } catch (error) {
    if (error instanceof Error && error.cause instanceof StartupFailed) throw error.cause;
    throw new Error(`${(error as Error).message}\n${service.name} output:\n${service.output}`);
  }
}

/** `nuts sidecar --config sidecar.json --listen unix:…/nuts.sock`, restartable in place. */
export class StandaloneSidecar {
  private service: Service | undefined;
  private earlierOutput = "";

  private constructor(
    readonly dir: string,
    readonly socketPath: string,
    readonly configFile: string,
  ) {}

  static async start(configText: string): Promise<StandaloneSidecar> {
    const dir = await mkdtemp(join(tmpdir(), "nuts-sidecar-"));
    const sidecar = new StandaloneSidecar(dir, join(dir, "nuts.sock"), join(dir, "sidecar.json"));
    await writeFile(sidecar.configFile, configText, { mode: 0o600 });
    await sidecar.startProcess();
    return sidecar;
  }

  /** The upstream address Caddy's `reverse_proxy` dials. */
  get upstream(): string {
    return `unix/${this.socketPath}`;
  }

  get log(): string {
    return this.earlierOutput + (this.service?.output ?? "");
  }

  async startProcess(): Promise<void> {
    if (this.service?.exitDescription === undefined && this.service) {
      throw new Error("the sidecar is already running");
    }
    this.earlierOutput += this.service?.output ?? "";
    const args = [NUTS_BIN, "sidecar", "--config", this.configFile];
    const child = spawn(process.execPath, [...args, "--listen", `unix:${this.socketPath}`], {
      cwd: this.dir,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const service = new Service("nuts sidecar", child);
    this.service = service;
    await started(
      service,
      `the sidecar to listen on ${this.socketPath}`,
      () => service.output.includes('"msg":"sidecar listening"') && existsSync(this.socketPath),
    );
  }

  /** SIGTERM, as `systemctl stop` sends: the sidecar ends its streams and removes its socket. */
  async stopProcess(): Promise<void> {
    await this.service?.stop();
  }

  async stop(): Promise<void> {
    await this.stopProcess();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** A stock `caddy run --config Caddyfile`, reloaded with `caddy reload` as an operator does. */
export class StockCaddy {
  private constructor(
    private readonly service: Service,
    readonly dir: string,
    readonly configFile: string,
    readonly port: number,
    readonly adminAddress: string,
    private readonly env: Record<string, string>,
  ) {}

  /**
   * Starts Caddy with `text`. Its environment has `PORT` (the site's port), `ADMIN_PORT`,
   * `NUTS_SNIPPET` (the path of caddy/nuts.caddy) and `NUTS_SIDECAR` (the upstream), plus `env`.
   */
  static async start(text: string, upstream: string, env: Record<string, string> = {}) {
    const dir = await mkdtemp(join(tmpdir(), "nuts-caddy-"));
    const port = await freePort();
    const adminPort = await freePort();
    const caddyEnv: Record<string, string> = {
      ...env,
      PORT: String(port),
      ADMIN_PORT: String(adminPort),
      NUTS_SNIPPET: SNIPPET,
      NUTS_SIDECAR: upstream,
      // Caddy's autosave and storage go to the temp folder, not the user's home.
      XDG_CONFIG_HOME: join(dir, "config"),
      XDG_DATA_HOME: join(dir, "data"),
    };
    const configFile = join(dir, "Caddyfile");
    await writeFile(configFile, text);
    const child = spawn(CADDY, ["run", "--config", configFile], {
      cwd: dir,
      env: { ...process.env, ...caddyEnv },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const service = new Service("caddy run", child);
    const caddy = new StockCaddy(
      service,
      dir,
      configFile,
      port,
      `127.0.0.1:${adminPort}`,
      caddyEnv,
    );
    await started(service, `caddy to serve ${caddy.baseUrl}`, () => answersHttp(caddy.baseUrl));
    return caddy;
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get log(): string {
    return this.service.output;
  }

  /** Writes the new Caddyfile and runs `caddy reload`; resolves once Caddy has loaded it. */
  async reload(text: string): Promise<void> {
    await writeFile(this.configFile, text);
    await new Promise<void>((resolve, reject) => {
      execFile(
        CADDY,
        ["reload", "--config", this.configFile, "--address", this.adminAddress],
        { env: { ...process.env, ...this.env }, timeout: 30_000 },
        (error, stdout, stderr) => {
          if (error) reject(new Error(`caddy reload failed: ${error.message}\n${stdout}${stderr}`));
          else resolve();
        },
      );
    });
  }

  async stop(): Promise<void> {
    await this.service.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/**
 * A server in the sidecar's place that records each request's headers and answers 204. It speaks
 * h2c, as the sidecar does: the snippet's reverse_proxy asks for nothing else.
 */
export class RecordingUpstream {
  private readonly sessions = new Set<Http2Session>();

  private constructor(
    private readonly server: Http2Server,
    readonly port: number,
    readonly requests: { url: string; headers: IncomingHttpHeaders }[],
  ) {}

  static async start(): Promise<RecordingUpstream> {
    const requests: RecordingUpstream["requests"] = [];
    const server = createHttp2Server((request, response) => {
      requests.push({ url: request.url ?? "", headers: request.headers });
      response.writeHead(204).end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const address = server.address();
    const port = typeof address === "object" && address ? address.port : 0;
    const recorder = new RecordingUpstream(server, port, requests);
    server.on("session", (session: Http2Session) => {
      recorder.sessions.add(session);
      session.once("close", () => recorder.sessions.delete(session));
    });
    return recorder;
  }

  get upstream(): string {
    return `127.0.0.1:${this.port}`;
  }

  async stop(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const session of this.sessions) session.destroy();
    await closed;
  }
}

/** What a drop-in scenario runs, next to the world's NATS server and clients. */
export interface DropIn {
  sidecar?: StandaloneSidecar;
  recorder?: RecordingUpstream;
  caddy?: StockCaddy;
}

const dropIns = new WeakMap<NutsWorld, DropIn>();

export function dropIn(world: NutsWorld): DropIn {
  let state = dropIns.get(world);
  if (!state) {
    state = {};
    dropIns.set(world, state);
  }
  return state;
}

export function caddyOf(world: NutsWorld): StockCaddy {
  const caddy = dropIn(world).caddy;
  if (!caddy) throw new Error('Caddy is not running: start it with a "stock Caddy runs" step');
  return caddy;
}

export function sidecarOf(world: NutsWorld): StandaloneSidecar {
  const sidecar = dropIn(world).sidecar;
  if (!sidecar) throw new Error('no sidecar: start it with a "the sidecar runs on its own" step');
  return sidecar;
}

// Registered before hooks.ts's After (files load in name order) and so run after it: the
// clients are closed by then, and Caddy has no open stream to wait for.
After(async function (this: NutsWorld, { result }) {
  const state = dropIns.get(this);
  if (!state) return;
  const logs = [
    state.caddy && `caddy run output:\n${state.caddy.log.slice(-10_000)}`,
    state.sidecar && `nuts sidecar output:\n${state.sidecar.log.slice(-10_000)}`,
  ].filter(Boolean);
  await state.caddy?.stop();
  await state.sidecar?.stop();
  await state.recorder?.stop();
  if (result?.status === Status.FAILED && logs.length > 0)
    this.attach(logs.join("\n\n"), "text/plain");
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
