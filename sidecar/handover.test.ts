/**
 * The hand-over from catch-up to live delivery under a steady publish rate, against a real
 * nats-server: clients connect mid-stream with cursors inside the ring, older than the ring and
 * none at all, and each must receive exactly the matching messages after its cursor, each
 * once, in order: no gap, no duplicate.
 */
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  type Harness,
  sourcesAvailable,
  startHarness,
  type TestSidecar,
} from "../testing/sidecar-harness.js";
import { eventually, openSse, type SseClient } from "../testing/sse-client.js";

const RATE_PER_SECOND = 200;
const DURATION_MS = 3_000;
const RING_SIZE = 16;

let harness: Harness;
let js: JetStreamClient;
let jsm: JetStreamManager;
let sidecar: TestSidecar;
const open: SseClient[] = [];

beforeAll(async () => {
  harness = await startHarness();
  ({ js, jsm } = harness);
  // Some history before the sidecar starts: the oldest cursors reach back into it.
  for (let index = 0; index < 50; index++)
    await js.publish(index % 2 === 0 ? "events.tick" : "events.noise", `old ${index}`);
  sidecar = await harness.startSidecar({
    routes: {
      events: {
        nats_url: harness.nats.url,
        stream_name: "EVENTS",
        topic_prefix: "events.",
        ring_size: RING_SIZE,
        heartbeat_interval: 0,
      },
    },
  });
  await sourcesAvailable(sidecar, "the live consumer to start");
});

afterAll(async () => {
  for (const client of open) client.abort();
  await harness?.stop();
});

interface Watcher {
  label: string;
  topics: string[];
  client: SseClient;
}

it("hands every client over from catch-up to live with consecutive ids while messages keep coming", async () => {
  const seqsByTopic = new Map<string, number[]>([
    ["tick", []],
    ["noise", []],
  ]);
  for (let seq = 1; seq <= 50; seq++) seqsByTopic.get(seq % 2 === 1 ? "tick" : "noise")?.push(seq);
  let lastAcked = 50;
  let publishing = true;

  const publisher = (async () => {
    const started = Date.now();
    const total = (RATE_PER_SECOND * DURATION_MS) / 1000;
    for (let index = 0; index < total; index++) {
      const due = started + (index * 1000) / RATE_PER_SECOND;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      const topic = index % 3 === 2 ? "noise" : "tick";
      const seq = (await js.publish(`events.${topic}`, `{"index":${index}}`)).seq;
      seqsByTopic.get(topic)?.push(seq);
      lastAcked = seq;
    }
    publishing = false;
  })();

  const watchers: Watcher[] = [];
  const watch = async (
    label: string,
    topics: string[],
    cursor: { query?: number; header?: number },
  ) => {
    const query = topics.map((topic) => `topic=${topic}`);
    if (cursor.query !== undefined) query.push(`last-id=${cursor.query}`);
    const client = await openSse({
      port: sidecar.port,
      path: `/?${query.join("&")}`,
      headers: cursor.header === undefined ? {} : { "Last-Event-ID": String(cursor.header) },
    });
    open.push(client);
    watchers.push({ label, topics, client });
  };
  const at = async (ms: number) => {
    await eventually(
      () => lastAcked >= 50 + (RATE_PER_SECOND * ms) / 1000,
      `${ms} ms of publishing`,
    );
  };

  await at(400);
  await watch("inside the ring", ["tick"], { query: lastAcked - 4 });
  await watch("inside the ring, both topics", ["tick", "noise"], { header: lastAcked - 8 });
  await at(800);
  await watch("just older than the ring", ["tick"], { query: lastAcked - RING_SIZE - 6 });
  await watch("far older than the ring", ["tick", "noise"], { query: lastAcked - 150 });
  await at(1200);
  await watch("from before the sidecar started", ["tick"], { query: 10 });
  await watch("from the beginning, by header", ["noise", "tick"], { header: 0 });
  await watch("without a cursor", ["tick"], {});
  await at(1800);
  await watch("inside the ring, late", ["tick"], { query: lastAcked - 2 });
  await watch("older than the ring, late", ["noise"], { query: lastAcked - 300 });
  await watch("without a cursor, late", ["tick", "noise"], {});
  expect(publishing).toBe(true);
  await publisher;

  for (const { label, topics, client } of watchers) {
    await client.waitForEvents(1);
    const connected = client.events[0];
    expect(connected?.event, label).toBe("connected");
    const cursor = Number(connected?.id);
    const expected = topics
      .flatMap((topic) => seqsByTopic.get(topic) ?? [])
      .filter((seq) => seq > cursor)
      .sort((a, b) => a - b);
    expect(expected.length, label).toBeGreaterThan(0);
    const last = expected[expected.length - 1] as number;
    await client.waitFor(
      () => client.messageIds.includes(last) || client.messageIds.some((id) => id > last),
      `${label}: seq ${last}`,
    );
    expect(client.messageIds, label).toEqual(expected);
  }
  await eventually(
    async () => (await jsm.consumers.list("EVENTS").next()).length === 1,
    "only the live consumer to remain",
  );
});
