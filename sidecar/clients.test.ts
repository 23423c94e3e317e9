import { EventEmitter } from "node:events";
import type { ServerResponse } from "node:http";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Clients } from "./clients.js";
import { type RouteConfig, resolveRoute } from "./config.js";
import { type CloseReason, Subscriber } from "./subscriber.js";

/**
 * Just enough of a ServerResponse: it records what is written and lets a test decide whether
 * the socket takes the bytes (`accepting`) and how many are queued (`writableLength`).
 */
class FakeResponse extends EventEmitter {
  readonly written: string[] = [];
  accepting = true;
  writableLength = 0;
  writableNeedDrain = false;
  ended = false;
  destroyed = false;

  write(chunk: Uint8Array): boolean {
    this.written.push(new TextDecoder().decode(chunk));
    if (!this.accepting) {
      this.writableLength += chunk.byteLength;
      this.writableNeedDrain = true;
    }
    return this.accepting;
  }

  cork(): void {}

  uncork(): void {}

  end(): void {
    this.ended = true;
  }

  destroy(): void {
    this.destroyed = true;
  }

  /** The client takes everything queued. */
  drain(): void {
    this.accepting = true;
    this.writableLength = 0;
    this.writableNeedDrain = false;
    this.emit("drain");
  }
}

function makeSubscriber(
  overrides: { position?: number; writeTimeoutMs?: number; maxBufferedBytes?: number } = {},
) {
  const response = new FakeResponse();
  const closes: CloseReason[] = [];
  const subscriber = new Subscriber(response as unknown as ServerResponse, {
    topics: ["a", "b", "a"],
    position: overrides.position ?? 0,
    writeTimeoutMs: overrides.writeTimeoutMs ?? 1000,
    maxBufferedBytes: overrides.maxBufferedBytes ?? 100,
    onClose: (reason) => closes.push(reason),
  });
  return { response, subscriber, closes };
}

const frame = (text: string) => new TextEncoder().encode(text);

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(new Date("2025-01-01T00:00:00Z"));
});
afterEach(() => {
  vi.useRealTimers();
});

describe("Clients heartbeats", () => {
  const route = (heartbeat_interval: number): RouteConfig =>
    resolveRoute("events", { stream_name: "S", heartbeat_interval });

  it("sends `: heartbeat` after exactly one interval of silence, and again after the next", () => {
    const clients = new Clients();
    const { response, subscriber } = makeSubscriber();
    clients.add(route(30), subscriber);

    vi.advanceTimersByTime(29_999);
    expect(response.written).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(response.written).toEqual([": heartbeat\n\n"]);
    vi.advanceTimersByTime(29_999);
    expect(response.written).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(response.written).toEqual([": heartbeat\n\n", ": heartbeat\n\n"]);
  });

  it("sends no heartbeat while messages keep the stream busy, and within 1.25 intervals of the last", () => {
    const clients = new Clients();
    const { response, subscriber } = makeSubscriber();
    clients.add(route(30), subscriber);

    for (let second = 10; second <= 100; second += 10) {
      vi.advanceTimersByTime(10_000);
      subscriber.deliverAll([{ seq: second, frame: frame(`id: ${second}\n\n`) }]);
    }
    expect(response.written.filter((each) => each.startsWith(":"))).toEqual([]);
    // Last write at 100 s; the ticker runs every 7.5 s, so the first check at or past 130 s is 135 s.
    vi.advanceTimersByTime(34_999);
    expect(response.written.filter((each) => each.startsWith(":"))).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(response.written.filter((each) => each.startsWith(":"))).toEqual([": heartbeat\n\n"]);
  });

  it("heartbeats only the silent subscriber", () => {
    const clients = new Clients();
    const busy = makeSubscriber();
    const quiet = makeSubscriber();
    clients.add(route(1), busy.subscriber);
    clients.add(route(1), quiet.subscriber);
    vi.advanceTimersByTime(500);
    busy.subscriber.write(frame("data: x\n\n"));
    vi.advanceTimersByTime(500);
    expect(quiet.response.written).toEqual([": heartbeat\n\n"]);
    expect(busy.response.written).toEqual(["data: x\n\n"]);
  });

  it("runs one ticker per route while it has subscribers and none after the last leaves", () => {
    const clients = new Clients();
    const first = makeSubscriber();
    const second = makeSubscriber();
    const events = route(1);
    const other = resolveRoute("other", { stream_name: "S", heartbeat_interval: 1 });
    clients.add(events, first.subscriber);
    clients.add(events, second.subscriber);
    clients.add(other, makeSubscriber().subscriber);
    expect(clients.tickers).toBe(2);
    expect(clients.count()).toBe(3);
    expect(clients.count("events")).toBe(2);
    expect(vi.getTimerCount()).toBe(2);

    clients.remove(events, first.subscriber);
    expect(clients.tickers).toBe(2);
    clients.remove(events, second.subscriber);
    expect(clients.tickers).toBe(1);
    expect(clients.count("events")).toBe(0);
    expect(vi.getTimerCount()).toBe(1);

    vi.advanceTimersByTime(10_000);
    expect(first.response.written).toEqual([]);
    expect(second.response.written).toEqual([]);
  });

  it("starts no ticker when heartbeats are off", () => {
    const clients = new Clients();
    const { response, subscriber } = makeSubscriber();
    clients.add(route(0), subscriber);
    expect(clients.tickers).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(3_600_000);
    expect(response.written).toEqual([]);
  });

  it("ends every stream cleanly on shutdown", () => {
    const clients = new Clients();
    const events = route(1);
    const a = makeSubscriber();
    const b = makeSubscriber();
    // The subscribe handler removes a subscriber from Clients when it closes.
    for (const each of [a, b]) {
      clients.add(events, each.subscriber);
    }
    clients.closeAll({ type: "shutdown" });
    expect([a.response.ended, b.response.ended]).toEqual([true, true]);
    expect([a.response.destroyed, b.response.destroyed]).toEqual([false, false]);
    expect(a.closes).toEqual([{ type: "shutdown" }]);
    expect(b.closes).toEqual([{ type: "shutdown" }]);
  });
});

describe("Subscriber", () => {
  it("collapses duplicate topics", () => {
    expect([...makeSubscriber().subscriber.filter.literals]).toEqual(["a", "b"]);
  });

  it("writes each sequence once, in increasing order only", () => {
    const { response, subscriber } = makeSubscriber({ position: 5 });
    expect(subscriber.deliverAll([{ seq: 5, frame: frame("five") }])).toBe(true);
    expect(subscriber.deliverAll([{ seq: 6, frame: frame("six") }])).toBe(true);
    expect(subscriber.deliverAll([{ seq: 6, frame: frame("six again") }])).toBe(true);
    expect(subscriber.deliverAll([{ seq: 4, frame: frame("four") }])).toBe(true);
    expect(subscriber.deliverAll([{ seq: 9, frame: frame("nine") }])).toBe(true);
    expect(response.written).toEqual(["six", "nine"]);
    expect(subscriber.position).toBe(9);
  });

  it("cuts a client whose queued bytes pass max_buffered_bytes", () => {
    const { response, subscriber, closes } = makeSubscriber({ maxBufferedBytes: 100 });
    response.accepting = false;
    expect(subscriber.deliverAll([{ seq: 1, frame: frame("x".repeat(60)) }])).toBe(true);
    expect(closes).toEqual([]);
    expect(subscriber.deliverAll([{ seq: 2, frame: frame("y".repeat(60)) }])).toBe(false);
    expect(closes).toEqual([{ type: "slow_client", bufferedBytes: 120 }]);
    expect(response.destroyed).toBe(true);
    expect(subscriber.closed).toBe(true);
    expect(subscriber.deliverAll([{ seq: 3, frame: frame("z") }])).toBe(false);
    expect(response.written).toHaveLength(2);
  });

  it("cuts a client that takes nothing for write_timeout", () => {
    const { response, subscriber, closes } = makeSubscriber({ writeTimeoutMs: 1000 });
    response.accepting = false;
    subscriber.deliverAll([{ seq: 1, frame: frame("x") }]);
    vi.advanceTimersByTime(999);
    expect(closes).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(closes).toEqual([{ type: "write_timeout", timeoutMs: 1000 }]);
    expect(response.destroyed).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("keeps a client that drains within write_timeout", () => {
    const { response, subscriber, closes } = makeSubscriber({ writeTimeoutMs: 1000 });
    response.accepting = false;
    subscriber.deliverAll([{ seq: 1, frame: frame("x") }]);
    vi.advanceTimersByTime(900);
    response.drain();
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(10_000);
    expect(closes).toEqual([]);
    expect(response.destroyed).toBe(false);
  });

  it("counts write_timeout from the first write that backed up, not the last", () => {
    const { response, subscriber, closes } = makeSubscriber({
      writeTimeoutMs: 1000,
      maxBufferedBytes: 1 << 20,
    });
    response.accepting = false;
    subscriber.deliverAll([{ seq: 1, frame: frame("x") }]);
    vi.advanceTimersByTime(600);
    subscriber.deliverAll([{ seq: 2, frame: frame("y") }]);
    vi.advanceTimersByTime(400);
    expect(closes).toEqual([{ type: "write_timeout", timeoutMs: 1000 }]);
  });

  it("closes once, as client_left, when the client goes away, and clears its timer", () => {
    const { response, subscriber, closes } = makeSubscriber();
    response.accepting = false;
    subscriber.deliverAll([{ seq: 1, frame: frame("x") }]);
    response.emit("close");
    response.emit("close");
    subscriber.close({ type: "shutdown" });
    expect(closes).toEqual([{ type: "client_left" }]);
    expect(response.destroyed).toBe(false);
    expect(response.ended).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("writes a catch-up as one write, without the frames the client already has", () => {
    const { response, subscriber } = makeSubscriber();
    subscriber.deliverAll([{ seq: 2, frame: frame("b") }]);
    const written = subscriber.deliverAll([
      { seq: 1, frame: frame("a") },
      { seq: 2, frame: frame("b") },
      { seq: 3, frame: frame("c") },
      { seq: 4, frame: frame("d") },
    ]);
    expect(written).toBe(true);
    expect(response.written).toEqual(["b", "cd"]);
    expect(subscriber.position).toBe(4);
    expect(subscriber.deliverAll([{ seq: 4, frame: frame("d") }])).toBe(true);
    expect(response.written).toEqual(["b", "cd"]);
  });

  it("writes the bytes shared by a topic's clients, or only what a client lacks", () => {
    const behind = makeSubscriber();
    const ahead = makeSubscriber();
    ahead.subscriber.deliverAll([{ seq: 1, frame: frame("a") }]);
    const frames = [
      { seq: 1, frame: frame("a") },
      { seq: 2, frame: frame("b") },
    ];
    const joined = frame("ab");
    expect(behind.subscriber.deliverJoined(frames, joined)).toBe(true);
    expect(ahead.subscriber.deliverJoined(frames, joined)).toBe(true);
    expect(behind.response.written).toEqual(["ab"]);
    expect(ahead.response.written).toEqual(["a", "b"]);
    expect([behind.subscriber.position, ahead.subscriber.position]).toEqual([2, 2]);
  });

  it("waits in deliverAndWait until the client has taken the bytes", async () => {
    const { response, subscriber } = makeSubscriber({ maxBufferedBytes: 1 << 20 });
    response.accepting = false;
    let done = false;
    const waiting = subscriber.deliverAndWait([{ seq: 1, frame: frame("x") }]).then(() => {
      done = true;
    });
    await Promise.resolve();
    expect(done).toBe(false);
    response.drain();
    await waiting;
    expect(done).toBe(true);
    expect(response.written).toEqual(["x"]);
  });
});
