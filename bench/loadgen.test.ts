import { createServer, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { benchPayload, ChunkedDecoder, readNumberField, SseParser } from "./frames.js";
import { LoadGenerator } from "./loadgen.js";
import { commandLine, parentOf, startedAtMs } from "./proc.js";
import { medianOfRuns } from "./results.js";
import { median, percentileOfSorted, Samples } from "./stats.js";

type Frame = [string | undefined, string | undefined, string];

function parseAll(pieces: string[]): Frame[] {
  const parser = new SseParser();
  const frames: Frame[] = [];
  for (const piece of pieces)
    parser.push(piece, (id, event, data) => frames.push([id, event, data]));
  return frames;
}

/** Every way of cutting the text in two. */
function splits(text: string): string[][] {
  return Array.from({ length: text.length + 1 }, (_, at) => [text.slice(0, at), text.slice(at)]);
}

describe("SseParser", () => {
  const stream =
    'id: 41\nevent: connected\ndata: {"topics":["t"]}\n\n: heartbeat\n\nid: 42\nevent: message\ndata: {"topic":"t","payload":{"t":1.5,"n":1},"time":"x"}\n\n';

  it("yields id, event and data of each event and skips comments", () => {
    expect(parseAll([stream])).toEqual([
      ["41", "connected", '{"topics":["t"]}'],
      ["42", "message", '{"topic":"t","payload":{"t":1.5,"n":1},"time":"x"}'],
    ]);
  });

  it("gives the same events however the bytes are split", () => {
    const whole = parseAll([stream]);
    for (const pieces of splits(stream)) expect(parseAll(pieces)).toEqual(whole);
  });

  it("joins several data lines with LF and takes nchan's ids as they are", () => {
    expect(parseAll(["id: 1700000000:0\ndata: a\ndata:b\n\n"])).toEqual([
      ["1700000000:0", undefined, "a\nb"],
    ]);
  });

  it("keeps an unfinished event for the next push", () => {
    expect(parseAll(["id: 1\ndata: x\n"])).toEqual([]);
  });
});

describe("ChunkedDecoder", () => {
  const body = '7\r\nid: 1\n\n\r\n11\r\ndata: {"n":12345}\r\n0\r\n\r\n';

  it("returns the payload of the chunks and notices the last chunk", () => {
    const decoder = new ChunkedDecoder();
    expect(decoder.push(body)).toBe('id: 1\n\ndata: {"n":12345}');
    expect(decoder.ended).toBe(true);
  });

  it("gives the same payload however the bytes are split", () => {
    for (const [first, second] of splits(body)) {
      const decoder = new ChunkedDecoder();
      expect(decoder.push(first as string) + decoder.push(second as string)).toBe(
        'id: 1\n\ndata: {"n":12345}',
      );
    }
  });

  it("refuses a size line that is not hexadecimal", () => {
    expect(() => new ChunkedDecoder().push("zz\r\n")).toThrow(/bad chunk size/);
  });
});

describe("readNumberField", () => {
  it("reads t and n from the payload, bare or wrapped by NUTS", () => {
    const payload = benchPayload(7, 1234.5678);
    expect(payload).toBe('{"t":1234.568,"n":7}');
    const wrapped = `{"topic":"t","payload":${payload},"time":"2026-01-01T00:00:00.000Z"}`;
    for (const text of [payload, wrapped]) {
      expect(readNumberField(text, "t")).toBe(1234.568);
      expect(readNumberField(text, "n")).toBe(7);
    }
  });

  it("is NaN when the field is missing", () => {
    expect(readNumberField('{"topics":["t"]}', "n")).toBeNaN();
  });
});

describe("latency statistics", () => {
  it("takes nearest-rank percentiles", () => {
    const samples = new Samples();
    for (let value = 100; value >= 1; value--) samples.add(value);
    expect(samples.summary()).toEqual({ p50: 50, p99: 99, max: 100, samples: 100 });
    expect(percentileOfSorted([5], 99)).toBe(5);
  });

  it("grows past its first capacity", () => {
    const samples = new Samples();
    for (let value = 0; value < 5000; value++) samples.add(value);
    expect(samples.summary()?.max).toBe(4999);
    samples.clear();
    expect(samples.summary()).toBeNull();
  });

  it("takes the median of runs, leaving out runs that measured nothing", () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, null, 1, Number.NaN])).toBe(2.5);
    expect(median([null])).toBeNull();
    expect(
      medianOfRuns([
        { rate: 10, steps: [{ p99: 5 }], note: null },
        { rate: 30, steps: [{ p99: 1 }], note: null },
        { rate: 20, steps: [{ p99: 3 }], note: null },
      ]),
    ).toEqual({ rate: 20, steps: [{ p99: 3 }], note: null });
  });
});

describe("LoadGenerator time limits", () => {
  // Accepts connections and never answers: every client waits for a response head.
  let server: Server;
  let port = 0;
  const sockets = new Set<Socket>();
  beforeAll(async () => {
    server = createServer((socket) => {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as { port: number }).port;
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  const request = { pathPrefix: "/events?topic=", topics: ["t"], timeMessages: false };

  it("gives up on a client without a response head after timeoutMs, and does not wait for it", async () => {
    const generator = new LoadGenerator();
    const result = await generator.connect({
      ...request,
      port,
      count: 2,
      batchSize: 2,
      pauseMs: 0,
      timeoutMs: 50,
    });
    expect(result).toMatchObject({
      opened: 0,
      failed: 2,
      errors: ["no response head within 0.05 s"],
    });
    const started = Date.now();
    const collected = await generator.collect({ lastByTopic: { t: 5 }, timeoutMs: 5_000 });
    expect(Date.now() - started).toBeLessThan(1_000);
    // Given up on by the client, not closed by the server.
    expect(collected.closed).toBe(0);
    generator.closeAll();
  });

  it("starts no reconnect batch after the deadline and counts the clients left as failed", async () => {
    const generator = new LoadGenerator();
    await generator.connect({
      ...request,
      port,
      count: 4,
      batchSize: 4,
      pauseMs: 0,
      timeoutMs: 20,
    });
    generator.drop();
    const result = await generator.reconnect({
      batchSize: 1,
      pauseMs: 0,
      catchUpTo: { t: 0 },
      timeoutMs: 60,
      deadlineMs: 90,
    });
    // The first batch or two time out; the deadline has passed before the rest start.
    expect(result.opened).toBe(0);
    expect(result.failed).toBe(4);
    expect(
      result.errors.some((error) =>
        /not attempted: the batches before took over 0.09 s/.test(error),
      ),
    ).toBe(true);
    expect(result.elapsedMs).toBeLessThan(1_000);
    generator.closeAll();
  });
});

describe("process readings", () => {
  it("finds this process's parent, start time and command line", () => {
    expect(parentOf(process.pid)).toBe(process.ppid);
    const started = startedAtMs(process.pid);
    expect(started).not.toBeNull();
    // /proc counts in clock ticks; allow for them and for the boot time's whole seconds.
    expect(Math.abs((started as number) - performance.timeOrigin)).toBeLessThan(2_000);
    expect(commandLine(process.pid)).toContain("node");
    expect(startedAtMs(0x7fffffff)).toBeNull();
  });
});

describe("LoadGenerator churn", () => {
  // An SSE server that answers every request with one message: a fresh stream gets n = 1, a
  // resumed one the next n after the message its Last-Event-ID names.
  let server: Server;
  let port = 0;
  let requests = 0;
  const issued = new Map<number, { topic: string; n: number; request: number }>();
  const resumes: { topic: string; from: string; wavesAgo: number }[] = [];
  const WAVE = 6;
  beforeAll(async () => {
    server = createServer((socket) => {
      let head = "";
      socket.on("error", () => {});
      socket.on("data", (chunk: Buffer) => {
        head += chunk.toString("latin1");
        if (!head.includes("\r\n\r\n")) return;
        const request = requests++;
        const topic = /topic=([^ ]+)/.exec(head)?.[1] ?? "";
        const lastId = /\r\nLast-Event-ID: (\d+)/.exec(head)?.[1];
        const earlier = lastId === undefined ? undefined : issued.get(Number(lastId));
        if (earlier) {
          resumes.push({
            topic,
            from: earlier.topic,
            wavesAgo: Math.floor(request / WAVE) - Math.floor(earlier.request / WAVE),
          });
        }
        const id = 1000 + request;
        const n = (earlier?.n ?? 0) + 1;
        issued.set(id, { topic, n, request });
        socket.write(
          `HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\nid: ${id}\nevent: message\ndata: {"t":1,"n":${n}}\n\n`,
        );
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as { port: number }).port;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it("opens and drops waves; every third client resumes from the wave the turn names, and nothing is lost", async () => {
    const generator = new LoadGenerator();
    const result = await generator.churn({
      port,
      pathPrefix: "/events?topic=",
      topics: ["a", "b", "c", "d", "e", "f"],
      streams: 3 * WAVE,
      waveSize: WAVE,
      holdMs: 20,
      resumeEvery: 3,
      resumeWavesAgo: [1, 2],
      timeoutMs: 5_000,
    });
    // Wave 1 has nobody to resume from; in wave 2 the client at index 2 (topic c) resumes from
    // wave 1, the one at index 5 (topic f) would from two waves back; in wave 3 both do.
    expect(resumes.sort((x, y) => x.topic.localeCompare(y.topic))).toEqual([
      { topic: "c", from: "c", wavesAgo: 1 },
      { topic: "c", from: "c", wavesAgo: 1 },
      { topic: "f", from: "f", wavesAgo: 2 },
    ]);
    expect(result).toMatchObject({
      opened: 18,
      failed: 0,
      errors: [],
      resumed: 3,
      received: 18,
      lost: 0,
      duplicates: 0,
    });
    expect(generator.size).toBe(0);
  });
});
