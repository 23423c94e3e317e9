/**
 * `max_event_size` against a real nats-server: a message whose frame (the bytes on the wire)
 * would be larger than the limit is sent as a small `skipped` event with its id, its topic and
 * the payload's size, live, from the ring and in a replay from NATS; a frame of exactly the
 * limit goes out as it is. A route without the option sends every message whole.
 */
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  type Harness,
  sourcesAvailable,
  startHarness,
  type TestSidecar,
} from "../testing/sidecar-harness.js";
import { openSse, type SseClient, type SseFrame } from "../testing/sse-client.js";
import { ConfigError, resolveConfig } from "./config.js";

const LIMIT = 512;

let harness: Harness;
let js: JetStreamClient;
let jsm: JetStreamManager;
let sidecar: TestSidecar;
const open: SseClient[] = [];

/** What one published message should become on the wire. */
interface Case {
  name: string;
  payload: Uint8Array;
  /** Whether its frame is over the limit, so that a `skipped` event goes out instead. */
  skipped: boolean;
}

/** The length of the frame for a plain-text payload, counted here, not by the sidecar. */
function framedLength(seq: number, topic: string, text: string): number {
  return Buffer.byteLength(
    `id: ${seq}\nevent: message\ndata: {"topic":${JSON.stringify(topic)},"payload":${JSON.stringify(text)},"time":"2000-01-01T00:00:00.000Z"}\n\n`,
  );
}

/** A payload of `x`s whose frame at `seq` is exactly `length` bytes. */
function payloadFramedAt(seq: number, length: number): string {
  return "x".repeat(length - framedLength(seq, "t", ""));
}

async function nextSeq(): Promise<number> {
  return (await jsm.streams.info("EVENTS")).state.last_seq + 1;
}

/**
 * Publishes one of each kind, in order, and returns what each should look like: small, one
 * over the limit, control characters that JSON escapes to six bytes each, multi-byte UTF-8,
 * a frame of exactly the limit and one of a byte more.
 */
async function publishCases(): Promise<(Case & { seq: number })[]> {
  const first = await nextSeq();
  const encode = (text: string) => new TextEncoder().encode(text);
  const cases: Case[] = [
    { name: "small", payload: encode("hello"), skipped: false },
    { name: "big", payload: encode("y".repeat(600)), skipped: true },
    { name: "escaped", payload: encode("\u0001".repeat(100)), skipped: true },
    { name: "multi-byte", payload: encode("é".repeat(250)), skipped: true },
    { name: "exact", payload: encode(payloadFramedAt(first + 4, LIMIT)), skipped: false },
    { name: "one more", payload: encode(payloadFramedAt(first + 5, LIMIT + 1)), skipped: true },
  ];
  const result = [];
  for (const each of cases) {
    const seq = (await js.publish("events.t", each.payload)).seq;
    result.push({ ...each, seq });
  }
  expect(result.map((each) => each.seq)).toEqual([0, 1, 2, 3, 4, 5].map((i) => first + i));
  return result;
}

function skippedFrame(seq: number, size: number): string {
  return `id: ${seq}\nevent: skipped\ndata: {"topic":"t","reason":"max_event_size","size":${size}}\n\n`;
}

/** Checks received frames (without `connected`) against the cases, one for one. */
function expectFrames(frames: SseFrame[], cases: (Case & { seq: number })[]): void {
  expect(frames.map((frame) => frame.id)).toEqual(cases.map((each) => String(each.seq)));
  for (const [index, each] of cases.entries()) {
    const frame = frames[index];
    if (each.skipped) {
      expect(frame?.raw, each.name).toBe(skippedFrame(each.seq, each.payload.byteLength));
    } else {
      const text = new TextDecoder().decode(each.payload);
      expect(frame?.event, each.name).toBe("message");
      expect(JSON.parse(frame?.data ?? "").payload, each.name).toBe(text);
      expect(Buffer.byteLength(frame?.raw ?? ""), each.name).toBe(
        framedLength(each.seq, "t", text),
      );
    }
  }
}

async function stream(path: string, route = "limited"): Promise<SseClient> {
  const client = await openSse({
    port: sidecar.port,
    path,
    headers: { "X-Nuts-Route": route },
  });
  open.push(client);
  expect(client.status).toBe(200);
  return client;
}

let beforeStart: (Case & { seq: number })[];

beforeAll(async () => {
  harness = await startHarness();
  ({ js, jsm } = harness);
  beforeStart = await publishCases();
  const base = {
    nats_url: harness.nats.url,
    stream_name: "EVENTS",
    topic_prefix: "events.",
    heartbeat_interval: 0,
  };
  sidecar = await harness.startSidecar({
    routes: { limited: { ...base, max_event_size: LIMIT }, unlimited: base },
  });
  await sourcesAvailable(sidecar, "the sources to be ready");
});

afterEach(() => {
  for (const client of open.splice(0)) client.abort();
});

afterAll(() => harness?.stop());

describe("max_event_size", () => {
  it("sends live messages over the limit as skipped events, and the rest whole", async () => {
    const client = await stream("/t");
    await client.waitForEvents(1);
    const cases = await publishCases();
    await client.waitForEvents(1 + cases.length);
    expectFrames(client.events.slice(1), cases);
  });

  it("does the same in a replay from NATS (the messages came before the sidecar)", async () => {
    const client = await stream("/t?last-id=0");
    await client.waitForEvents(1 + beforeStart.length);
    expect(client.events[0]?.raw).toBe('id: 0\nevent: connected\ndata: {"topics":["t"]}\n\n');
    // Later tests' messages may follow; the first ones are those published before the start.
    expectFrames(client.events.slice(1, 1 + beforeStart.length), beforeStart);
  });

  it("does the same from the ring", async () => {
    const cursor = (await nextSeq()) - 1;
    const live = await stream("/t");
    await live.waitForEvents(1);
    const cases = await publishCases();
    await live.waitForEvents(1 + cases.length);
    const resumed = await stream(`/t?last-id=${cursor}`);
    await resumed.waitForEvents(1 + cases.length);
    expectFrames(resumed.events.slice(1), cases);
    // Framed once: the resumed client gets the very bytes the live one got.
    expect(resumed.events.slice(1).map((frame) => frame.raw)).toEqual(
      live.events.slice(1).map((frame) => frame.raw),
    );
  });

  it("keeps a route without max_event_size whole", async () => {
    const client = await stream("/t?last-id=0", "unlimited");
    await client.waitForEvents(1 + beforeStart.length);
    const frames = client.events.slice(1, 1 + beforeStart.length);
    expect(frames.map((frame) => frame.event)).toEqual(beforeStart.map(() => "message"));
    expect(JSON.parse(frames[1]?.data ?? "").payload).toBe("y".repeat(600));
    expect(JSON.parse(frames[3]?.data ?? "").payload).toBe("é".repeat(250));
  });
});

describe("configuration of max_event_size", () => {
  it("takes 256 bytes or more, or null for no limit", () => {
    const routes = resolveConfig({
      routes: {
        small: { stream_name: "E", max_event_size: 256 },
        off: { stream_name: "E", max_event_size: null },
        unset: { stream_name: "E" },
      },
    }).routes;
    expect(routes.get("small")?.maxEventSize).toBe(256);
    expect(routes.get("off")?.maxEventSize).toBeNull();
    expect(routes.get("unset")?.maxEventSize).toBeNull();
  });

  it("refuses 255 with a ConfigError", () => {
    let caught: unknown;
    try {
      resolveConfig({ routes: { r: { stream_name: "E", max_event_size: 255 } } });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).message).toBe(
      'route "r": max_event_size takes a whole number from 256 to 1073741824, got 255',
    );
    expect((caught as ConfigError).key).toBe("max_event_size");
  });
});
