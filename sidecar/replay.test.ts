/**
 * Resuming from a cursor against a real nats-server: `last-id` and `Last-Event-ID` deliver every
 * retained message of the requested topics after the cursor, in order, then live messages,
 * from the ring when it still holds them and otherwise from a replay consumer that is deleted
 * once the client has caught up.
 */
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { PublishedLog } from "../testing/published-log.js";
import { type Harness, startHarness, type TestSidecar } from "../testing/sidecar-harness.js";
import { eventually, fetchAll, openSse, type SseClient } from "../testing/sse-client.js";

let harness: Harness;
let js: JetStreamClient;
let jsm: JetStreamManager;
let sidecar: TestSidecar;
const open: SseClient[] = [];
/** Stream sequence of every message published to EVENTS, by topic. */
const published = new PublishedLog(() => js);
/** The stream's last sequence when the sidecar started: older cursors need a replay consumer. */
let headAtStart = 0;
const RING_SIZE = 16;

function publish(topic: string, payload = `${topic} message`): Promise<number> {
  return published.publish(topic, payload);
}

function expectedAfter(cursor: number, ...topics: string[]): number[] {
  return published.after(cursor, ...topics);
}

async function stream(path: string, headers: Record<string, string> = {}): Promise<SseClient> {
  const client = await openSse({ port: sidecar.port, path, headers });
  open.push(client);
  return client;
}

async function consumerNames(stream = "EVENTS"): Promise<string[]> {
  return (await jsm.consumers.list(stream).next()).map((info) => info.name);
}

function source() {
  const [only, ...others] = sidecar.hub
    .allSources()
    .filter((each) => each.options.streamName === "EVENTS");
  if (!only || others.length > 0) throw new Error("expected one EVENTS source");
  return only;
}

/** Waits until the sidecar's live consumer has seen everything published so far. */
function sidecarCaughtUp(): Promise<number> {
  return harness.caughtUp(source());
}

beforeAll(async () => {
  harness = await startHarness();
  ({ js, jsm } = harness);
  // A stream that keeps only its last 5 messages: its first retained sequence is above 1.
  await jsm.streams.add({ name: "SHORT", subjects: ["short.>"], max_msgs: 5 });
  for (let index = 0; index < 30; index++) await publish(index % 3 === 0 ? "s" : "r");
  for (let index = 0; index < 12; index++) await js.publish("short.t", `short ${index + 1}`);
  headAtStart = 30;
  const base = {
    nats_url: harness.nats.url,
    topic_prefix: "events.",
    path_prefix: "/events",
    ring_size: RING_SIZE,
    heartbeat_interval: 0,
  };
  sidecar = await harness.startSidecar({ routes: { events: { ...base, stream_name: "EVENTS" } } });
  await sidecarCaughtUp();
});

afterEach(() => {
  for (const client of open.splice(0)) client.abort();
  vi.restoreAllMocks();
});

afterAll(() => harness?.stop());

describe("resuming from a cursor older than the ring", () => {
  it("replays every retained message after last-id, then goes live, and deletes its replay consumer", async () => {
    const client = await stream("/events/r?last-id=10");
    const replayed = expectedAfter(10, "r");
    expect(replayed).toHaveLength(14);
    await client.waitForMessages(replayed.length);
    expect(client.events[0]?.raw).toBe('id: 10\nevent: connected\ndata: {"topics":["r"]}\n\n');
    expect(client.messageIds).toEqual(replayed);
    expect(client.messages[0]?.data).toMatch(
      /^\{"topic":"r","payload":"r message","time":"[^"]+"\}$/,
    );

    const live = await publish("r", "live one");
    await client.waitForMessages(replayed.length + 1);
    expect(client.messageIds).toEqual([...replayed, live]);
    await eventually(
      async () => (await consumerNames()).length === 1,
      "the replay consumer to be deleted",
    );
  });

  it("replays several topics merged in stream order", async () => {
    const client = await stream("/events?topic=s&topic=r&last-id=12");
    const expected = expectedAfter(12, "r", "s");
    await client.waitForMessages(expected.length);
    expect(client.messageIds).toEqual(expected);
    expect(client.messages.map((message) => JSON.parse(message.data ?? "").topic)).toEqual(
      expected.map((seq) => (published.seqs("s").includes(seq) ? "s" : "r")),
    );
  });

  it("lets Last-Event-ID win over last-id", async () => {
    const client = await stream("/events/r?last-id=5", { "Last-Event-ID": "20" });
    const expected = expectedAfter(20, "r");
    await client.waitForMessages(expected.length);
    expect(client.events[0]?.id).toBe("20");
    expect(client.messageIds).toEqual(expected);
  });

  it("ignores a malformed Last-Event-ID and uses last-id", async () => {
    const client = await stream("/events/r?last-id=25", { "Last-Event-ID": "not-a-number" });
    const expected = expectedAfter(25, "r");
    await client.waitForMessages(expected.length);
    expect(client.events[0]?.id).toBe("25");
    expect(client.messageIds).toEqual(expected);
  });

  it("delivers nothing old to a topic with no messages after the cursor, and still goes live", async () => {
    const client = await stream("/events/empty-topic?last-id=3");
    await client.waitForEvents(1);
    const seq = await publish("empty-topic");
    await client.waitForMessages(1);
    expect(client.messageIds).toEqual([seq]);
    await eventually(async () => (await consumerNames()).length === 1, "no replay consumer left");
  });

  it("refuses a malformed last-id query with 400", async () => {
    const response = await fetchAll({ port: sidecar.port, path: "/events/r?last-id=-1" });
    expect(response.status).toBe(400);
    expect(response.body).toBe(
      '{"error":"invalid_last_id","message":"last-id must be a stream sequence number (digits only, at most 16), got \\"-1\\""}',
    );
  });
});

describe("without a cursor", () => {
  it("delivers only messages published after connecting; connected carries the stream's last sequence", async () => {
    const head = await sidecarCaughtUp();
    const client = await stream("/events/r");
    await client.waitForEvents(1);
    expect(client.events[0]?.raw).toBe(`id: ${head}\nevent: connected\ndata: {"topics":["r"]}\n\n`);
    const seq = await publish("r", "new");
    await client.waitForMessages(1);
    expect(client.messageIds).toEqual([seq]);
  });

  it("treats a malformed Last-Event-ID alone as no cursor", async () => {
    const head = await sidecarCaughtUp();
    const client = await stream("/events/r", { "Last-Event-ID": "1e3" });
    await client.waitForEvents(1);
    expect(client.events[0]?.id).toBe(String(head));
    const seq = await publish("r");
    await client.waitForMessages(1);
    expect(client.messageIds).toEqual([seq]);
  });
});

describe("resuming from a cursor the ring still covers", () => {
  it("serves the missed messages from memory without creating a consumer", async () => {
    // Live messages fill the ring; only the last RING_SIZE stay.
    for (let index = 0; index < RING_SIZE + 4; index++)
      await publish(index % 2 === 0 ? "ring" : "other");
    const head = await sidecarCaughtUp();
    const connection = source().transport.connection;
    if (!connection) throw new Error("sidecar not connected");
    const addConsumer = vi.spyOn(connection.jsm.consumers, "add");

    const cursor = head - 10;
    const client = await stream(`/events/ring?last-id=${cursor}`);
    const expected = expectedAfter(cursor, "ring");
    expect(expected).toHaveLength(5);
    await client.waitForMessages(expected.length);
    expect(client.messageIds).toEqual(expected);
    const live = await publish("ring");
    await client.waitForMessages(expected.length + 1);
    expect(client.messageIds).toEqual([...expected, live]);
    expect(addConsumer).not.toHaveBeenCalled();
  });

  it("uses a replay consumer for a cursor just below the ring's floor", async () => {
    const head = await sidecarCaughtUp();
    const connection = source().transport.connection;
    if (!connection) throw new Error("sidecar not connected");
    const addConsumer = vi.spyOn(connection.jsm.consumers, "add");
    const cursor = head - RING_SIZE - 1;
    const client = await stream(`/events?topic=ring&topic=other&last-id=${cursor}`);
    const expected = expectedAfter(cursor, "ring", "other");
    expect(expected).toEqual(
      Array.from({ length: RING_SIZE + 1 }, (_, index) => cursor + 1 + index),
    );
    await client.waitForMessages(expected.length);
    expect(client.messageIds).toEqual(expected);
    expect(addConsumer).toHaveBeenCalledTimes(1);
  });
});

describe("a cursor older than the stream's first retained message", () => {
  it("delivers everything the stream retains", async () => {
    const short = await harness.startSidecar({
      routes: {
        short: {
          nats_url: harness.nats.url,
          stream_name: "SHORT",
          topic_prefix: "short.",
          heartbeat_interval: 0,
        },
      },
    });
    try {
      const state = (await jsm.streams.info("SHORT")).state;
      expect([state.first_seq, state.last_seq]).toEqual([8, 12]);
      for (const cursor of [0, 3]) {
        const client = await openSse({ port: short.port, path: `/t?last-id=${cursor}` });
        open.push(client);
        await client.waitForMessages(5);
        expect(client.events[0]?.id).toBe(String(cursor));
        expect(client.messageIds).toEqual([8, 9, 10, 11, 12]);
        expect(client.messages.map((message) => JSON.parse(message.data ?? "").payload)).toEqual([
          "short 8",
          "short 9",
          "short 10",
          "short 11",
          "short 12",
        ]);
      }
    } finally {
      for (const client of open.splice(0)) client.abort();
      await short.stop();
    }
  });
});

it("the sidecar started after the first 30 messages", () => {
  // Guards the premise of the "older than the ring" cases: their cursors lie below this.
  expect(headAtStart).toBe(30);
});
