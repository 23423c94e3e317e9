/**
 * The HTTP contract of the event stream against a real nats-server: exact bytes of the
 * `connected` and `message` frames, headers, status codes and bodies of refused requests,
 * route selection, CORS, heartbeats, publishing and the refusal of a missing stream.
 */
import { createConnection } from "node:net";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, startHarness, type TestSidecar } from "../testing/sidecar-harness.js";
import { eventually, fetchAll, openSse, type SseClient } from "../testing/sse-client.js";
import type { RunningSidecar } from "./server.js";

let harness: Harness;
let js: JetStreamClient;
let jsm: JetStreamManager;
/** Several routes: every request names one in X-Nuts-Route. */
let sidecar: TestSidecar;
/** One route: requests need no route header. */
let single: TestSidecar;
const open: SseClient[] = [];

const ISO_TIME = /"time":"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)"\}\n\n$/;

async function stream(
  path: string,
  route: string | undefined = "events",
  headers: Record<string, string> = {},
) {
  const client = await openSse({
    port: sidecar.port,
    path,
    headers: { ...(route === undefined ? {} : { "X-Nuts-Route": route }), ...headers },
  });
  open.push(client);
  return client;
}

function request(
  path: string,
  options: {
    route?: string;
    method?: string;
    headers?: Record<string, string>;
    body?: string;
  } = {},
) {
  return fetchAll({
    port: sidecar.port,
    path,
    method: options.method ?? "GET",
    headers: { "X-Nuts-Route": options.route ?? "events", ...options.headers },
    ...(options.body === undefined ? {} : { body: options.body }),
  });
}

/** Publishes and returns the stream sequence JetStream stored the message at. */
async function publish(subject: string, payload: string | Uint8Array): Promise<number> {
  return (await js.publish(subject, payload)).seq;
}

/** The ISO time the stream stored a message at (the frame's `time`, to the millisecond). */
async function storedTime(seq: number): Promise<Date> {
  const stored = await jsm.streams.getMessage("EVENTS", { seq });
  if (!stored) throw new Error(`no message ${seq}`);
  return stored.time;
}

/** The expected frame of a message, taking the time from the frame after checking it. */
async function expectMessageFrame(
  raw: string | undefined,
  seq: number,
  topic: string,
  payloadJson: string,
) {
  const time = ISO_TIME.exec(raw ?? "")?.[1];
  expect(time, `a time in ${JSON.stringify(raw)}`).toBeDefined();
  expect(
    Math.abs(Date.parse(time as string) - (await storedTime(seq)).getTime()),
  ).toBeLessThanOrEqual(1);
  expect(raw).toBe(
    `id: ${seq}\nevent: message\ndata: {"topic":"${topic}","payload":${payloadJson},"time":"${time}"}\n\n`,
  );
}

/** Waits until the sidecar's live consumer has seen `seq`, so a new client's position is exact. */
async function sidecarSaw(running: RunningSidecar, seq: number) {
  await eventually(
    () =>
      running.hub
        .allSources()
        .every((source) => source.head >= seq || source.state.type !== "ready"),
    `the sidecar to see ${seq}`,
  );
}

async function lastSeq(): Promise<number> {
  return (await jsm.streams.info("EVENTS")).state.last_seq;
}

beforeAll(async () => {
  harness = await startHarness();
  ({ js, jsm } = harness);
  await publish("events.a", "before anyone listened");
  await publish("events.b", "before anyone listened");
  const base = {
    nats_url: harness.nats.url,
    stream_name: "EVENTS",
    topic_prefix: "events.",
    path_prefix: "/events",
    reconnect_wait: 0.2,
  };
  sidecar = await harness.startSidecar({
    routes: {
      events: base,
      retrying: { ...base, retry: 2500, heartbeat_interval: 0.2 },
      narrow: { ...base, max_topics: 2 },
      publishing: { ...base, publish: true },
      cors: { ...base, allowed_origins: ["https://app.example"] },
      missing: { ...base, stream_name: "MISSING", topic_prefix: "missing." },
    },
  });
  single = await harness.startSidecar({
    routes: {
      only: { nats_url: harness.nats.url, stream_name: "EVENTS", topic_prefix: "events." },
    },
  });
});

afterAll(async () => {
  for (const client of open) client.abort();
  await harness?.stop();
});

describe("the event stream", () => {
  it("answers 200 with the SSE headers and the connected event at once", async () => {
    const head = await lastSeq();
    await sidecarSaw(sidecar, head);
    const client = await stream("/events?topic=a&topic=b");
    expect(client.status).toBe(200);
    expect(client.headers["content-type"]).toBe("text/event-stream");
    expect(client.headers["cache-control"]).toBe("no-cache");
    expect(client.headers["x-accel-buffering"]).toBe("no");
    expect(client.headers["access-control-allow-origin"]).toBe("*");
    // Delimited by the connection: the body is the frames themselves, with no chunked framing.
    expect(client.headers.connection).toBe("close");
    expect(client.headers["transfer-encoding"]).toBeUndefined();
    // Nothing is published: the connected event must come without any message pushing it out.
    await client.waitForEvents(1);
    expect(client.text).toBe(`id: ${head}\nevent: connected\ndata: {"topics":["a","b"]}\n\n`);
  });

  it("answers HEAD with the head a GET gets and no stream behind it", async () => {
    // Raw bytes: an HTTP client would hide a body sent after a HEAD response's head.
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = createConnection({ host: "127.0.0.1", port: sidecar.port });
      let text = "";
      socket.setEncoding("latin1");
      socket.on("data", (chunk: string) => {
        text += chunk;
      });
      socket.on("end", () => resolve(text));
      socket.on("error", reject);
      socket.setTimeout(5_000, () => reject(new Error(`no end of the HEAD answer; got ${text}`)));
      // Written, not ended: the server closes the connection after its answer (Connection: close).
      socket.write(
        "HEAD /events?topic=a HTTP/1.1\r\nHost: nuts\r\nX-Nuts-Route: events\r\nConnection: close\r\n\r\n",
      );
    });
    const [head, body] = raw.split("\r\n\r\n");
    expect(head).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(head?.toLowerCase()).toContain("content-type: text/event-stream");
    expect(head?.toLowerCase()).toContain("cache-control: no-cache");
    expect(body).toBe("");
  });

  it("frames each message of the requested topics with its stream sequence as id", async () => {
    const client = await stream("/events?topic=a&topic=b");
    await client.waitForEvents(1);
    const first = await publish("events.a", '{"n": 1}');
    await publish("events.c", "another topic");
    await publish("events.ab", "a longer topic");
    const second = await publish("events.b", "plain text");
    const messages = await client.waitForMessages(2);
    expect(client.messageIds).toEqual([first, second]);
    await expectMessageFrame(messages[0]?.raw, first, "a", '{"n":1}');
    await expectMessageFrame(messages[1]?.raw, second, "b", '"plain text"');
  });

  it("takes the topic from the path after path_prefix, slashes becoming dots", async () => {
    const client = await stream("/events/chat/room-1");
    const [connected] = await client.waitForEvents(1);
    expect(connected?.data).toBe('{"topics":["chat.room-1"]}');
    await publish("events.chat.room-2", "not this room");
    const seq = await publish("events.chat.room-1", "[1, 2]");
    const [message] = await client.waitForMessages(1);
    await expectMessageFrame(message?.raw, seq, "chat.room-1", "[1,2]");
  });

  it("prefers topic query parameters over the path and collapses duplicates", async () => {
    const client = await stream("/events/ignored?topic=x&topic=x&topic=y");
    const [connected] = await client.waitForEvents(1);
    expect(connected?.data).toBe('{"topics":["x","y"]}');
  });

  it("keeps frames well formed whatever the payload holds", async () => {
    const client = await stream("/events/raw");
    await client.waitForEvents(1);
    const nasty = await publish(
      "events.raw",
      new Uint8Array([0x61, 0x0d, 0x62, 0x0a, 0x63, 0x0d, 0x0a, 0x00, 0xff, 0x0a, 0x0a, 0x64]),
    );
    const multiLine = await publish("events.raw", "id: 999\nevent: evil\n\ndata: x");
    const messages = await client.waitForMessages(2);
    await expectMessageFrame(
      messages[0]?.raw,
      nasty,
      "raw",
      '"a\\rb\\nc\\r\\n\\u0000\uFFFD\\n\\nd"',
    );
    await expectMessageFrame(
      messages[1]?.raw,
      multiLine,
      "raw",
      '"id: 999\\nevent: evil\\n\\ndata: x"',
    );
    expect(client.events.map((event) => event.event)).toEqual(["connected", "message", "message"]);
    expect(client.messageIds).toEqual([nasty, multiLine]);
  });

  it("sends the retry field in the connected event when retry is configured", async () => {
    const head = await lastSeq();
    await sidecarSaw(sidecar, head);
    const client = await stream("/events/a", "retrying");
    await client.waitForEvents(1);
    expect(client.frames[0]?.raw).toBe(
      `id: ${head}\nevent: connected\nretry: 2500\ndata: {"topics":["a"]}\n\n`,
    );
  });

  it("sends a heartbeat comment after heartbeat_interval of silence", async () => {
    const head = await lastSeq();
    await sidecarSaw(sidecar, head);
    const client = await stream("/events/quiet-topic", "retrying");
    await client.waitFor(() => client.frames.length >= 2, "a heartbeat");
    expect(client.text.slice(0, client.frames[0]?.raw.length)).toBe(
      `id: ${head}\nevent: connected\nretry: 2500\ndata: {"topics":["quiet-topic"]}\n\n`,
    );
    expect(client.frames[1]?.raw).toBe(": heartbeat\n\n");
  });

  it("serves a single route without the route header", async () => {
    const client = await openSse({ port: single.port, path: "/solo" });
    open.push(client);
    expect(client.status).toBe(200);
    const [connected] = await client.waitForEvents(1);
    expect(connected?.data).toBe('{"topics":["solo"]}');
    const seq = await publish("events.solo", "just me");
    const [message] = await client.waitForMessages(1);
    expect(message?.id).toBe(String(seq));
  });
});

describe("refused requests", () => {
  const json = (error: string, message: string) => JSON.stringify({ error, message });

  it.each([
    [
      "/events",
      "events",
      400,
      json(
        "missing_topic",
        "name a topic: ?topic=orders (repeat for more) or a path such as /events/orders",
      ),
    ],
    [
      "/events/",
      "events",
      400,
      json(
        "missing_topic",
        "name a topic: ?topic=orders (repeat for more) or a path such as /events/orders",
      ),
    ],
    [
      "/events?topic=a%20b",
      "events",
      400,
      json("invalid_topic", 'topic "a b" may not contain spaces'),
    ],
    ["/events/a%20b", "events", 400, json("invalid_topic", 'topic "a b" may not contain spaces')],
    [
      "/events?topic=orders.*",
      "events",
      400,
      json(
        "invalid_topic",
        'topic "orders.*" may not contain the wildcards * or > (they need subscriber authorization)',
      ),
    ],
    ["/events?topic=ok&topic=", "events", 400, json("invalid_topic", 'topic "" is empty')],
    [
      "/events?topic=a&topic=b&topic=c",
      "narrow",
      400,
      json("too_many_topics", "at most 2 topics per connection, got 3"),
    ],
    [
      "/events/a?last-id=ten",
      "events",
      400,
      json(
        "invalid_last_id",
        'last-id must be a stream sequence number (digits only, at most 16), got "ten"',
      ),
    ],
    ["/events/a", "nope", 404, json("unknown_route", 'no route named "nope"')],
    ["/events/a", "", 404, json("no_route", "no route: the X-Nuts-Route header names none")],
  ])("GET %s on route %j: %d %s", async (path, route, status, body) => {
    const response = await request(path, { route });
    expect(response.status).toBe(status);
    expect(response.headers["content-type"]).toBe("application/json");
    expect(response.body).toBe(body);
  });

  it("answers 404 no_route without the route header when there are several routes", async () => {
    const response = await fetchAll({ port: sidecar.port, path: "/events/a" });
    expect(response.status).toBe(404);
    expect(response.body).toBe(json("no_route", "no route: the X-Nuts-Route header names none"));
  });

  it("answers 405 to other methods", async () => {
    const response = await request("/events/a", { method: "PUT" });
    expect(response.status).toBe(405);
    expect(response.body).toBe(
      json("method_not_allowed", "use GET to subscribe (or POST to publish, where allowed)"),
    );
  });
});

describe("CORS", () => {
  it('answers a preflight with 204 and "*" for any origin', async () => {
    const response = await request("/events/a", {
      method: "OPTIONS",
      headers: { Origin: "https://x.example" },
    });
    expect(response.status).toBe(204);
    expect(response.body).toBe("");
    expect(response.headers["access-control-allow-origin"]).toBe("*");
    expect(response.headers["access-control-allow-methods"]).toBe("GET, OPTIONS");
    expect(response.headers["access-control-allow-headers"]).toBe(
      "Last-Event-ID, Cache-Control, Content-Type",
    );
  });

  it("echoes a listed origin on the stream, with Vary: Origin", async () => {
    const client = await stream("/events/a", "cors", { Origin: "https://app.example" });
    expect(client.status).toBe(200);
    expect(client.headers["access-control-allow-origin"]).toBe("https://app.example");
    expect(client.headers["access-control-allow-credentials"]).toBe("true");
    expect(client.headers.vary).toBe("Origin");
  });

  it("does not allow an unlisted origin", async () => {
    const client = await stream("/events/a", "cors", { Origin: "https://evil.example" });
    expect(client.status).toBe(200);
    expect(client.headers["access-control-allow-origin"]).toBeUndefined();
    expect(client.headers.vary).toBe("Origin");
    const preflight = await request("/events/a", {
      route: "cors",
      method: "OPTIONS",
      headers: { Origin: "https://evil.example" },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers["access-control-allow-origin"]).toBeUndefined();
  });

  it("puts CORS headers on error answers too", async () => {
    const response = await request("/events", {
      route: "cors",
      headers: { Origin: "https://app.example" },
    });
    expect(response.status).toBe(400);
    expect(response.headers["access-control-allow-origin"]).toBe("https://app.example");
  });
});

describe("publishing", () => {
  it("stores a POSTed body and answers with its topic and sequence", async () => {
    const client = await stream("/events/posted", "publishing");
    await client.waitForEvents(1);
    const response = await request("/events/posted", {
      route: "publishing",
      method: "POST",
      body: '{"hello":"world"}',
    });
    expect(response.status).toBe(200);
    const seq = await lastSeq();
    expect(response.body).toBe(`{"topic":"posted","seq":${seq}}`);
    const [message] = await client.waitForMessages(1);
    await expectMessageFrame(message?.raw, seq, "posted", '{"hello":"world"}');
  });

  it("refuses to publish on a route without publish", async () => {
    const before = await lastSeq();
    const response = await request("/events/posted", { method: "POST", body: "nope" });
    expect(response.status).toBe(405);
    expect(response.body).toBe(
      json("publish_disabled", "publishing is off for this route; turn it on with `publish`"),
    );
    expect(await lastSeq()).toBe(before);
  });

  it("refuses an invalid topic for publishing", async () => {
    const response = await request("/events?topic=a.>", {
      route: "publishing",
      method: "POST",
      body: "x",
    });
    expect(response.status).toBe(400);
    expect(response.body).toBe(
      json(
        "invalid_topic",
        'topic "a.>" may not contain the wildcards * or > (they need subscriber authorization)',
      ),
    );
  });

  function json(error: string, message: string) {
    return JSON.stringify({ error, message });
  }
});

describe("a missing stream", () => {
  const body =
    '{"error":"stream_not_found","message":"stream MISSING does not exist yet; retry shortly"}';

  it("refuses an EventSource with a 200 stream holding retry and one unavailable event, then closes it", async () => {
    const response = await request("/events/a", {
      route: "missing",
      headers: { Accept: "text/event-stream" },
    });
    expect(response.status).toBe(200);
    expect(response.headers["content-type"]).toBe("text/event-stream");
    expect(response.body).toBe(`event: unavailable\nretry: 1000\ndata: ${body}\n\n`);
  });

  it("refuses other clients with 503 JSON and Retry-After", async () => {
    const response = await request("/events/a", {
      route: "missing",
      headers: { Accept: "application/json" },
    });
    expect(response.status).toBe(503);
    expect(response.headers["content-type"]).toBe("application/json");
    expect(response.headers["retry-after"]).toBe("1");
    expect(response.body).toBe(body);
    const noAccept = await request("/events/a", { route: "missing" });
    expect(noAccept.status).toBe(503);
    expect(noAccept.body).toBe(body);
  });

  it("serves the route once the stream is created", async () => {
    await jsm.streams.add({ name: "MISSING", subjects: ["missing.>"] });
    try {
      await eventually(async () => {
        const probe = await stream("/events/a", "missing");
        probe.abort();
        return probe.status === 200;
      }, "the source to find the stream");
      const client = await stream("/events/now-here", "missing");
      expect(client.status).toBe(200);
      await client.waitForEvents(1);
      const seq = (await js.publish("missing.now-here", "found")).seq;
      const [message] = await client.waitForMessages(1);
      expect(message?.id).toBe(String(seq));
      expect(message?.data).toMatch(/^\{"topic":"now-here","payload":"found","time":"/);
    } finally {
      for (const client of open) client.abort();
    }
  });
});
