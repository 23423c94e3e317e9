/**
 * NATS going away, against a real nats-server: a restart during a stream (file storage keeps
 * the messages) leaves open streams open and they continue without gap or duplicate; a
 * sidecar that cannot reach NATS refuses requests with nats_unavailable.
 */
import { createServer } from "node:net";
import type { JetStreamClient } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NatsServer } from "../testing/nats-server.js";
import {
  type Harness,
  sourcesAvailable,
  startHarness,
  startTestSidecar,
  type TestSidecar,
} from "../testing/sidecar-harness.js";
import { fetchAll, openSse, type SseClient } from "../testing/sse-client.js";

let harness: Harness;
let nats: NatsServer;
let js: JetStreamClient;
let sidecar: TestSidecar;
const open: SseClient[] = [];

/**
 * Publishes once, whatever the server is doing: a publish that fails while the server is down
 * is sent again with the same message id, and JetStream's de-duplication keeps one copy.
 */
async function publishSurely(subject: string, payload: string, msgID: string): Promise<number> {
  for (;;) {
    try {
      return (await js.publish(subject, payload, { msgID, timeout: 1_000 })).seq;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

beforeAll(async () => {
  harness = await startHarness({ connect: { reconnectTimeWait: 100, maxReconnectAttempts: -1 } });
  ({ nats, js } = harness);
  sidecar = await harness.startSidecar({
    routes: {
      events: {
        nats_url: nats.url,
        stream_name: "EVENTS",
        topic_prefix: "events.",
        reconnect_wait: 0.1,
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

describe("a nats-server restart during a stream", () => {
  it("keeps the stream open and delivers what was published before, during and after it, in order, once", async () => {
    const client = await openSse({ port: sidecar.port, path: "/r" });
    open.push(client);
    await client.waitForEvents(1);
    const seqs: number[] = [];

    for (let index = 0; index < 5; index++)
      seqs.push(await publishSurely("events.r", `before ${index}`, `before-${index}`));
    await client.waitForMessages(5);

    const restarting = nats.restart();
    const during = (async () => {
      for (let index = 0; index < 5; index++)
        seqs.push(await publishSurely("events.r", `during ${index}`, `during-${index}`));
    })();
    await Promise.all([restarting, during]);
    for (let index = 0; index < 5; index++)
      seqs.push(await publishSurely("events.r", `after ${index}`, `after-${index}`));

    expect(seqs).toEqual([...new Set(seqs)].sort((a, b) => a - b));
    expect(seqs).toHaveLength(15);
    // Once NATS is back, the sidecar's live consumer must pick up at once: a healthy sidecar
    // delivers within milliseconds of the publish.
    await client.waitForMessages(15, 10_000);
    expect(client.messageIds).toEqual(seqs);
    expect(client.messages.map((message) => JSON.parse(message.data ?? "").payload)).toEqual([
      ...[0, 1, 2, 3, 4].map((index) => `before ${index}`),
      ...[0, 1, 2, 3, 4].map((index) => `during ${index}`),
      ...[0, 1, 2, 3, 4].map((index) => `after ${index}`),
    ]);
    expect(client.ended).toBe(false);
    expect(client.events.filter((event) => event.event === "connected")).toHaveLength(1);

    // New clients are served again too.
    const later = await openSse({ port: sidecar.port, path: "/r" });
    open.push(later);
    expect(later.status).toBe(200);
    await later.waitForEvents(1);
    expect(later.events[0]?.id).toBe(String(seqs[seqs.length - 1]));
  });
});

describe("a sidecar that cannot reach NATS", () => {
  let unreachable: TestSidecar;

  beforeAll(async () => {
    // A port nobody listens on.
    const probe = createServer();
    const deadPort = await new Promise<number>((resolve) =>
      probe.listen(0, "127.0.0.1", () => {
        const address = probe.address();
        probe.close(() => resolve(typeof address === "object" && address ? address.port : 0));
      }),
    );
    unreachable = await startTestSidecar({
      routes: {
        events: {
          nats_url: `nats://127.0.0.1:${deadPort}`,
          stream_name: "EVENTS",
          reconnect_wait: 0.1,
        },
      },
    });
  });

  afterAll(() => unreachable?.stop());

  it("refuses an EventSource with an unavailable event and everyone else with 503", async () => {
    const body =
      '{"error":"nats_unavailable","message":"NATS is not reachable right now; retry shortly"}';
    const [eventSource, other] = await Promise.all([
      fetchAll({ port: unreachable.port, path: "/a", headers: { Accept: "text/event-stream" } }),
      fetchAll({ port: unreachable.port, path: "/a" }),
    ]);
    expect(eventSource.status).toBe(200);
    expect(eventSource.headers["content-type"]).toBe("text/event-stream");
    expect(eventSource.body).toBe(`event: unavailable\nretry: 1000\ndata: ${body}\n\n`);
    expect(other.status).toBe(503);
    expect(other.headers["retry-after"]).toBe("1");
    expect(other.body).toBe(body);
    expect(unreachable.clients.count()).toBe(0);
  });
});
