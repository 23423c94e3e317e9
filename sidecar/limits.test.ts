/**
 * Connection limits against a real nats-server: `max_connections` (per route, per sidecar) is
 * a 503 and `max_connections_per_ip` (the last X-Forwarded-For entry, else the socket's
 * address) a 429, both with Retry-After; an EventSource gets a 200 stream with `retry:` and one
 * `unavailable` event instead. A slot is given back when its stream ends, whoever ends it.
 */

import { request } from "node:http";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { startNatsServer } from "../testing/nats-server.js";
import {
  EVENTS_STREAM,
  type Harness,
  startHarness,
  startTestSidecar,
  type TestSidecar,
} from "../testing/sidecar-harness.js";
import {
  eventually,
  fetchAll,
  type HttpResult,
  openSse,
  type SseClient,
} from "../testing/sse-client.js";
import { ConfigError, type RouteOptions, resolveConfig } from "./config.js";

const ROUTE_FULL =
  '{"error":"too_many_connections","message":"the server is at its connection limit; retry shortly"}';
const ADDRESS_FULL =
  '{"error":"too_many_connections","message":"too many connections from your address; close some first"}';

let harness: Harness;
let sidecar: TestSidecar;
let port: number;
const open: SseClient[] = [];

/** Opens a stream and waits for its `connected` event. */
async function connectStream(
  route: string,
  headers: Record<string, string> = {},
  path = "/limits",
): Promise<SseClient> {
  const client = await openSse({ port, path, headers: { "X-Nuts-Route": route, ...headers } });
  open.push(client);
  expect(client.status).toBe(200);
  await client.waitForEvents(1);
  expect(client.events[0]?.event).toBe("connected");
  return client;
}

function refused(route: string, headers: Record<string, string> = {}): Promise<HttpResult> {
  return fetchAll({ port, path: "/limits", headers: { "X-Nuts-Route": route, ...headers } });
}

async function leave(client: SseClient, route: string, remaining: number): Promise<void> {
  client.abort();
  await eventually(
    () => sidecar.clients.count(route) === remaining,
    `${route} to have ${remaining} clients`,
  );
}

function expectRouteFull(result: HttpResult): void {
  expect(result.status).toBe(503);
  expect(result.headers["retry-after"]).toBe("5");
  expect(result.headers["content-type"]).toMatch(/^application\/json/);
  expect(result.body).toBe(ROUTE_FULL);
}

function expectAddressFull(result: HttpResult): void {
  expect(result.status).toBe(429);
  expect(result.headers["retry-after"]).toBe("5");
  expect(result.body).toBe(ADDRESS_FULL);
}

beforeAll(async () => {
  harness = await startHarness();
  for (let index = 0; index < 20; index++) await harness.js.publish("events.limits", `${index}`);
  const base: RouteOptions = {
    nats_url: harness.nats.url,
    stream_name: "EVENTS",
    topic_prefix: "events.",
    heartbeat_interval: 0,
  };
  sidecar = await harness.startSidecar({
    routes: {
      capped: { ...base, max_connections: 2 },
      "capped-retry": { ...base, max_connections: 1, retry: 3000 },
      "per-ip": { ...base, max_connections_per_ip: 2 },
      "one-replay": { ...base, max_connections: 1, replay_max_messages: 1, ring_size: 16 },
      unlimited: base,
    },
  });
  port = sidecar.port;
  const [source] = sidecar.hub.allSources();
  await eventually(() => source?.isAvailable() === true, "the source to be ready");
});

afterEach(async () => {
  for (const client of open.splice(0)) client.abort();
  await eventually(() => sidecar.clients.count() === 0, "every client to be gone");
  // Every slot was given back: no counter is left behind.
  expect(sidecar.limits.size).toBe(0);
});

afterAll(() => harness?.stop());

describe("max_connections", () => {
  it("refuses the connection over the limit with 503 too_many_connections and Retry-After: 5", async () => {
    await connectStream("capped");
    await connectStream("capped");
    expectRouteFull(await refused("capped"));
    // Refusals take no slot: still full, not fuller.
    expectRouteFull(await refused("capped"));
    expect(sidecar.clients.count("capped")).toBe(2);
  });

  // Without `retry`, the hint is reconnect_wait (2 s by default), at least 1 s.
  it("gives an EventSource a 200 stream with retry: and one unavailable event, then closes", async () => {
    await connectStream("capped");
    await connectStream("capped");
    const result = await refused("capped", { Accept: "text/event-stream" });
    expect(result.status).toBe(200);
    expect(result.headers["content-type"]).toBe("text/event-stream");
    expect(result.headers["retry-after"]).toBeUndefined();
    expect(result.body).toBe(`event: unavailable\nretry: 2000\ndata: ${ROUTE_FULL}\n\n`);
  });

  it("uses the route's retry for the EventSource and Retry-After: 5 otherwise", async () => {
    await connectStream("capped-retry");
    const eventSource = await refused("capped-retry", { Accept: "text/event-stream" });
    expect(eventSource.body).toBe(`event: unavailable\nretry: 3000\ndata: ${ROUTE_FULL}\n\n`);
    expectRouteFull(await refused("capped-retry"));
  });

  it("gives a slot back when a client leaves: open two, close one, the next gets in", async () => {
    const first = await connectStream("capped");
    await connectStream("capped");
    expectRouteFull(await refused("capped"));
    await leave(first, "capped", 1);
    await connectStream("capped");
    expectRouteFull(await refused("capped"));
  });

  it("gives a slot back when the server ends the stream", async () => {
    // replay_max_messages 1: a client from seq 0 gets one message, then its stream ends.
    const client = await openSse({
      port,
      path: "/limits?last-id=0",
      headers: { "X-Nuts-Route": "one-replay" },
    });
    open.push(client);
    expect(client.status).toBe(200);
    await client.waitForEnd();
    expect(client.messageIds).toEqual([1]);
    const next = await connectStream("one-replay");
    expectRouteFull(await refused("one-replay"));
    await leave(next, "one-replay", 0);
  });

  it("counts per route: a full route leaves the others open", async () => {
    await connectStream("capped");
    await connectStream("capped");
    expectRouteFull(await refused("capped"));
    await connectStream("unlimited");
    await connectStream("capped-retry");
  });

  it("counts connections, not addresses: other addresses are refused too", async () => {
    await connectStream("capped", { "X-Forwarded-For": "203.0.113.1" });
    await connectStream("capped", { "X-Forwarded-For": "203.0.113.2" });
    expectRouteFull(await refused("capped", { "X-Forwarded-For": "203.0.113.3" }));
  });
});

describe("max_connections_per_ip", () => {
  it("refuses the third stream from one address with 429 and Retry-After", async () => {
    await connectStream("per-ip", { "X-Forwarded-For": "203.0.113.1" });
    await connectStream("per-ip", { "X-Forwarded-For": "203.0.113.1" });
    expectAddressFull(await refused("per-ip", { "X-Forwarded-For": "203.0.113.1" }));
  });

  it("gives an EventSource a 200 stream with one unavailable event", async () => {
    await connectStream("per-ip", { "X-Forwarded-For": "203.0.113.1" });
    await connectStream("per-ip", { "X-Forwarded-For": "203.0.113.1" });
    const result = await refused("per-ip", {
      "X-Forwarded-For": "203.0.113.1",
      Accept: "text/event-stream",
    });
    expect(result.status).toBe(200);
    expect(result.body).toBe(`event: unavailable\nretry: 2000\ndata: ${ADDRESS_FULL}\n\n`);
  });

  it("counts different last X-Forwarded-For entries separately", async () => {
    await connectStream("per-ip", { "X-Forwarded-For": "203.0.113.1" });
    await connectStream("per-ip", { "X-Forwarded-For": "203.0.113.1" });
    await connectStream("per-ip", { "X-Forwarded-For": "203.0.113.2" });
    await connectStream("per-ip", { "X-Forwarded-For": "198.51.100.7, 203.0.113.2" });
    expectAddressFull(await refused("per-ip", { "X-Forwarded-For": "203.0.113.2" }));
    await connectStream("per-ip", { "X-Forwarded-For": "203.0.113.1, 203.0.113.3" });
  });

  it("is not fooled by a spoofed first entry", async () => {
    await connectStream("per-ip", { "X-Forwarded-For": "203.0.113.1" });
    await connectStream("per-ip", { "X-Forwarded-For": "203.0.113.1" });
    for (const spoofed of [
      "198.51.100.1, 203.0.113.1",
      "10.0.0.1,203.0.113.1",
      " 1.2.3.4 ,  203.0.113.1 ",
    ]) {
      expectAddressFull(await refused("per-ip", { "X-Forwarded-For": spoofed }));
    }
  });

  it("uses the socket's address without X-Forwarded-For", async () => {
    await connectStream("per-ip");
    await connectStream("per-ip");
    expectAddressFull(await refused("per-ip"));
    // 127.0.0.1 is that address: the same count whether said by the socket or the header.
    expectAddressFull(await refused("per-ip", { "X-Forwarded-For": "127.0.0.1" }));
    await connectStream("per-ip", { "X-Forwarded-For": "203.0.113.9" });
  });

  it("gives the address's slot back when a client leaves", async () => {
    const first = await connectStream("per-ip", { "X-Forwarded-For": "203.0.113.1" });
    await connectStream("per-ip", { "X-Forwarded-For": "203.0.113.1" });
    expectAddressFull(await refused("per-ip", { "X-Forwarded-For": "203.0.113.1" }));
    await leave(first, "per-ip", 1);
    await connectStream("per-ip", { "X-Forwarded-For": "203.0.113.1" });
  });

  it("does not limit routes without it", async () => {
    for (let index = 0; index < 4; index++) {
      await connectStream("unlimited", { "X-Forwarded-For": "203.0.113.1" });
    }
    expect(sidecar.clients.count("unlimited")).toBe(4);
  });
});

describe("a client that leaves while its source is still starting", () => {
  // A client that leaves while its request waits for a starting source gives its slot back.
  it("gives its slot back", async () => {
    const paused = await startNatsServer();
    const setup = await connect(paused.connectOptions());
    await (await jetstreamManager(setup)).streams.add(EVENTS_STREAM);
    await setup.close();
    // The sidecar's first connection hangs: its source stays "starting".
    paused.pause();
    const own = await startTestSidecar({
      routes: {
        one: {
          nats_url: paused.url,
          stream_name: "EVENTS",
          topic_prefix: "events.",
          heartbeat_interval: 0,
          max_connections: 1,
        },
      },
    });
    try {
      const [source] = own.hub.allSources();
      if (!source) throw new Error("no source");
      const whenReady = vi.spyOn(source, "whenReady");
      const leaving = request({
        port: own.port,
        host: "127.0.0.1",
        path: "/x",
        agent: false,
      });
      leaving.on("error", () => {});
      leaving.end();
      await eventually(
        () => whenReady.mock.calls.length === 1,
        "the request to wait for the source",
      );
      leaving.destroy();
      paused.resume();
      await eventually(() => source.isAvailable(), "the source to be ready");

      await eventually(
        () => own.clients.count() === 0 && own.limits.size === 0,
        "nothing to be left of the client",
        2_000,
      );
      const next = await openSse({ port: own.port, path: "/x" });
      open.push(next);
      expect(next.status).toBe(200);
    } finally {
      await own.stop();
      await paused.stop();
    }
  });
});

describe("configuration of limits", () => {
  const base = { stream_name: "EVENTS" };
  const configError = (options: RouteOptions): ConfigError => {
    try {
      resolveConfig({ routes: { r: { ...base, ...options } } });
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return error as ConfigError;
    }
    throw new Error("expected a ConfigError");
  };

  it.each<[RouteOptions, string]>([
    [
      { max_connections: 0 },
      'route "r": max_connections takes a whole number from 1 to 10000000, got 0',
    ],
    [
      { max_connections: 2.5 },
      'route "r": max_connections takes a whole number from 1 to 10000000, got 2.5',
    ],
    [
      { max_connections_per_ip: "10" as unknown as number },
      'route "r": max_connections_per_ip takes a whole number from 1 to 10000000, got "10"',
    ],
    [
      { max_connections_per_ip: -1 },
      'route "r": max_connections_per_ip takes a whole number from 1 to 10000000, got -1',
    ],
  ])("%j is a ConfigError", (options, message) => {
    expect(configError(options).message).toBe(message);
  });

  it("has no limits by default, and null means none", () => {
    const routes = resolveConfig({
      routes: {
        plain: base,
        off: { ...base, max_connections: null, max_connections_per_ip: null },
        set: { ...base, max_connections: 7, max_connections_per_ip: 3 },
      },
    }).routes;
    for (const name of ["plain", "off"]) {
      expect(routes.get(name)?.maxConnections).toBeNull();
      expect(routes.get(name)?.maxConnectionsPerIp).toBeNull();
    }
    expect(routes.get("set")?.maxConnections).toBe(7);
    expect(routes.get("set")?.maxConnectionsPerIp).toBe(3);
  });
});
