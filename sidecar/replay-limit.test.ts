/**
 * `replay_max_messages` against a real nats-server: a client whose cursor is older than the
 * ring gets at most N messages from its replay consumer, then its stream ends cleanly; when it
 * reconnects with its last id it continues, and after a few reconnects it has had every
 * message exactly once, in order, and is live. Catch-up from the ring is not capped.
 */
import type { JetStreamClient } from "@nats-io/jetstream";
import { SignJWT } from "jose";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { PublishedLog } from "../testing/published-log.js";
import { type LoggedLine, recordingLogger } from "../testing/recording-logger.js";
import { type Harness, startHarness, type TestSidecar } from "../testing/sidecar-harness.js";
import { eventually, openSse, type SseClient } from "../testing/sse-client.js";
import { ConfigError, resolveConfig } from "./config.js";

const LIMIT = 10;
const SECRET = "replay-limit-test-hmac-secret-32-bytes!";
const RING_SIZE = 16;

let harness: Harness;
let js: JetStreamClient;
let sidecar: TestSidecar;
let port: number;
const open: SseClient[] = [];
const published = new PublishedLog(() => js);
const logged: LoggedLine[] = [];

function publish(topic: string): Promise<number> {
  return published.publish(topic, `${topic} ${published.topics.length}`);
}

function seqsOf(...topics: string[]): number[] {
  return published.after(0, ...topics);
}

async function stream(path: string, headers: Record<string, string> = {}): Promise<SseClient> {
  const client = await openSse({ port, path, headers: { "X-Nuts-Route": "events", ...headers } });
  open.push(client);
  expect(client.status).toBe(200);
  return client;
}

function source() {
  const [only] = sidecar.hub.allSources();
  if (!only) throw new Error("no source");
  return only;
}

function sidecarCaughtUp(): Promise<number> {
  return harness.caughtUp(source());
}

beforeAll(async () => {
  harness = await startHarness();
  ({ js } = harness);
  // 25 messages of "a" between 25 of "b", all before the sidecar starts: any cursor below 50
  // needs a replay consumer.
  for (let index = 0; index < 50; index++) await publish(index % 2 === 0 ? "a" : "b");
  const events = {
    nats_url: harness.nats.url,
    stream_name: "EVENTS",
    topic_prefix: "events.",
    path_prefix: "/events",
    ring_size: RING_SIZE,
    heartbeat_interval: 0,
    replay_max_messages: LIMIT,
  };
  sidecar = await harness.startSidecar(
    // The same source twice, the second with wildcard topics allowed.
    { routes: { events, patterns: { ...events, subscriber_jwt_key: SECRET } } },
    recordingLogger(logged),
  );
  port = sidecar.port;
  await sidecarCaughtUp();
});

afterEach(() => {
  for (const client of open.splice(0)) client.abort();
});

afterAll(() => harness?.stop());

describe("replay_max_messages", () => {
  it("ends the stream cleanly after N replayed messages of the client's topic", async () => {
    const a = seqsOf("a");
    const client = await stream("/events/a?last-id=0");
    await client.waitForEnd();
    expect(client.endedWith).toBe("end");
    expect(client.events[0]?.raw).toBe('id: 0\nevent: connected\ndata: {"topics":["a"]}\n\n');
    expect(client.messageIds).toEqual(a.slice(0, LIMIT));
    expect(client.events).toHaveLength(1 + LIMIT);
    expect(logged).toContainEqual({
      message: "subscriber stream ended",
      fields: { route: "events", reason: "replay_limit", position: a[LIMIT - 1] },
    });
    await eventually(
      async () => (await harness.consumerCount()) === 1,
      "the replay consumer to go",
    );
  });

  it("continues where the client left off; after a few reconnects it has everything once, in order, and is live", async () => {
    const a = seqsOf("a");
    expect(a).toHaveLength(25);
    const received: number[] = [];
    let lastId = "0";
    const rounds: number[] = [];
    for (let round = 0; round < 5; round++) {
      const client = await stream("/events/a", { "Last-Event-ID": lastId });
      // A round ends with the stream closing (cap reached) or with the client caught up.
      await client.waitFor(
        () => client.ended || received.length + client.messageIds.length === a.length,
        "the round to end or catch up",
      );
      expect(client.events[0]?.raw).toBe(
        `id: ${lastId}\nevent: connected\ndata: {"topics":["a"]}\n\n`,
      );
      received.push(...client.messageIds);
      rounds.push(client.messageIds.length);
      lastId = client.messages.at(-1)?.id ?? lastId;
      if (!client.ended) {
        const live = await publish("a");
        await client.waitFor(() => client.messageIds.includes(live), "the live message");
        received.push(live);
        break;
      }
    }
    expect(rounds).toEqual([LIMIT, LIMIT, 5]);
    expect(received).toEqual(seqsOf("a"));
  });

  it("caps replays of several topics by the messages they read", async () => {
    const client = await stream("/events?topic=a&topic=b&last-id=4");
    await client.waitForEnd();
    expect(client.endedWith).toBe("end");
    expect(client.messageIds).toEqual([5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
  });

  it("does not end a replay that needs exactly N messages", async () => {
    await sidecarCaughtUp();
    const a = seqsOf("a");
    const cursor = a.at(-LIMIT - 1) as number;
    const client = await stream(`/events/a?last-id=${cursor}`);
    await client.waitForMessages(LIMIT);
    expect(client.messageIds).toEqual(a.slice(-LIMIT));
    const live = await publish("a");
    await client.waitFor(() => client.messageIds.includes(live), "the live message");
    expect(client.ended).toBe(false);
    expect(client.messageIds).toEqual([...a.slice(-LIMIT), live]);
  });

  it("does not cap catch-up from the ring", async () => {
    const cursor = await sidecarCaughtUp();
    for (let index = 0; index < LIMIT + 4; index++) await publish("b");
    await sidecarCaughtUp();
    const client = await stream(`/events/b?last-id=${cursor}`);
    const expected = seqsOf("b").filter((seq) => seq > cursor);
    expect(expected).toHaveLength(LIMIT + 4);
    await client.waitForMessages(expected.length);
    const live = await publish("b");
    await client.waitFor(() => client.messageIds.includes(live), "the live message");
    expect(client.ended).toBe(false);
    expect(client.messageIds).toEqual([...expected, live]);
  });
});

describe("replay_max_messages with overlapping patterns", () => {
  // The cap counts delivered messages, so a capped replay always makes progress, even when
  // overlapping patterns make it read messages of other topics.
  it("still makes progress when the first N messages read match none of the client's topics", async () => {
    await sidecarCaughtUp();
    const wanted = await publish("a.x");
    const token = await new SignJWT({ subscribe: [">"] })
      .setProtectedHeader({ alg: "HS256" })
      .setExpirationTime("5m")
      .sign(new TextEncoder().encode(SECRET));
    let lastId = "0";
    const received: number[] = [];
    for (let round = 0; round < 3 && !received.includes(wanted); round++) {
      const client = await stream("/events?topic=a.*&topic=*.b", {
        "X-Nuts-Route": "patterns",
        Authorization: `Bearer ${token}`,
        "Last-Event-ID": lastId,
      });
      await client.waitFor(
        () => client.ended || client.messageIds.includes(wanted),
        "the round to end or reach the message",
      );
      received.push(...client.messageIds);
      lastId = client.events.at(-1)?.id ?? lastId;
      client.abort();
    }
    expect(received).toEqual([wanted]);
  });
});

describe("configuration of replay_max_messages", () => {
  it("takes a whole number from 1, or null for no cap (the default)", () => {
    const routes = resolveConfig({
      routes: {
        one: { stream_name: "E", replay_max_messages: 1 },
        off: { stream_name: "E", replay_max_messages: null },
        unset: { stream_name: "E" },
      },
    }).routes;
    expect(routes.get("one")?.replayMaxMessages).toBe(1);
    expect(routes.get("off")?.replayMaxMessages).toBeNull();
    expect(routes.get("unset")?.replayMaxMessages).toBeNull();
  });

  it("refuses 0 with a ConfigError", () => {
    let caught: unknown;
    try {
      resolveConfig({ routes: { r: { stream_name: "E", replay_max_messages: 0 } } });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).message).toBe(
      'route "r": replay_max_messages takes a whole number from 1 to 100000000, got 0',
    );
  });
});
