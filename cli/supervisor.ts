/**
 * Runs the sidecar and Caddy side by side for `nuts run`: the sidecar first (Caddy proxies to
 * it), then Caddy; restarts a sidecar that dies, swaps in new configs on reload, and stops both
 * on request.
 *
 * Both children get their own process group, so a Ctrl-C in the terminal reaches only us and
 * each child is asked to stop exactly once (a second SIGINT makes the sidecar and Caddy quit
 * without draining). Stopping signals both at once: Caddy waits for open responses to finish,
 * and SSE responses only finish when the sidecar ends them.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { caddyErrorLine } from "./caddy-config.js";
import { UserError } from "./errors.js";
import { acceptsConnections, type ProbeAddress } from "./runtime-dir.js";

export interface ChildCommand {
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
}

export type SidecarCommand = ChildCommand & { address: ProbeAddress };

/** A sidecar started beside the running one: keep it (and stop the old one) or drop it. */
export interface SidecarSwap {
  commit(): Promise<void>;
  rollback(): Promise<void>;
}

export interface SupervisorOptions {
  sidecar: SidecarCommand;
  caddy: ChildCommand;
  /** One status line for the person running `nuts run` (stderr). */
  report: (line: string) => void;
  /** Where Caddy's log goes once it runs. @default process.stderr */
  caddyLog?: (line: string) => void;
  timing?: Partial<SupervisorTiming>;
}

export interface SupervisorTiming {
  /** How long the sidecar may take to accept connections. @default 15000 */
  sidecarStartMs: number;
  /** How long Caddy may take to say it serves. @default 30000 */
  caddyStartMs: number;
  /** How long each child gets to stop before SIGKILL. @default 10000 */
  stopGraceMs: number;
  /** First delay before restarting a crashed sidecar; doubles per crash. @default 250 */
  restartMinMs: number;
  /** @default 8000 */
  restartMaxMs: number;
  /** A sidecar that stayed up this long starts the backoff over. @default 30000 */
  stableAfterMs: number;
}

const DEFAULT_TIMING: SupervisorTiming = {
  sidecarStartMs: 15_000,
  caddyStartMs: 30_000,
  stopGraceMs: 10_000,
  restartMinMs: 250,
  restartMaxMs: 8_000,
  stableAfterMs: 30_000,
};

/** Caddy logs this once its servers listen. */
const CADDY_READY = "serving initial configuration";
const PROBE_INTERVAL_MS = 50;

type State = { type: "starting" } | { type: "running" } | { type: "stopping"; exitCode: number };

interface Child {
  process: ChildProcess;
  /** Resolves once the process has exited. */
  exited: Promise<void>;
  isRunning(): boolean;
  /** "code 1" or "signal SIGKILL" once exited. */
  describeExit(): string;
}

export class Supervisor {
  private state: State = { type: "starting" };
  private sidecar: Child | undefined;
  /** How the sidecar is started; a reload may change it. */
  private sidecarCommand: SidecarCommand;
  /** A sidecar being replaced on reload: still stopping, no longer restarted when it exits. */
  private retiring: Child | undefined;
  private caddy: Child | undefined;
  private caddyStderr: string[] = [];
  private restarts = 0;
  private restartDelayMs: number;
  private restartTimer: NodeJS.Timeout | undefined;
  private stopRequested = false;
  private readonly timing: SupervisorTiming;
  private finish!: (exitCode: number) => void;
  /** The exit code for `nuts run`, once both children are down after stop() or a failure. */
  readonly done: Promise<number> = new Promise((resolve) => {
    this.finish = resolve;
  });

  constructor(private readonly options: SupervisorOptions) {
    this.timing = { ...DEFAULT_TIMING, ...options.timing };
    this.restartDelayMs = this.timing.restartMinMs;
    this.sidecarCommand = options.sidecar;
  }

  /** True between a successful start() and stop() (or a failure that stops both). */
  get running(): boolean {
    return this.state.type === "running";
  }

  /**
   * Starts the sidecar, waits for its socket, then starts Caddy and waits until it serves.
   * On failure both are stopped and a UserError says what went wrong.
   */
  async start(): Promise<"running" | "stopped"> {
    try {
      this.sidecar = this.spawnSidecar();
      await this.waitForSidecar(this.sidecar);
      if (this.state.type !== "starting") return "stopped";
      this.caddy = this.spawnCaddy();
      await this.waitForCaddy(this.caddy);
    } catch (error) {
      // stop() during start (Ctrl-C) is no failure: the caller just waits for `done`.
      if (this.stopRequested) return "stopped";
      this.halt(1);
      await this.done;
      throw error;
    }
    if (this.state.type !== "starting") return "stopped";
    this.state = { type: "running" };
    return "running";
  }

  /** Asks both children to stop; a second call kills them. `done` resolves when both are gone. */
  stop(): void {
    this.stopRequested = true;
    this.halt(0);
  }

  private halt(exitCode: number): void {
    if (this.state.type === "stopping") {
      this.report("stopping at once");
      for (const child of this.children()) child.process.kill("SIGKILL");
      return;
    }
    this.state = { type: "stopping", exitCode };
    clearTimeout(this.restartTimer);
    const children = this.children();
    for (const child of children) child.process.kill("SIGTERM");
    const killTimer = setTimeout(() => {
      for (const child of this.children()) {
        this.report(`pid ${child.process.pid} did not stop in time; killing it`);
        child.process.kill("SIGKILL");
      }
    }, this.timing.stopGraceMs);
    killTimer.unref();
    void Promise.all(children.map((child) => child.exited)).then(() => {
      clearTimeout(killTimer);
      this.finish(exitCode);
    });
  }

  /**
   * SIGKILL to whatever still runs, synchronously: for process "exit" when `nuts run` ends in a
   * way it did not plan (an uncaught error), so that no child outlives it in its own group.
   */
  killAll(): void {
    for (const child of this.children()) child.process.kill("SIGKILL");
  }

  /**
   * Replaces the sidecar with one started from `command` on the same address: the current one
   * gets SIGTERM, which ends its streams cleanly so that browsers come back with their last id
   * (Caddy holds them until a sidecar listens again), and is waited for; then the new one is
   * started and waited for. Throws a UserError if it does not listen.
   */
  async replaceSidecar(command: SidecarCommand): Promise<void> {
    if (this.state.type !== "running") throw new UserError("nuts run is not running");
    this.sidecarCommand = command;
    clearTimeout(this.restartTimer);
    const old = this.sidecar;
    this.sidecar = undefined;
    if (old) {
      this.retiring = old;
      await this.stopChild(old);
      this.retiring = undefined;
    }
    if (this.state.type !== "running") throw new UserError("stopped while reloading");
    // A sidecar that stays up from here on starts the crash backoff over.
    this.restartDelayMs = this.timing.restartMinMs;
    const child = this.spawnSidecar();
    this.sidecar = child;
    await this.waitForSidecar(child);
  }

  /**
   * Starts a sidecar from `command` beside the running one, on another address, and waits until
   * it listens. Nobody is cut meanwhile: once Caddy proxies to the new one, `commit()` stops the
   * old one (its streams end cleanly, browsers come back with their last id and find the new
   * one listening); `rollback()` stops the new one instead. If it does not listen, it is
   * rolled back and a UserError says why.
   */
  async startSidecarBeside(command: SidecarCommand): Promise<SidecarSwap> {
    if (this.state.type !== "running") throw new UserError("nuts run is not running");
    const previous = { child: this.sidecar, command: this.sidecarCommand };
    clearTimeout(this.restartTimer);
    this.sidecarCommand = command;
    const child = this.spawnSidecar();
    this.sidecar = child;
    this.retiring = previous.child;
    const rollback = async (): Promise<void> => {
      this.sidecar = previous.child;
      this.sidecarCommand = previous.command;
      this.retiring = child;
      clearTimeout(this.restartTimer);
      await this.stopChild(child);
      this.retiring = undefined;
      // The old one may have died while it was not the one to restart.
      if (previous.child && !previous.child.isRunning()) this.onSidecarExit(previous.child, 0);
    };
    try {
      await this.waitForSidecar(child);
    } catch (error) {
      await rollback();
      throw error;
    }
    this.restartDelayMs = this.timing.restartMinMs;
    return {
      commit: async () => {
        if (previous.child) await this.stopChild(previous.child);
        if (this.retiring === previous.child) this.retiring = undefined;
      },
      rollback,
    };
  }

  /** SIGTERM, then SIGKILL after the grace period; resolves once the child has exited. */
  private async stopChild(child: Child): Promise<void> {
    if (!child.isRunning()) return;
    child.process.kill("SIGTERM");
    const killTimer = setTimeout(() => {
      this.report(`pid ${child.process.pid} did not stop in time; killing it`);
      child.process.kill("SIGKILL");
    }, this.timing.stopGraceMs);
    await child.exited;
    clearTimeout(killTimer);
  }

  /** `caddy validate`: whether Caddy would load the config file, without touching the running one. */
  async validateCaddy(configFile: string): Promise<void> {
    const { error, stderr } = await this.runCaddy(["validate", "--config", configFile]);
    if (error) {
      throw new UserError(
        `caddy rejected the new config: ${caddyErrorLine(stderr) ?? error.message}`,
      );
    }
  }

  /**
   * `caddy reload` through the admin endpoint at `adminAddress` (`unix//path.sock`): Caddy
   * switches to the new config or, when it fails to load, keeps running the old one. Streams
   * open through the old config stay open until they end.
   */
  async reloadCaddy(configFile: string, adminAddress: string): Promise<void> {
    const { error, stderr } = await this.runCaddy([
      "reload",
      "--config",
      configFile,
      "--address",
      adminAddress,
    ]);
    if (error) {
      throw new UserError(
        `caddy kept its previous config: ${caddyErrorLine(stderr) ?? error.message}`,
      );
    }
  }

  private runCaddy(args: string[]): Promise<{ error: Error | null; stderr: string }> {
    const { command, env } = this.options.caddy;
    return new Promise((resolve) => {
      execFile(
        command,
        args,
        { env, timeout: this.timing.caddyStartMs },
        (error, _stdout, stderr) => resolve({ error, stderr }),
      );
    });
  }

  private children(): Child[] {
    return [this.sidecar, this.retiring, this.caddy].filter(
      (child): child is Child => child?.isRunning() === true,
    );
  }

  private report(line: string): void {
    this.options.report(line);
  }

  private spawnSidecar(): Child {
    const { command, args, env } = this.sidecarCommand;
    const child = launch(command, args, env, ["ignore", "inherit", "inherit"]);
    const startedAt = Date.now();
    void child.exited.then(() => this.onSidecarExit(child, startedAt));
    return child;
  }

  private async waitForSidecar(child: Child): Promise<void> {
    const deadline = Date.now() + this.timing.sidecarStartMs;
    const { address } = this.sidecarCommand;
    while (!(await acceptsConnections(address))) {
      if (!child.isRunning()) {
        throw new UserError(
          `the sidecar exited (${child.describeExit()}) before it listened; its message is above`,
        );
      }
      if (this.state.type === "stopping") throw new UserError("stopped while starting");
      if (Date.now() > deadline) {
        throw new UserError(
          `the sidecar did not listen on ${describeAddress(address)} within ${this.timing.sidecarStartMs / 1000} s`,
        );
      }
      await sleep(PROBE_INTERVAL_MS);
    }
  }

  private onSidecarExit(child: Child, startedAt: number): void {
    if (this.state.type !== "running" || child !== this.sidecar) return;
    if (Date.now() - startedAt >= this.timing.stableAfterMs) {
      this.restartDelayMs = this.timing.restartMinMs;
    }
    const delayMs = this.restartDelayMs;
    this.restartDelayMs = Math.min(this.restartDelayMs * 2, this.timing.restartMaxMs);
    this.restarts += 1;
    this.report(
      `the sidecar exited (${child.describeExit()}); restarting it in ${delayMs / 1000} s (restart ${this.restarts})`,
    );
    this.restartTimer = setTimeout(() => void this.restartSidecar(), delayMs);
  }

  private async restartSidecar(): Promise<void> {
    if (this.state.type !== "running") return;
    const child = this.spawnSidecar();
    this.sidecar = child;
    try {
      await this.waitForSidecar(child);
      this.report(`the sidecar is back (pid ${child.process.pid})`);
    } catch (error) {
      // An exit is handled by onSidecarExit; one that hangs without listening is killed here.
      if (child.isRunning() && this.state.type === "running") {
        this.report(`${(error as Error).message}; killing it`);
        child.process.kill("SIGKILL");
      }
    }
  }

  private spawnCaddy(): Child {
    const { command, args, env } = this.options.caddy;
    const child = launch(command, args, env, ["ignore", "inherit", "pipe"]);
    const log = this.options.caddyLog ?? ((line: string) => process.stderr.write(`${line}\n`));
    const stderr = child.process.stderr;
    if (stderr) {
      createInterface({ input: stderr, crlfDelay: Number.POSITIVE_INFINITY }).on("line", (line) => {
        // Until Caddy serves, keep its log: on failure only its error line is shown.
        if (this.state.type === "starting") this.caddyStderr.push(line);
        else log(line);
      });
    }
    void child.exited.then(() => this.onCaddyExit(child));
    return child;
  }

  private async waitForCaddy(child: Child): Promise<void> {
    const deadline = Date.now() + this.timing.caddyStartMs;
    while (!this.caddyStderr.some((line) => line.includes(CADDY_READY))) {
      if (!child.isRunning()) {
        // Let the last lines of its output arrive.
        await sleep(PROBE_INTERVAL_MS);
        const line = caddyErrorLine(this.caddyStderr.join("\n"));
        throw new UserError(
          `caddy could not start: ${line ?? `it exited (${child.describeExit()}) without saying why`}`,
        );
      }
      if (this.state.type === "stopping") throw new UserError("stopped while starting");
      if (Date.now() > deadline) {
        throw new UserError(
          `caddy did not report "${CADDY_READY}" within ${this.timing.caddyStartMs / 1000} s; its log so far:\n${this.caddyStderr.join("\n")}`,
        );
      }
      await sleep(PROBE_INTERVAL_MS);
    }
    const log = this.options.caddyLog ?? ((line: string) => process.stderr.write(`${line}\n`));
    for (const line of this.caddyStderr) log(line);
    this.caddyStderr = [];
  }

  private onCaddyExit(child: Child): void {
    if (this.state.type !== "running") return;
    this.report(`caddy exited unexpectedly (${child.describeExit()}); stopping the sidecar`);
    this.halt(1);
  }
}

function launch(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  stdio: ("ignore" | "inherit" | "pipe")[],
): Child {
  // detached: a process group of its own, out of reach of the terminal's Ctrl-C.
  const child = spawn(command, args, { env, stdio, detached: true });
  let running = true;
  const exited = new Promise<void>((resolve) => {
    const gone = () => {
      running = false;
      resolve();
    };
    child.once("exit", gone);
    // Spawning failed (no such file, not executable): there will be no "exit".
    child.once("error", gone);
  });
  return {
    process: child,
    exited,
    isRunning: () => running,
    describeExit: () =>
      child.signalCode ? `signal ${child.signalCode}` : `code ${child.exitCode ?? "unknown"}`,
  };
}

function describeAddress(address: ProbeAddress): string {
  return address.type === "unix" ? `unix:${address.path}` : `${address.host}:${address.port}`;
}
