/**
 * Caddy's profiles read from a real Caddy (admin API on a unix socket, as `nuts run` sets it
 * up): the heap and CPU profiles decode with Go's sample types, memstats match what Caddy
 * served, and the fan-out profiler takes its readings at the points of the scenario it watches.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  adminGet,
  CaddyFanoutProfiler,
  type CpuChunk,
  CpuRecorder,
  chunksIn,
  formatIdleSummary,
  type IdleReading,
  parseMemory,
  readIdle,
} from "./caddy-profile.js";
import type { ConnectResult, WindowResult } from "./loadgen.js";
import type { Profile } from "./pprof.js";
import type { RemoteLoadGenerator } from "./remote-loadgen.js";

let dir: string;
let socket: string;
let caddy: ChildProcess;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "caddy-profile-"));
  socket = join(dir, "admin.sock");
  await writeFile(join(dir, "caddy.json"), JSON.stringify({ admin: { listen: `unix/${socket}` } }));
  caddy = spawn("caddy", ["run", "--config", join(dir, "caddy.json")], { stdio: "ignore" });
  const deadline = Date.now() + 20_000;
  for (;;) {
    const vars = await adminGet(socket, "/debug/vars").catch(() => undefined);
    if (vars) break;
    if (Date.now() > deadline) throw new Error(`Caddy's admin socket ${socket} never answered`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
});

afterAll(async () => {
  if (caddy.exitCode === null) {
    const exited = new Promise((resolve) => caddy.once("exit", resolve));
    caddy.kill("SIGTERM");
    await exited;
  }
  await rm(dir, { recursive: true, force: true });
});

const HEAP_TYPES = [
  { type: "alloc_objects", unit: "count" },
  { type: "alloc_space", unit: "bytes" },
  { type: "inuse_objects", unit: "count" },
  { type: "inuse_space", unit: "bytes" },
];
const CPU_TYPES = [
  { type: "samples", unit: "count" },
  { type: "cpu", unit: "nanoseconds" },
];

describe("a real Caddy's admin API", () => {
  it("gives a heap profile, memstats and the goroutine count, and keeps the raw files", async () => {
    const reading = await readIdle(socket, dir, "idle", 0);
    expect(reading.heap.sampleTypes).toEqual(HEAP_TYPES);
    expect(reading.heap.samples.length).toBeGreaterThan(0);
    const vars = JSON.parse(await readFile(join(dir, "idle-vars.json"), "utf8"));
    const goroutines = await readFile(join(dir, "idle-goroutine.txt"), "utf8");
    const total = Number(/^goroutine profile: total (\d+)\n/.exec(goroutines)?.[1]);
    expect(reading.memory).toEqual({
      heapInuse: vars.memstats.HeapInuse,
      heapAlloc: vars.memstats.HeapAlloc,
      stackInuse: vars.memstats.StackInuse,
      sys: vars.memstats.Sys,
      numGC: vars.memstats.NumGC,
      goroutines: total,
    });
    expect(total).toBeGreaterThan(0);
    // heap?gc=1 ran a collection before the profile was taken.
    expect(reading.memory.numGC).toBeGreaterThan(0);
    expect(
      await readFile(join(dir, "idle-heap.pb.gz")).then((data) => [...data.subarray(0, 2)]),
    ).toEqual([0x1f, 0x8b]);
  });

  it("gives one-second CPU profiles back to back until stopped", async () => {
    const recorder = new CpuRecorder(socket);
    const chunks = recorder.chunks;
    const deadline = Date.now() + 10_000;
    while (chunks.length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await recorder.stop();
    expect(recorder.error).toBeUndefined();
    // The second was under way when the first came in.
    expect(chunks).toHaveLength(2);
    expect((chunks[1]?.fromMs ?? 0) - (chunks[0]?.toMs ?? 0)).toBeLessThan(1_000);
    for (const chunk of chunks) {
      expect(chunk.profile.sampleTypes).toEqual(CPU_TYPES);
      expect(chunk.profile.period).toBe(10_000_000);
      // Go reports the profile's span from its own clock readings: one second asked for came
      // back as 999.23 ms once (the profiler starts its clock a little after the sleep begins).
      expect(chunk.toMs - chunk.fromMs).toBeGreaterThanOrEqual(990);
      expect(chunk.toMs - chunk.fromMs).toBeLessThan(1_500);
    }
  });

  it("says which path failed and what Caddy answered", async () => {
    await expect(adminGet(socket, "/debug/pprof/nothing")).rejects.toThrow(
      "Caddy's admin API answered /debug/pprof/nothing with 404: Unknown profile",
    );
    await expect(adminGet(join(dir, "none.sock"), "/debug/vars")).rejects.toThrow(
      `Caddy's admin socket ${join(dir, "none.sock")} did not answer /debug/vars (ENOENT); is Caddy running with its admin API there?`,
    );
  });
});

describe("parseMemory", () => {
  it("refuses a goroutine dump it cannot count", () => {
    expect(() => parseMemory('{"memstats":{}}', "goroutine 1 [running]:\n")).toThrow(
      'Caddy\'s goroutine?debug=1 does not start with "goroutine profile: total N": goroutine 1 [running]:\n',
    );
  });
});

describe("formatIdleSummary", () => {
  const heap = (proxyBuffers: number): Profile => ({
    sampleTypes: [
      { type: "inuse_objects", unit: "count" },
      { type: "inuse_space", unit: "bytes" },
    ],
    samples: [
      {
        stack: [
          { function: "reverseproxy.init.func2", file: "", line: 0 },
          { function: "net/http.(*conn).serve", file: "", line: 0 },
        ],
        values: [proxyBuffers, proxyBuffers * 32_768],
      },
      {
        stack: [{ function: "runtime.doInit", file: "", line: 0 }],
        values: [1, 1_048_576],
      },
    ],
    periodType: null,
    period: 0,
    timeNanos: 0,
    durationNanos: 0,
  });
  const reading = (clients: number, scale: number): IdleReading => ({
    clients,
    heap: heap(clients),
    memory: {
      heapInuse: 4_194_304 + scale * 65_536,
      heapAlloc: 3_145_728 + scale * 61_440,
      stackInuse: 655_360 + scale * 32_768,
      sys: 16_777_216 + scale * 102_400,
      numGC: 4 + Math.ceil(scale / 1_000),
      goroutines: 13 + scale * 3,
    },
  });

  it("gives the figures before and at rest, and what each stream added", () => {
    expect(formatIdleSummary(reading(10_000, 10_000), reading(0, 0), 10_000)).toBe(
      [
        "HeapInuse: 4.0 MiB before, 629.0 MiB at 10000 streams: 64.0 KiB per stream",
        "HeapAlloc: 3.0 MiB before, 588.9 MiB at 10000 streams: 60.0 KiB per stream",
        "StackInuse: 640.0 KiB before, 313.1 MiB at 10000 streams: 32.0 KiB per stream",
        "Sys: 16.0 MiB before, 992.6 MiB at 10000 streams: 100.0 KiB per stream",
        "NumGC: 4 before, 14 at 10000 streams",
        "goroutines: 13 before, 30013 at 10000 streams: 3 per stream",
        "heap at 10000 clients:",
        "in use: 313.5 MiB in 10001 objects; allocated since start: 0 B in 0 objects",
        "self (allocated here, in use):",
        " 99.7 %  312.5 MiB  reverseproxy.init.func2",
        "  0.3 %    1.0 MiB  runtime.doInit",
        "inclusive (allocated under, in use):",
        " 99.7 %  312.5 MiB  net/http.(*conn).serve",
        " 99.7 %  312.5 MiB  reverseproxy.init.func2",
        "  0.3 %    1.0 MiB  runtime.doInit",
        "heap in use grown per stream, by function (self):",
        "  32.0 KiB  reverseproxy.init.func2",
      ].join("\n"),
    );
  });

  it("gives the figures alone without a reading before", () => {
    expect(formatIdleSummary(reading(2, 0), undefined, 2).split("\n").slice(0, 6)).toEqual([
      "HeapInuse: 4.0 MiB",
      "HeapAlloc: 3.0 MiB",
      "StackInuse: 640.0 KiB",
      "Sys: 16.0 MiB",
      "NumGC: 4",
      "goroutines: 13",
    ]);
  });
});

describe("chunksIn", () => {
  const chunk = (fromMs: number, toMs: number): CpuChunk => ({
    data: Buffer.alloc(0),
    profile: {} as Profile,
    fromMs,
    toMs,
  });
  const chunks = [chunk(0, 1_000), chunk(1_010, 2_010), chunk(2_020, 3_020), chunk(3_030, 4_030)];

  it("takes the chunks whose middle lies in the window", () => {
    expect(chunksIn(chunks, 400, 2_600)).toEqual([chunks[0], chunks[1], chunks[2]]);
    expect(chunksIn(chunks, 600, 2_500)).toEqual([chunks[1]]);
  });

  it("takes the chunk that overlaps most a window that holds no middle", () => {
    expect(chunksIn(chunks, 1_600, 2_300)).toEqual([chunks[1]]);
    expect(chunksIn(chunks, 5_000, 6_000)).toEqual([]);
  });
});

describe("CaddyFanoutProfiler", () => {
  it("reads Caddy before the clients, at rest at the largest step, and CPU in its two windows", async () => {
    const out = join(dir, "fanout");
    const calls: string[] = [];
    const pause = () => new Promise((resolve) => setTimeout(resolve, 1_300));
    // The load generator's answers, as for a fan-out with steps of 2 and 4 clients.
    const loadgen = {
      pid: 4242,
      connect: async (request: { count: number }): Promise<ConnectResult> => {
        calls.push(`connect ${request.count}`);
        return { opened: request.count, failed: 0, errors: [], elapsedMs: 1 };
      },
      mark: async () => {
        calls.push("mark");
      },
      collect: async (): Promise<WindowResult> => {
        calls.push("collect");
        await pause();
        return {} as WindowResult;
      },
    } as unknown as RemoteLoadGenerator;
    const lines: string[] = [];
    const profiler = new CaddyFanoutProfiler({
      adminSocket: socket,
      dir: out,
      tag: "r1-test",
      steps: [2, 4],
      log: (line) => lines.push(line),
    });
    const observed = profiler.observe(loadgen);
    expect(observed.pid).toBe(4242);
    for (const count of [2, 2]) {
      await observed.connect({ count } as Parameters<RemoteLoadGenerator["connect"]>[0]);
      for (let window = 0; window < 2; window++) {
        await observed.mark({ lastByTopic: {} });
        await observed.collect({ lastByTopic: {} } as Parameters<
          RemoteLoadGenerator["collect"]
        >[0]);
      }
    }
    await profiler.finish();
    expect(calls).toEqual([
      "connect 2",
      ...["mark", "collect", "mark", "collect"],
      "connect 2",
      ...["mark", "collect", "mark", "collect"],
    ]);
    const files = (await readdir(out)).sort();
    expect(files.filter((file) => !/\.\d+\.pb\.gz$/.test(file))).toEqual([
      "r1-test-caddy-cpu-capacity-4.txt",
      "r1-test-caddy-cpu-latency-4.txt",
      "r1-test-caddy-idle-0-goroutine.txt",
      "r1-test-caddy-idle-0-heap.pb.gz",
      "r1-test-caddy-idle-0-vars.json",
      "r1-test-caddy-idle-4-goroutine.txt",
      "r1-test-caddy-idle-4-heap.pb.gz",
      "r1-test-caddy-idle-4-vars.json",
      "r1-test-caddy-idle-4.txt",
    ]);
    expect(files).toContain("r1-test-caddy-cpu-capacity-4.1.pb.gz");
    expect(files).toContain("r1-test-caddy-cpu-latency-4.1.pb.gz");
    const idle = await readFile(join(out, "r1-test-caddy-idle-4.txt"), "utf8");
    expect(idle).toMatch(
      /^Caddy at rest with 4 clients connected \(after a forced GC\)\nHeapInuse: .* before, .* at 4 streams: .* per stream\n/,
    );
    const capacity = await readFile(join(out, "r1-test-caddy-cpu-capacity-4.txt"), "utf8");
    expect(capacity).toMatch(
      /^Caddy CPU, capacity window at 4 clients \(\d+\.\d\d s\): profiled from \d\.\d\d s (before|after) its start to \d\.\d\d s (before|after) its end\n/,
    );
    const latency = await readFile(join(out, "r1-test-caddy-cpu-latency-4.txt"), "utf8");
    expect(lines).toContain(`  caddy: ${latency.split("\n")[0]}`);
    expect(lines.at(-1)).toBe(`  caddy profiles in ${out}`);
  });
});
