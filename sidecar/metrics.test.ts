/**
 * The admin listener against a real nats-server: health, readiness as streams come and go, and
 * the Prometheus metrics after real traffic, with exact counts.
 */
import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, startHarness } from "../testing/sidecar-harness.js";
import { eventually, fetchAll, openSse, type SseClient } from "../testing/sse-client.js";
import { resolveConfig } from "./config.js";
import { silentLogger } from "./log.js";
import { type RunningSidecar, startSidecar } from "./server.js";

let harness: Harness;
let sidecar: RunningSidecar;
let port: number;
let adminPort: number;
const open: SseClient[] = [];

const NATS_TOKEN = "natsTOKENmetrics71secret";
const HMAC_KEY = "hmacKEYmetrics72secret-0123456789abcdef";

beforeAll(async () => {
  harness = await startHarness({
    server: { auth: { type: "token", token: NATS_TOKEN } },
    connect: { token: NATS_TOKEN },
    streams: [
      { name: "EVENTS", subjects: ["events.>"] },
      { name: "OTHER", subjects: ["other.>"] },
    ],
  });
  const common = { nats_url: harness.nats.url, nats_token: NATS_TOKEN, heartbeat_interval: 0 };
  sidecar = await startSidecar(
    resolveConfig({
      routes: {
        events: {
          ...common,
          stream_name: "EVENTS",
          topic_prefix: "events.",
          max_topics: 2,
          // Small, so that a client resuming from the start is replayed from NATS.
          ring_size: 16,
        },
        other: { ...common, stream_name: "OTHER", topic_prefix: "other.", reconnect_wait: 0.2 },
        secured: {
          ...common,
          stream_name: "EVENTS",
          topic_prefix: "events.",
          subscriber_jwt_key: HMAC_KEY,
        },
      },
    }),
    { type: "tcp", host: "127.0.0.1", port: 0 },
    silentLogger,
    { admin: { type: "tcp", host: "127.0.0.1", port: 0 } },
  );
  if (sidecar.address.type !== "tcp" || sidecar.admin?.address.type !== "tcp") {
    throw new Error("expected TCP listeners");
  }
  port = sidecar.address.port;
  adminPort = sidecar.admin.address.port;
});

afterAll(async () => {
  for (const client of open) client.abort();
  await sidecar?.stop();
  await harness?.stop();
});

function admin(path: string) {
  return fetchAll({ port: adminPort, path });
}

async function subscribe(path: string, headers: Record<string, string> = {}): Promise<SseClient> {
  const client = await openSse({
    port,
    path,
    headers: { "x-nuts-route": "events", ...headers },
  });
  open.push(client);
  return client;
}

/** The value of one sample in the exposition, or undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const wanted = Object.entries(labels)
    .map(([key, value]) => `${key}="${value}"`)
    .sort();
  for (const line of text.split("\n")) {
    const match = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = (match[2] ?? "").split(",").filter(Boolean).sort();
    if (JSON.stringify(have) === JSON.stringify(wanted)) return Number(match[3]);
  }
  return undefined;
}

async function metrics(): Promise<string> {
  const result = await admin("/metrics");
  expect(result.status).toBe(200);
  expect(result.headers["content-type"]).toContain("text/plain");
  return result.body;
}

describe("the admin listener", () => {
  it("answers /livez while the event loop runs", async () => {
    const result = await admin("/livez");
    expect(result.status).toBe(200);
    expect(JSON.parse(result.body)).toEqual({ status: "ok" });
  });

  it("is ready once every route's live consumer runs", async () => {
    await eventually(async () => (await admin("/readyz")).status === 200, "/readyz to be 200");
    expect(JSON.parse((await admin("/readyz")).body)).toEqual({
      status: "ready",
      routes: { events: { ready: true }, other: { ready: true }, secured: { ready: true } },
    });
  });

  it("answers other paths with a 404 and the public listener does not serve its paths", async () => {
    expect((await admin("/events")).status).toBe(404);
    // There, they are subscriptions like any other path: topics "metrics", "readyz", "livez".
    for (const path of ["/metrics", "/readyz", "/livez"]) {
      const client = await subscribe(path);
      const [connected] = await client.waitForEvents(1);
      expect(client.headers["content-type"], path).toBe("text/event-stream");
      expect(connected?.event, path).toBe("connected");
      expect(connected?.data, path).toBe(JSON.stringify({ topics: [path.slice(1)] }));
      client.abort();
    }
  });

  it("counts streams, deliveries, bytes and refusals exactly", async () => {
    const before = await metrics();
    const openedBefore = sample(before, "nuts_streams_opened_total", { route: "events" }) ?? 0;
    const bytesBefore = sample(before, "nuts_bytes_written_total", { route: "events" }) ?? 0;
    const leftBefore =
      sample(before, "nuts_streams_closed_total", { route: "events", reason: "client_left" }) ?? 0;
    const clients = await Promise.all([1, 2, 3].map(() => subscribe("/events?topic=zqtopic")));
    await Promise.all(clients.map((client) => client.waitForEvents(1)));
    for (let n = 0; n < 5; n++) await harness.js.publish("events.zqtopic", JSON.stringify({ n }));
    await Promise.all(clients.map((client) => client.waitForMessages(5)));
    // Refused: a bad topic, too many topics.
    for (const path of ["/events?topic=a%20b", "/events?topic=a&topic=b&topic=c"]) {
      expect((await fetchAll({ port, path, headers: { "x-nuts-route": "events" } })).status).toBe(
        400,
      );
    }
    const after = await metrics();
    expect(sample(after, "nuts_streams_opened_total", { route: "events" })).toBe(openedBefore + 3);
    expect(sample(after, "nuts_streams_open", { route: "events" })).toBe(3);
    expect(sample(after, "nuts_deliveries_total", { route: "events" })).toBe(15);
    const bytes = clients.reduce((sum, client) => sum + client.bytes.byteLength, 0);
    expect(sample(after, "nuts_bytes_written_total", { route: "events" })).toBe(
      bytesBefore + bytes,
    );
    expect(
      sample(after, "nuts_streams_refused_total", { route: "events", reason: "invalid_topic" }),
    ).toBe(1);
    expect(
      sample(after, "nuts_streams_refused_total", { route: "events", reason: "too_many_topics" }),
    ).toBe(1);
    expect(sample(after, "nuts_jetstream_consumers", { route: "events", kind: "live" })).toBe(1);
    expect(sample(after, "nuts_jetstream_consumers", { route: "events", kind: "replay" })).toBe(0);
    expect(sample(after, "nuts_nats_connected", { connection: harness.nats.url })).toBe(1);
    expect(sample(after, "nuts_source_lag_messages", { route: "events" })).toBe(0);
    expect(after).toContain("process_cpu_user_seconds_total");
    expect(after).toContain("nodejs_eventloop_lag_seconds");

    for (const client of clients) client.abort();
    await eventually(
      async () => sample(await metrics(), "nuts_streams_open", { route: "events" }) === 0,
      "nuts_streams_open to fall to 0",
    );
    expect(
      sample(await metrics(), "nuts_streams_closed_total", {
        route: "events",
        reason: "client_left",
      }),
    ).toBe(leftBefore + 3);
  });

  it("counts replays from the ring and from NATS", async () => {
    // More than the ring holds: the first messages are only in the stream now.
    for (let n = 0; n < 20; n++) await harness.js.publish("events.filler", "{}");
    const head = (await harness.jsm.streams.info("EVENTS")).state.last_seq;
    const events = sidecar.hub.routeSources().get("events");
    if (!events) throw new Error("the events route has no source");
    await harness.caughtUp(events);
    const ring = await subscribe("/events?topic=filler", { "last-event-id": String(head - 2) });
    await ring.waitForMessages(2);
    const nats = await subscribe("/events?topic=zqtopic&last-id=0");
    await nats.waitForMessages(5);
    await eventually(
      async () =>
        sample(await metrics(), "nuts_replays_total", { route: "events", from: "nats" }) === 1,
      "a replay from NATS to be counted",
    );
    expect(sample(await metrics(), "nuts_replays_total", { route: "events", from: "ring" })).toBe(
      1,
    );
  });

  it("turns not ready with the route and reason when a stream is deleted, and ready when it is back", async () => {
    await harness.jsm.streams.delete("OTHER");
    await eventually(async () => (await admin("/readyz")).status === 503, "/readyz to be 503");
    const body = JSON.parse((await admin("/readyz")).body);
    expect(body.status).toBe("not_ready");
    expect(body.routes.events).toEqual({ ready: true });
    expect(body.routes.other).toEqual({
      ready: false,
      reason: "stream_missing",
      message:
        "stream OTHER does not exist; create it with nuts stream add OTHER --subjects 'other.>'",
    });
    await harness.jsm.streams.add({ name: "OTHER", subjects: ["other.>"] });
    await eventually(
      async () => (await admin("/readyz")).status === 200,
      "/readyz to be 200 again",
    );
    expect(JSON.parse((await admin("/readyz")).body).routes.other).toEqual({ ready: true });
  });

  it("never shows a secret, a topic or a client address", async () => {
    const text = await metrics();
    for (const secret of [NATS_TOKEN, HMAC_KEY]) expect(text).not.toContain(secret);
    expect(text).not.toContain("zqtopic");
    expect(text).not.toContain(`127.0.0.1:${port}`);
    // The nuts_ series carry only these labels, with route names and reasons as values.
    const labels = new Set<string>();
    for (const match of text.matchAll(/^nuts_[a-z_]+\{([^}]*)\}/gm)) {
      for (const pair of (match[1] ?? "").split(",")) labels.add(pair.split("=")[0] ?? "");
    }
    expect([...labels].sort()).toEqual(["connection", "from", "kind", "reason", "route"]);
  });

  it("exports every metric the Grafana dashboard queries, and docs/operations.md lists each nuts_ metric", async () => {
    const text = await metrics();
    const exported = new Set(
      [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].flatMap(([, name = "", type]) =>
        type === "histogram" || type === "summary"
          ? [`${name}_bucket`, `${name}_sum`, `${name}_count`, name]
          : [name],
      ),
    );
    const dashboard = JSON.parse(
      await readFile(new URL("../docs/grafana/nuts-dashboard.json", import.meta.url), "utf8"),
    ) as { panels: { title: string; targets?: { expr: string }[] }[] };
    const queried = new Set<string>();
    for (const panel of dashboard.panels) {
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      for (const { expr } of panel.targets ?? []) {
        for (const [name] of expr.matchAll(/\b(?:nuts|process|nodejs)_[a-z0-9_]+/g)) {
          queried.add(name);
        }
      }
    }
    expect(queried.size).toBeGreaterThan(10);
    expect([...queried].filter((name) => !exported.has(name))).toEqual([]);
    const operations = await readFile(new URL("../docs/operations.md", import.meta.url), "utf8");
    const ours = [...exported].filter((name) => name.startsWith("nuts_"));
    expect(ours.length).toBe(12);
    expect(ours.filter((name) => !operations.includes(`\`${name}\``))).toEqual([]);
    // Every nuts_ series the dashboard does not show is one it means to leave out: none.
    expect(ours.filter((name) => !queried.has(name))).toEqual([]);
  });
});
