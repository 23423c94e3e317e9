/**
 * Fan-out against a real nats-server: one JetStream consumer per route source however many
 * clients watch, every client getting the same frame; a client that cannot keep up is cut
 * without slowing the others; a client that leaves leaves nothing behind; stop() ends streams.
 */
import { EventEmitter } from "node:events";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type LoggedLine, recordingLogger } from "../testing/recording-logger.js";
import { type Harness, startHarness, type TestSidecar } from "../testing/sidecar-harness.js";
import { eventually, openSse, type SseClient } from "../testing/sse-client.js";
import { Subscriber } from "./subscriber.js";

let harness: Harness;
let js: JetStreamClient;
let jsm: JetStreamManager;
let sidecar: TestSidecar;
const open: SseClient[] = [];
const logged: LoggedLine[] = [];

async function stream(path: string, route = "events", running = sidecar): Promise<SseClient> {
  const client = await openSse({ port: running.port, path, headers: { "X-Nuts-Route": route } });
  open.push(client);
  return client;
}

/** A socket that takes every write and keeps each one as text. */
class RecordingSink extends EventEmitter {
  readonly writes: string[] = [];
  readonly writableLength = 0;
  readonly writableNeedDrain = false;
  write(chunk: Uint8Array): boolean {
    this.writes.push(new TextDecoder().decode(chunk));
    return true;
  }
  cork(): void {}
  uncork(): void {}
  end(): void {}
  destroy(): void {}
}

const idsIn = (text: string) =>
  [...text.matchAll(/^id: (\d+)$/gm)].map((match) => Number(match[1]));

function theSource() {
  const sources = sidecar.hub.allSources();
  if (sources.length !== 1 || !sources[0])
    throw new Error(`expected one source, got ${sources.length}`);
  return sources[0];
}

/** Everything a client holds on the server: zero once every client has gone. */
function leftovers() {
  const source = theSource();
  return {
    subscribers: source.subscriberCount,
    topics: source.topicCount,
    clients: sidecar.clients.count(),
    tickers: sidecar.clients.tickers,
  };
}

async function nothingLeft(): Promise<void> {
  await eventually(
    () => Object.values(leftovers()).every((count) => count === 0),
    "every client to be gone",
  );
}

beforeAll(async () => {
  harness = await startHarness();
  ({ js, jsm } = harness);
  const base = {
    nats_url: harness.nats.url,
    stream_name: "EVENTS",
    topic_prefix: "events.",
    path_prefix: "/events",
    ring_size: 16,
    heartbeat_interval: 30,
  };
  sidecar = await harness.startSidecar(
    {
      routes: {
        events: base,
        // The same source; only how long a stuck client may stay differs.
        timeout: { ...base, write_timeout: 1, max_buffered_bytes: 1 << 30 },
        bounded: { ...base, write_timeout: 3600, max_buffered_bytes: 1 << 20 },
      },
    },
    recordingLogger(logged),
  );
  await eventually(() => theSource().isAvailable(), "the live consumer to start");
});

afterEach(async () => {
  for (const client of open.splice(0)) client.abort();
  await nothingLeft();
});

afterAll(() => harness?.stop());

describe("fan-out", () => {
  it("serves 200 clients of one topic from exactly one JetStream consumer, each getting the message", async () => {
    expect(await harness.consumerCount()).toBe(1);
    const clients: SseClient[] = [];
    for (let batch = 0; batch < 4; batch++) {
      clients.push(
        ...(await Promise.all(Array.from({ length: 50 }, () => stream("/events/crowd")))),
      );
    }
    await Promise.all(clients.map((client) => client.waitForEvents(1)));
    expect(clients.every((client) => client.status === 200)).toBe(true);
    expect(theSource().subscriberCount).toBe(200);
    expect(theSource().topicCount).toBe(1);
    expect(sidecar.clients.count()).toBe(200);
    expect(sidecar.clients.tickers).toBe(1);
    expect(await harness.consumerCount()).toBe(1);

    const seq = (await js.publish("events.crowd", '{"to":"everyone"}')).seq;
    await Promise.all(clients.map((client) => client.waitForMessages(1)));
    const frames = new Set(clients.map((client) => client.messages[0]?.raw));
    expect(frames.size).toBe(1);
    expect([...frames][0]).toMatch(
      new RegExp(
        `^id: ${seq}\\nevent: message\\ndata: \\{"topic":"crowd","payload":\\{"to":"everyone"\\},"time":"[^"]+"\\}\\n\\n$`,
      ),
    );
    expect(clients.every((client) => client.messageIds.length === 1)).toBe(true);
    expect(await harness.consumerCount()).toBe(1);
  });
});

describe("a burst of messages", () => {
  it("reaches clients of one topic, of several topics and of another topic complete and in order", async () => {
    const onlyA = await stream("/events?topic=burst-a");
    const both = await stream("/events?topic=burst-a&topic=burst-b");
    const onlyB = await stream("/events?topic=burst-b");
    await Promise.all([onlyA, both, onlyB].map((client) => client.waitForEvents(1)));

    // Published without waiting for each ack, so they arrive together and are written together.
    const topics = Array.from({ length: 40 }, (_, index) =>
      index % 3 === 1 ? "burst-b" : "burst-a",
    );
    const acks = await Promise.all(
      topics.map((topic, index) => js.publish(`events.${topic}`, `{"n":${index}}`)),
    );
    const seqs = acks.map((ack) => ack.seq);
    const seqsOf = (topic: string) => seqs.filter((_, index) => topics[index] === topic);
    await Promise.all([
      onlyA.waitForMessages(seqsOf("burst-a").length),
      both.waitForMessages(seqs.length),
      onlyB.waitForMessages(seqsOf("burst-b").length),
    ]);
    expect(onlyA.messageIds).toEqual(seqsOf("burst-a"));
    expect(both.messageIds).toEqual(seqs);
    expect(onlyB.messageIds).toEqual(seqsOf("burst-b"));
  });
});

describe("a resuming client", () => {
  it("gets what it missed from the ring in one write, then live messages", async () => {
    const seqs: number[] = [];
    for (let index = 0; index < 5; index++)
      seqs.push((await js.publish("events.resume", `{"n":${index}}`)).seq);
    const source = theSource();
    await eventually(() => source.head >= (seqs.at(-1) as number), "the source to see them");
    const sink = new RecordingSink();
    const subscriber = new Subscriber(sink, {
      topics: ["resume"],
      position: (seqs[0] as number) - 1,
      writeTimeoutMs: 1000,
      maxBufferedBytes: 1 << 20,
      onClose: () => {},
    });

    try {
      await source.attach(subscriber, new AbortController().signal, null);
      expect(sink.writes).toHaveLength(1);
      expect(idsIn(sink.writes[0] ?? "")).toEqual(seqs);

      const live = (await js.publish("events.resume", '{"n":5}')).seq;
      await eventually(() => sink.writes.length === 2, "the live message");
      expect(idsIn(sink.writes[1] ?? "")).toEqual([live]);
    } finally {
      source.detach(subscriber);
    }
  });
});

describe("a client that cannot keep up", () => {
  const PAYLOAD = "x".repeat(128 * 1024);
  const COUNT = 128;

  /** Publishes COUNT large messages to `topic` and returns their sequences. */
  async function flood(topic: string): Promise<number[]> {
    const seqs: number[] = [];
    for (let index = 0; index < COUNT; index++)
      seqs.push((await js.publish(`events.${topic}`, PAYLOAD)).seq);
    return seqs;
  }

  /**
   * The slow client got a gap-free prefix of the messages, not all of them, then the stream
   * ended. The body is delimited by the connection, so a cut reads as its end (an event cut in
   * half is discarded, as the SSE spec says); the client reconnects with its last id.
   */
  async function expectCutShort(slow: SseClient, seqs: number[]) {
    slow.resume();
    await slow.waitForEnd();
    expect(slow.endedWith).toBe("end");
    expect(slow.messageIds.length).toBeLessThan(seqs.length);
    expect(slow.messageIds).toEqual(seqs.slice(0, slow.messageIds.length));
  }

  it("is cut after write_timeout while a fast client on the same source receives everything", async () => {
    const fast = await stream("/events/flood", "timeout");
    const slow = await stream("/events/flood", "timeout");
    await Promise.all([fast.waitForEvents(1), slow.waitForEvents(1)]);
    slow.pause();
    logged.length = 0;

    const seqs = await flood("flood");
    await fast.waitForMessages(COUNT);
    expect(fast.messageIds).toEqual(seqs);
    await eventually(() => sidecar.clients.count("timeout") === 1, "the slow client to be cut");
    expect(logged.filter((entry) => entry.message === "subscriber cut")).toMatchObject([
      { fields: { route: "timeout", reason: "write_timeout" } },
    ]);
    expect(fast.ended).toBe(false);
    await expectCutShort(slow, seqs);
  });

  it("is cut once more than max_buffered_bytes are queued for it", async () => {
    const fast = await stream("/events/flood2", "bounded");
    const slow = await stream("/events/flood2", "bounded");
    await Promise.all([fast.waitForEvents(1), slow.waitForEvents(1)]);
    slow.pause();
    logged.length = 0;

    const seqs = await flood("flood2");
    await fast.waitForMessages(COUNT);
    expect(fast.messageIds).toEqual(seqs);
    await eventually(() => sidecar.clients.count("bounded") === 1, "the slow client to be cut");
    expect(logged.filter((entry) => entry.message === "subscriber cut")).toMatchObject([
      { fields: { route: "bounded", reason: "slow_client" } },
    ]);
    await expectCutShort(slow, seqs);
  });
});

describe("a client that leaves", () => {
  it("leaves no subscriber, topic entry, client entry or heartbeat ticker behind", async () => {
    const client = await stream("/events?topic=left-a&topic=left-b");
    await client.waitForEvents(1);
    expect(leftovers()).toEqual({ subscribers: 1, topics: 2, clients: 1, tickers: 1 });
    client.abort();
    await nothingLeft();
    // A message for its topics finds nobody to write to and breaks nothing.
    await js.publish("events.left-a", "anyone?");
    const next = await stream("/events/left-a");
    await next.waitForEvents(1);
    expect(leftovers()).toEqual({ subscribers: 1, topics: 1, clients: 1, tickers: 1 });
  });

  it("in the middle of a replay deletes its replay consumer", async () => {
    const before = (await jsm.streams.info("EVENTS")).state.last_seq;
    const payload = "y".repeat(64 * 1024);
    for (let index = 0; index < 100; index++) await js.publish("events.bulk", payload);
    await eventually(() => theSource().head >= before + 100, "the sidecar to see the bulk");

    const client = await stream(`/events/bulk?last-id=${before}`);
    client.pause();
    await eventually(
      async () => (await harness.consumerCount()) === 2,
      "a replay consumer beside the live one",
    );
    await eventually(() => sidecar.clients.count() === 1, "the client to be registered");
    client.abort();
    await eventually(
      async () => (await harness.consumerCount()) === 1,
      "the replay consumer to be deleted",
    );
    await nothingLeft();
    expect(client.messageIds.length).toBeLessThan(100);
  });
});

describe("stop()", () => {
  it("ends every open stream cleanly and stops listening", async () => {
    const own = await harness.startSidecar(
      {
        routes: {
          only: { nats_url: harness.nats.url, stream_name: "EVENTS", topic_prefix: "events." },
        },
      },
      recordingLogger(logged),
    );
    const clients = await Promise.all([stream("/a", "only", own), stream("/b", "only", own)]);
    await Promise.all(clients.map((client) => client.waitForEvents(1)));
    const seq = (await js.publish("events.a", "last words")).seq;
    await clients[0]?.waitForMessages(1);

    await own.stop();
    await Promise.all(clients.map((client) => client.waitForEnd()));
    expect(clients.map((client) => client.endedWith)).toEqual(["end", "end"]);
    expect(clients[0]?.messageIds).toEqual([seq]);
    expect(clients[1]?.events.map((event) => event.event)).toEqual(["connected"]);
    expect(own.clients.count()).toBe(0);
    await expect(openSse({ port: own.port, path: "/a" })).rejects.toMatchObject({
      code: "ECONNREFUSED",
    });
  });
});
