/**
 * Caddy's own profiles, read from its admin API (a unix socket for `nuts run`): Go's CPU profile
 * (`/debug/pprof/profile`), heap profile (`/debug/pprof/heap`), goroutine count
 * (`/debug/pprof/goroutine?debug=1`) and memory statistics (`/debug/vars`). `bench/run.ts
 * --caddy-prof DIR` takes them during the fan-out scenario (see `CaddyFanoutProfiler`) and
 * writes the raw profiles and readable summaries into DIR.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { join } from "node:path";
import {
  decodeProfile,
  formatBytes,
  formatCpuSummary,
  formatHeapSummary,
  growthByFunction,
  type Profile,
} from "./pprof.js";
import type { RemoteLoadGenerator } from "./remote-loadgen.js";

/** Functions listed in each summary. */
const TOP = 20;

/** What an admin request may take beyond the profile's own seconds. */
const ADMIN_TIMEOUT_MS = 15_000;

/** `GET path` on Caddy's admin socket; the body, or an error with the status and Caddy's answer. */
export function adminGet(socketPath: string, path: string, timeoutMs = ADMIN_TIMEOUT_MS) {
  return new Promise<Buffer>((resolve, reject) => {
    const req = request(
      { socketPath, path, headers: { host: "localhost" }, timeout: timeoutMs },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("error", reject);
        response.on("end", () => {
          const body = Buffer.concat(chunks);
          if (response.statusCode === 200) resolve(body);
          else
            reject(
              new Error(
                `Caddy's admin API answered ${path} with ${response.statusCode}: ${body.toString("utf8").trim().slice(0, 300)}`,
              ),
            );
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer to ${path} in ${timeoutMs} ms`)));
    req.on("error", (error: NodeJS.ErrnoException) =>
      reject(
        new Error(
          `Caddy's admin socket ${socketPath} did not answer ${path} (${error.code ?? error.message}); is Caddy running with its admin API there?`,
          { cause: error },
        ),
      ),
    );
    req.end();
  });
}

/** Go's runtime memory figures (from `/debug/vars`, in bytes) and the goroutine count. */
export interface CaddyMemory {
  heapInuse: number;
  heapAlloc: number;
  stackInuse: number;
  sys: number;
  numGC: number;
  goroutines: number;
}

/** How each figure is shown; a count of GCs per stream would mean nothing. */
const MEMORY_FIELDS: {
  key: keyof CaddyMemory;
  label: string;
  bytes: boolean;
  perStream: boolean;
}[] = [
  { key: "heapInuse", label: "HeapInuse", bytes: true, perStream: true },
  { key: "heapAlloc", label: "HeapAlloc", bytes: true, perStream: true },
  { key: "stackInuse", label: "StackInuse", bytes: true, perStream: true },
  { key: "sys", label: "Sys", bytes: true, perStream: true },
  { key: "numGC", label: "NumGC", bytes: false, perStream: false },
  { key: "goroutines", label: "goroutines", bytes: false, perStream: true },
];

/** `/debug/vars` (expvar's JSON) and the first line of `goroutine?debug=1` read as numbers. */
export function parseMemory(varsJson: string, goroutineText: string): CaddyMemory {
  const memstats = (JSON.parse(varsJson) as { memstats?: Record<string, number> }).memstats;
  if (!memstats) throw new Error("Caddy's /debug/vars has no memstats");
  const goroutines = /^goroutine profile: total (\d+)/.exec(goroutineText)?.[1];
  if (goroutines === undefined)
    throw new Error(
      `Caddy's goroutine?debug=1 does not start with "goroutine profile: total N": ${goroutineText.slice(0, 80)}`,
    );
  const read = (name: string) => {
    const value = memstats[name];
    if (typeof value !== "number") throw new Error(`Caddy's memstats has no number ${name}`);
    return value;
  };
  return {
    heapInuse: read("HeapInuse"),
    heapAlloc: read("HeapAlloc"),
    stackInuse: read("StackInuse"),
    sys: read("Sys"),
    numGC: read("NumGC"),
    goroutines: Number(goroutines),
  };
}

/** Caddy at rest: the heap profile after a forced GC, then memstats and goroutines. */
export interface IdleReading {
  clients: number;
  heap: Profile;
  memory: CaddyMemory;
}

/**
 * Takes an idle reading and writes its raw files as `<name>-heap.pb.gz`, `<name>-vars.json` and
 * `<name>-goroutine.txt`. `heap?gc=1` runs a GC first, so that two readings compare what is
 * live, not what garbage happened to be waiting; the memstats are read after it.
 */
export async function readIdle(
  adminSocket: string,
  dir: string,
  name: string,
  clients: number,
): Promise<IdleReading> {
  const heapData = await adminGet(adminSocket, "/debug/pprof/heap?gc=1");
  const vars = await adminGet(adminSocket, "/debug/vars");
  const goroutine = await adminGet(adminSocket, "/debug/pprof/goroutine?debug=1");
  await writeFile(join(dir, `${name}-heap.pb.gz`), heapData);
  await writeFile(join(dir, `${name}-vars.json`), vars);
  await writeFile(join(dir, `${name}-goroutine.txt`), goroutine);
  return {
    clients,
    heap: decodeProfile(heapData),
    memory: parseMemory(vars.toString("utf8"), goroutine.toString("utf8")),
  };
}

/** The memstats at rest, and per stream between two readings (`before` with no clients). */
export function formatIdleSummary(
  reading: IdleReading,
  before: IdleReading | undefined,
  streams: number,
): string {
  const lines: string[] = [];
  const show = (value: number, bytes: boolean) =>
    bytes ? formatBytes(value) : String(Math.round(value * 100) / 100);
  for (const { key, label, bytes, perStream } of MEMORY_FIELDS) {
    const now = reading.memory[key];
    if (!before) {
      lines.push(`${label}: ${show(now, bytes)}`);
      continue;
    }
    const then = before.memory[key];
    const growth =
      perStream && streams > 0 ? `: ${show((now - then) / streams, bytes)} per stream` : "";
    lines.push(
      `${label}: ${show(then, bytes)} before, ${show(now, bytes)} at ${streams} streams${growth}`,
    );
  }
  lines.push(`heap at ${reading.clients} clients:`, formatHeapSummary(reading.heap, TOP));
  if (before && streams > 0) {
    lines.push("heap in use grown per stream, by function (self):");
    for (const row of growthByFunction(before.heap, reading.heap, "inuse_space", TOP)) {
      lines.push(`${formatBytes(Math.round(row.value / streams)).padStart(10)}  ${row.function}`);
    }
  }
  return lines.join("\n");
}

/** A CPU profile of one second, with when Go says it ran. */
export interface CpuChunk {
  data: Buffer;
  profile: Profile;
  fromMs: number;
  toMs: number;
}

/**
 * CPU profiles of one second each, back to back, until stopped: Go's profile endpoint takes
 * whole seconds and cannot be ended early, and a window's length is known only when it is over.
 * The chunks are assigned to windows afterwards (`chunksIn`).
 */
export class CpuRecorder {
  private stopped = false;
  readonly chunks: CpuChunk[] = [];
  error: Error | undefined;
  private readonly running: Promise<void>;

  constructor(private readonly adminSocket: string) {
    this.running = this.loop();
  }

  /** Starts no further chunk; resolves when the one in progress is in. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      try {
        const data = await adminGet(this.adminSocket, "/debug/pprof/profile?seconds=1");
        const profile = decodeProfile(data);
        const fromMs = profile.timeNanos / 1e6;
        this.chunks.push({ data, profile, fromMs, toMs: fromMs + profile.durationNanos / 1e6 });
      } catch (error) {
        this.error = error as Error;
        return;
      }
    }
  }
}

/**
 * The chunks that belong to a window: those whose middle lies in it, or, for a window shorter
 * than a chunk that holds no middle, the one that overlaps it most.
 */
export function chunksIn(chunks: CpuChunk[], fromMs: number, toMs: number): CpuChunk[] {
  const middle = (chunk: CpuChunk) => (chunk.fromMs + chunk.toMs) / 2;
  const inside = chunks.filter((chunk) => middle(chunk) >= fromMs && middle(chunk) < toMs);
  if (inside.length > 0) return inside;
  const overlap = (chunk: CpuChunk) => Math.min(chunk.toMs, toMs) - Math.max(chunk.fromMs, fromMs);
  const best = chunks.reduce<CpuChunk | undefined>(
    (most, chunk) =>
      overlap(chunk) > 0 && (!most || overlap(chunk) > overlap(most)) ? chunk : most,
    undefined,
  );
  return best ? [best] : [];
}

export interface CaddyFanoutProfilerOptions {
  adminSocket: string;
  dir: string;
  /** Prefix of every file (the run and system). */
  tag: string;
  /** The fan-out steps' client counts (`profile.fanout.clients`). */
  steps: number[];
  log: (line: string) => void;
}

interface Window {
  fromMs: number;
  toMs?: number;
}

/**
 * Caddy's profiles at three points of the fan-out scenario, found by watching the load
 * generator it drives (so the scenario itself is unchanged): each step connects clients, then
 * runs the capacity window and the latency window, each a `mark` and a `collect`.
 *
 * - CPU during the capacity and the latency window of the 5,000-client step (or the largest
 *   step below it);
 * - at the largest step, once its clients are connected and settled (the idle-memory point,
 *   just before its capacity window): the heap, memstats and goroutines, also read before the
 *   first client connects, so the growth per idle stream is known.
 */
export class CaddyFanoutProfiler {
  readonly cpuClients: number;
  readonly idleClients: number;
  private requested = 0;
  private opened = 0;
  private windowsSinceConnect = 0;
  private before: IdleReading | undefined;
  private idle: IdleReading | undefined;
  private idleStreams = 0;
  private recorder: CpuRecorder | undefined;
  private readonly windows: { capacity?: Window; latency?: Window } = {};
  private readonly errors: string[] = [];

  constructor(private readonly options: CaddyFanoutProfilerOptions) {
    this.cpuClients = Math.max(...options.steps.filter((clients) => clients <= 5_000));
    this.idleClients = Math.max(...options.steps);
    if (!Number.isFinite(this.cpuClients)) this.cpuClients = Math.min(...options.steps);
  }

  /** The load generator as the fan-out scenario should see it: the same, with the captures. */
  observe(loadgen: RemoteLoadGenerator): RemoteLoadGenerator {
    const overrides: Partial<RemoteLoadGenerator> = {
      connect: async (request) => {
        if (this.requested === 0 && !this.before)
          this.before = await this.attempt("reading Caddy before the clients", () =>
            readIdle(this.options.adminSocket, this.options.dir, this.file("idle-0"), 0),
          );
        const result = await loadgen.connect(request);
        this.requested += request.count;
        this.opened += result.opened;
        this.windowsSinceConnect = 0;
        return result;
      },
      mark: async (request) => {
        this.windowsSinceConnect++;
        const first = this.windowsSinceConnect === 1;
        if (first && this.requested === this.idleClients && !this.idle) {
          this.idleStreams = this.opened;
          this.idle = await this.attempt(`reading Caddy at ${this.idleClients} idle clients`, () =>
            readIdle(
              this.options.adminSocket,
              this.options.dir,
              this.file(`idle-${this.idleClients}`),
              this.idleClients,
            ),
          );
        }
        if (this.requested === this.cpuClients && this.windowsSinceConnect <= 2) {
          if (first) this.recorder = new CpuRecorder(this.options.adminSocket);
          this.windows[first ? "capacity" : "latency"] = { fromMs: Date.now() };
        }
        return loadgen.mark(request);
      },
      collect: async (request) => {
        const result = await loadgen.collect(request);
        if (this.requested === this.cpuClients && this.windowsSinceConnect <= 2) {
          const window = this.windows[this.windowsSinceConnect === 1 ? "capacity" : "latency"];
          if (window) window.toMs = Date.now();
          // Stopped without waiting: the chunk in progress ends within a second, on its own.
          if (this.windowsSinceConnect === 2) void this.recorder?.stop();
        }
        return result;
      },
    };
    return new Proxy(loadgen, {
      get(target, key, receiver) {
        const own = overrides[key as keyof RemoteLoadGenerator];
        if (own) return own;
        const value = Reflect.get(target, key, receiver);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
  }

  /** Ends the CPU recording, writes the files and summaries, logs the summaries; never throws. */
  async finish(): Promise<void> {
    const { dir, log } = this.options;
    await this.recorder?.stop();
    if (this.recorder?.error) this.errors.push(`CPU profile: ${this.recorder.error.message}`);
    const summaries: [string, string][] = [];
    for (const [name, label] of [
      ["capacity", "capacity window"],
      ["latency", "latency window"],
    ] as const) {
      const window = this.windows[name];
      if (!window?.toMs || !this.recorder) continue;
      const chunks = chunksIn(this.recorder.chunks, window.fromMs, window.toMs);
      const file = this.file(`cpu-${name}-${this.cpuClients}`);
      await this.attempt(`writing ${file}`, async () => {
        for (const [index, chunk] of chunks.entries())
          await writeFile(join(dir, `${file}.${index + 1}.pb.gz`), chunk.data);
      });
      if (chunks.length === 0) {
        this.errors.push(`no CPU profile covers the ${label} at ${this.cpuClients} clients`);
        continue;
      }
      const first = chunks[0] as CpuChunk;
      const last = chunks.at(-1) as CpuChunk;
      const offset = (ms: number, mark: string) =>
        `${(Math.abs(ms) / 1000).toFixed(2)} s ${ms < 0 ? "before" : "after"} its ${mark}`;
      summaries.push([
        file,
        [
          `Caddy CPU, ${label} at ${this.cpuClients} clients (${((window.toMs - window.fromMs) / 1000).toFixed(2)} s): profiled from ${offset(first.fromMs - window.fromMs, "start")} to ${offset(last.toMs - window.toMs, "end")}`,
          formatCpuSummary(
            chunks.map((chunk) => chunk.profile),
            TOP,
          ),
        ].join("\n"),
      ]);
    }
    if (this.idle) {
      summaries.push([
        this.file(`idle-${this.idleClients}`),
        [
          `Caddy at rest with ${this.idleClients} clients connected (after a forced GC)`,
          formatIdleSummary(this.idle, this.before, this.idleStreams),
        ].join("\n"),
      ]);
    }
    for (const [file, text] of summaries) {
      await this.attempt(`writing ${file}.txt`, () =>
        writeFile(join(dir, `${file}.txt`), `${text}\n`),
      );
      for (const line of text.split("\n")) log(`  caddy: ${line}`);
    }
    for (const error of this.errors) log(`  caddy profile: ${error}`);
    if (summaries.length > 0) log(`  caddy profiles in ${dir}`);
  }

  private file(name: string): string {
    return `${this.options.tag}-caddy-${name}`;
  }

  /** Runs a capture; a failure is noted for the summary, and the scenario goes on. */
  private async attempt<T>(what: string, capture: () => Promise<T>): Promise<T | undefined> {
    try {
      await mkdir(this.options.dir, { recursive: true });
      return await capture();
    } catch (error) {
      this.errors.push(`${what}: ${(error as Error).message}`);
      return undefined;
    }
  }
}
