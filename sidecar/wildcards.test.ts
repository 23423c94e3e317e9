/**
 * Wildcard topics against a real nats-server. With subscriber authorization on, a client may
 * ask for NATS-style patterns its token covers (`orders.*` is one more token, `orders.>` one
 * or more); live delivery, ring catch-up and replay from NATS (cursor older than the ring)
 * all deliver exactly the matching messages, once each and in stream order, also when
 * patterns overlap. Without authorization, wildcards are a 400.
 */
import type { JetStreamClient } from "@nats-io/jetstream";
import { SignJWT } from "jose";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { PublishedLog } from "../testing/published-log.js";
import { type Harness, startHarness, type TestSidecar } from "../testing/sidecar-harness.js";
import { eventually, fetchAll, openSse, type SseClient } from "../testing/sse-client.js";

const SECRET = "wildcards-test-hmac-secret-32-bytes-long";
const RING_SIZE = 16;
/** Published round-robin before the sidecar starts, so early cursors need a replay consumer. */
const TOPICS = [
  "orders",
  "orders.a",
  "orders.b",
  "orders.a.b",
  "invoices.a",
  "a.b",
  "a.c",
  "c.b",
  "c.c",
  "a.b.c",
];
const BEFORE_START = 100;

let harness: Harness;
let js: JetStreamClient;
let sidecar: TestSidecar;
let port: number;
let token: string;
const open: SseClient[] = [];
/** Stream sequence of every message published, by topic. */
const published = new PublishedLog(() => js);

function publish(topic: string): Promise<number> {
  return published.publish(topic, `{"topic":"${topic}"}`);
}

function expectedAfter(cursor: number, ...topics: string[]): number[] {
  return published.after(cursor, ...topics);
}

/** A reference matcher of the test's own: `*` is one token, a final `>` one or more. */
function referenceMatches(pattern: string, topic: string): boolean {
  const tokens = pattern
    .split(".")
    .map((token) => (token === "*" ? "[^.]+" : token === ">" ? ".+" : token));
  return new RegExp(`^${tokens.join("\\.")}$`).test(topic);
}

/** The sequences published after `cursor` to topics any of `patterns` match, in stream order. */
function matchingAfter(cursor: number, ...patterns: string[]): number[] {
  const topics = published.topics.filter((topic) =>
    patterns.some((pattern) => referenceMatches(pattern, topic)),
  );
  return expectedAfter(cursor, ...topics);
}

/** The topic of each message a client received, from its `data`. */
function topicsOf(client: SseClient): string[] {
  return client.messages.map((message) => JSON.parse(message.data ?? "{}").topic);
}

function topicOfSeq(seq: number): string {
  return published.topicOf(seq);
}

async function stream(query: string, route = "auth"): Promise<SseClient> {
  const client = await openSse({
    port,
    path: `/events?${query}`,
    headers: { "X-Nuts-Route": route, Authorization: `Bearer ${token}` },
  });
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

/**
 * Publishes `marker` and waits until every client has it: whatever was published before it
 * has then been delivered (or not) for good.
 */
async function settle(clients: SseClient[], marker = "orders.zz"): Promise<number> {
  const seq = await publish(marker);
  await Promise.all(
    clients.map((client) =>
      client.waitFor(() => client.messageIds.includes(seq), `the marker ${seq}`),
    ),
  );
  return seq;
}

beforeAll(async () => {
  harness = await startHarness();
  ({ js } = harness);
  for (let index = 0; index < BEFORE_START; index++) {
    await publish(TOPICS[index % TOPICS.length] as string);
  }
  token = await new SignJWT({ subscribe: [">"] })
    .setProtectedHeader({ alg: "HS256" })
    .setExpirationTime("10m")
    .sign(new TextEncoder().encode(SECRET));
  const base = {
    nats_url: harness.nats.url,
    stream_name: "EVENTS",
    topic_prefix: "events.",
    path_prefix: "/events",
    ring_size: RING_SIZE,
    heartbeat_interval: 0,
  };
  sidecar = await harness.startSidecar({
    routes: { auth: { ...base, subscriber_jwt_key: SECRET }, open: base },
  });
  port = sidecar.port;
  await sidecarCaughtUp();
});

afterEach(() => {
  for (const client of open.splice(0)) client.abort();
});

afterAll(() => harness?.stop());

describe("without subscriber authorization", () => {
  it.for([
    ["/events?topic=orders.*", "orders.*"],
    ["/events?topic=orders.%3E", "orders.>"],
    ["/events?topic=%3E", ">"],
    ["/events?topic=orders&topic=*", "*"],
    ["/events/orders/*", "orders.*"],
  ])("refuses %s with a 400", async ([path, topic], { expect }) => {
    const result = await fetchAll({
      port,
      path: path as string,
      headers: { "X-Nuts-Route": "open", Authorization: `Bearer ${token}` },
    });
    expect(result.status).toBe(400);
    expect(result.body).toBe(
      JSON.stringify({
        error: "invalid_topic",
        message: `topic ${JSON.stringify(topic)} may not contain the wildcards * or > (they need subscriber authorization)`,
      }),
    );
  });
});

describe("with subscriber authorization", () => {
  it("refuses a misplaced wildcard with a 400 that says how to use them", async () => {
    const result = await fetchAll({
      port,
      path: "/events?topic=orders.%3E.a",
      headers: { "X-Nuts-Route": "auth", Authorization: `Bearer ${token}` },
    });
    expect(result.status).toBe(400);
    expect(result.body).toBe(
      JSON.stringify({
        error: "invalid_topic",
        message:
          'topic "orders.>.a" uses * or > wrongly: * stands alone for one part, > only as the last part',
      }),
    );
  });

  it("delivers live: orders.* gets orders.a and orders.b, orders.> also orders.a.b", async () => {
    const star = await stream("topic=orders.*");
    const rest = await stream("topic=orders.%3E");
    await Promise.all([star.waitForEvents(1), rest.waitForEvents(1)]);
    expect(star.events[0]?.raw).toBe(
      `id: ${BEFORE_START}\nevent: connected\ndata: {"topics":["orders.*"]}\n\n`,
    );
    expect(rest.events[0]?.raw).toBe(
      `id: ${BEFORE_START}\nevent: connected\ndata: {"topics":["orders.>"]}\n\n`,
    );
    const a = await publish("orders.a");
    const b = await publish("orders.b");
    const ab = await publish("orders.a.b");
    await publish("orders");
    await publish("invoices.a");
    await publish("ordersx.a");
    const marker = await settle([star, rest]);

    expect(star.messageIds).toEqual([a, b, marker]);
    expect(topicsOf(star)).toEqual(["orders.a", "orders.b", "orders.zz"]);
    expect(rest.messageIds).toEqual([a, b, ab, marker]);
    expect(topicsOf(rest)).toEqual(["orders.a", "orders.b", "orders.a.b", "orders.zz"]);
    // The frame names the message's own topic, not the pattern; both clients get the same bytes.
    expect(star.messages[0]?.raw).toMatch(
      new RegExp(
        `^id: ${a}\\nevent: message\\ndata: \\{"topic":"orders\\.a","payload":\\{"topic":"orders\\.a"\\},"time":"[^"]+"\\}\\n\\n$`,
      ),
    );
    expect(rest.messages[0]?.raw).toBe(star.messages[0]?.raw);
  });

  it("delivers a message that a literal and a pattern both match once", async () => {
    const client = await stream("topic=orders.a&topic=orders.*&topic=invoices.a");
    await client.waitForEvents(1);
    const a = await publish("orders.a");
    const invoice = await publish("invoices.a");
    const b = await publish("orders.b");
    const marker = await settle([client]);
    expect(client.messageIds).toEqual([a, invoice, b, marker]);
  });

  it("delivers overlapping patterns a.* and *.b live, each message once", async () => {
    const client = await stream("topic=a.*&topic=*.b");
    await client.waitForEvents(1);
    const seqs = [];
    for (const topic of ["a.b", "a.c", "c.b", "c.c", "a.b.c"]) seqs.push(await publish(topic));
    const marker = await publish("a.zz");
    await client.waitFor(() => client.messageIds.includes(marker), "the marker");
    expect(client.messageIds).toEqual([seqs[0], seqs[1], seqs[2], marker]);
  });
});

describe("replay of wildcard topics", () => {
  it.for([
    ["orders.*", "orders.a", true],
    ["orders.*", "orders", false],
    ["orders.*", "orders.a.b", false],
    ["orders.*", "ordersx.a", false],
    ["orders.>", "orders.a.b", true],
    ["orders.>", "orders", false],
    ["*.b", "orders.b", true],
    ["*.b", "a.b.c", false],
    [">", "a", true],
  ] as const)("(the test's reference matcher: %s on %s is %s)", ([pattern, topic, matches]) => {
    expect(referenceMatches(pattern, topic)).toBe(matches);
  });

  it.for(["orders.*", "orders.>", ">"])(
    "replays %s from NATS (cursor older than the ring) with exact ids, then goes live",
    async (pattern, { expect }) => {
      await sidecarCaughtUp();
      const cursor = 3;
      const expected = matchingAfter(cursor, pattern);
      expect(expected.length).toBeGreaterThan(RING_SIZE);
      const client = await stream(`topic=${encodeURIComponent(pattern)}&last-id=${cursor}`);
      await client.waitForMessages(expected.length);
      expect(client.events[0]?.raw).toBe(
        `id: ${cursor}\nevent: connected\ndata: {"topics":[${JSON.stringify(pattern)}]}\n\n`,
      );
      expect(client.messageIds).toEqual(expected);
      expect(topicsOf(client)).toEqual(expected.map(topicOfSeq));

      const live = await publish("orders.a");
      const marker = await settle([client]);
      expect(client.messageIds).toEqual([...expected, live, marker]);
      await eventually(
        async () => (await harness.consumerCount()) === 1,
        "the replay consumer to go",
      );
    },
  );

  it("replays overlapping patterns a.* and *.b in stream order, each message once", async () => {
    await sidecarCaughtUp();
    const cursor = 5;
    const expected = matchingAfter(cursor, "a.*", "*.b");
    expect(expected.length).toBeGreaterThan(RING_SIZE);
    const client = await stream(`topic=a.*&topic=*.b&last-id=${cursor}`);
    await client.waitForMessages(expected.length);
    const marker = await publish("c.b");
    await client.waitFor(() => client.messageIds.includes(marker), "the marker");
    expect(client.messageIds).toEqual([...expected, marker]);
    await eventually(
      async () => (await harness.consumerCount()) === 1,
      "the replay consumer to go",
    );
  });

  it("replays a pattern together with the literals it covers, each message once", async () => {
    await sidecarCaughtUp();
    const cursor = 0;
    const expected = matchingAfter(cursor, "orders.>", "invoices.a");
    const client = await stream(
      `topic=orders.a&topic=orders.%3E&topic=orders.*&topic=invoices.a&last-id=${cursor}`,
    );
    await client.waitForMessages(expected.length);
    const marker = await settle([client]);
    expect(client.messageIds).toEqual([...expected, marker]);
  });

  it("serves a recent cursor of a pattern from the ring with exact ids", async () => {
    await sidecarCaughtUp();
    for (const topic of ["orders.a", "c.c", "orders.a.b", "orders.b", "orders"]) {
      await publish(topic);
    }
    await sidecarCaughtUp();
    const last = source().head;
    const cursor = last - 4;
    const expected = matchingAfter(cursor, "orders.*");
    expect(expected).toHaveLength(1);
    const client = await stream(`topic=orders.*&last-id=${cursor}`);
    const marker = await settle([client]);
    expect(client.messageIds).toEqual([...expected, marker]);
  });
});
