/**
 * Changes to a stream behind the sidecar's back, against a real nats-server: a purge tells
 * live clients (`event: reset`, `stream_purged`) and they keep streaming; a deletion tells them
 * (`stream_deleted`, id 0) and ends their streams, new requests are refused until the stream
 * exists again, and then a client from id 0 gets the new stream from seq 1; a cursor beyond
 * the stream's end is moved back to it (`cursor_ahead_of_stream`); a live consumer deleted
 * from outside is replaced without a gap or a duplicate. One stream per scenario.
 */
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type LoggedLine, recordingLogger } from "../testing/recording-logger.js";
import {
  type Harness,
  sourcesAvailable,
  startHarness,
  type TestSidecar,
} from "../testing/sidecar-harness.js";
import { eventually, fetchAll, openSse, type SseClient } from "../testing/sse-client.js";
import type { Config, RouteOptions } from "./config.js";
import type { RunningSidecar } from "./server.js";

/** Route name, stream name and subject prefix of each scenario. */
const SCENARIOS = {
  purge: "PURGE",
  ahead: "AHEAD",
  consumer: "CONS",
} as const;
type Scenario = keyof typeof SCENARIOS;

let harness: Harness;
let js: JetStreamClient;
let jsm: JetStreamManager;
let sidecar: TestSidecar;
let config: Config;
let port: number;
const open: SseClient[] = [];
const logged: LoggedLine[] = [];

function source(scenario: Scenario) {
  const route = config.routes.get(scenario);
  if (!route) throw new Error(`no route ${scenario}`);
  return sidecar.hub.source(route);
}

async function publish(scenario: Scenario, payload = "m"): Promise<number> {
  return (await js.publish(`${scenario}.x`, payload)).seq;
}

async function stream(
  scenario: Scenario,
  query = "",
  headers: Record<string, string> = {},
): Promise<SseClient> {
  const client = await openSse({
    port,
    path: `/x${query}`,
    headers: { "X-Nuts-Route": scenario, ...headers },
  });
  open.push(client);
  expect(client.status).toBe(200);
  await client.waitForEvents(1);
  return client;
}

async function addStream(scenario: Scenario): Promise<void> {
  await jsm.streams.add({ name: SCENARIOS[scenario], subjects: [`${scenario}.>`] });
}

function resetFrame(id: number, reason: string): string {
  return `id: ${id}\nevent: reset\ndata: {"reason":"${reason}"}\n\n`;
}

function messageFrame(seq: number, payload: string): RegExp {
  return new RegExp(
    `^id: ${seq}\\nevent: message\\ndata: \\{"topic":"x","payload":"${payload}","time":"[^"]+"\\}\\n\\n$`,
  );
}

/** Event types and ids, in order: what a browser's listeners would see. */
function timeline(client: SseClient): string[] {
  return client.events.map((frame) => `${frame.event} ${frame.id}`);
}

beforeAll(async () => {
  // No EVENTS stream: each scenario has a stream of its own.
  harness = await startHarness({ streams: [] });
  ({ js, jsm } = harness);
  const routes: Record<string, RouteOptions> = {};
  for (const scenario of Object.keys(SCENARIOS) as Scenario[]) {
    await addStream(scenario);
    routes[scenario] = {
      nats_url: harness.nats.url,
      stream_name: SCENARIOS[scenario],
      topic_prefix: `${scenario}.`,
      heartbeat_interval: 0,
      reconnect_wait: 0.25,
    };
  }
  sidecar = await harness.startSidecar({ routes }, recordingLogger(logged));
  ({ config, port } = sidecar);
  await sourcesAvailable(sidecar, "every source to be ready");
});

afterEach(() => {
  for (const client of open.splice(0)) client.abort();
});

afterAll(() => harness?.stop());

describe("a purge while clients stream", () => {
  it("sends event: reset with the head as id, and the clients keep streaming", async () => {
    const client = await stream("purge");
    const before = [await publish("purge", "one"), await publish("purge", "two")];
    await client.waitForMessages(2);
    await jsm.streams.purge(SCENARIOS.purge);
    await client.waitFor(
      () => client.events.some((frame) => frame.event === "reset"),
      "the reset event",
    );
    const after = [await publish("purge", "three"), await publish("purge", "four")];
    await client.waitForMessages(4);

    expect(before).toEqual([1, 2]);
    expect(after).toEqual([3, 4]);
    expect(client.events.map((frame) => frame.raw)).toEqual([
      'id: 0\nevent: connected\ndata: {"topics":["x"]}\n\n',
      expect.stringMatching(messageFrame(1, "one")),
      expect.stringMatching(messageFrame(2, "two")),
      resetFrame(2, "stream_purged"),
      expect.stringMatching(messageFrame(3, "three")),
      expect.stringMatching(messageFrame(4, "four")),
    ]);
    expect(client.ended).toBe(false);
    expect(logged.map((entry) => entry.message)).toContain(
      "the stream was purged; subscribers are told",
    );
  });

  it("serves no purged message from memory to a client resuming from before the purge", async () => {
    await eventually(() => source("purge").head === 4, "the purge source to be at 4");
    const client = await stream("purge", "?last-id=1");
    const next = await publish("purge", "five");
    await client.waitFor(() => client.messageIds.includes(next), "the new message");
    // 3 and 4 came after the purge and are in the stream; 2 was purged and is not served.
    expect(client.messageIds).toEqual([3, 4, next]);
    expect(next).toBe(5);
  });
});

/**
 * A stream of its own and a sidecar of its own for one attempt at a deletion scenario, so that
 * a retried attempt starts clean whatever the last one left behind.
 */
interface Deletable {
  stream: string;
  /** Creates the stream (again). */
  create(): Promise<void>;
  port: number;
  sidecar: RunningSidecar;
  log: string[];
  /** Resolves once the sidecar has logged a line starting with `text`. */
  logged(text: string): Promise<void>;
  publish(payload: string): Promise<number>;
  open(headers?: Record<string, string>): Promise<SseClient>;
  fetch(headers?: Record<string, string>): ReturnType<typeof fetchAll>;
  isMissing(): boolean;
  isAvailable(): boolean;
}

let deletables = 0;
const runningDeletables: Deletable[] = [];

async function deletable(): Promise<Deletable> {
  const index = ++deletables;
  const stream = `DEL${index}`;
  const prefix = `del${index}.`;
  const create = async () => {
    await jsm.streams.add({ name: stream, subjects: [`${prefix}>`] });
  };
  await create();
  const log: string[] = [];
  const waiting = new Set<{ text: string; resolve: () => void }>();
  const record = (message: string) => {
    log.push(message);
    for (const waiter of [...waiting]) {
      if (message.startsWith(waiter.text)) {
        waiting.delete(waiter);
        waiter.resolve();
      }
    }
  };
  const own = await harness.startSidecar(
    {
      routes: {
        delete: {
          nats_url: harness.nats.url,
          stream_name: stream,
          topic_prefix: prefix,
          heartbeat_interval: 0,
          reconnect_wait: 0.25,
        },
      },
    },
    { debug() {}, info: record, warn: record, error: record },
  );
  const ownPort = own.port;
  const [ownSource] = own.hub.allSources();
  if (!ownSource) throw new Error("no source");
  await eventually(() => ownSource.isAvailable(), "the source to be ready");
  const result: Deletable = {
    stream,
    create,
    port: ownPort,
    sidecar: own,
    log,
    logged: (text) =>
      log.some((line) => line.startsWith(text))
        ? Promise.resolve()
        : new Promise((resolve) => waiting.add({ text, resolve })),
    publish: async (payload) => (await js.publish(`${prefix}x`, payload)).seq,
    open: async (headers = {}) => {
      const client = await openSse({ port: ownPort, path: "/x", headers });
      open.push(client);
      expect(client.status).toBe(200);
      await client.waitForEvents(1);
      return client;
    },
    fetch: (headers = {}) => fetchAll({ port: ownPort, path: "/x", headers }),
    isMissing: () => ownSource.state.type === "stream_missing",
    isAvailable: () => ownSource.isAvailable(),
  };
  runningDeletables.push(result);
  return result;
}

afterEach(async () => {
  for (const each of runningDeletables.splice(0)) await each.sidecar.stop();
});

describe("a deleted stream", () => {
  it("tells live clients with id 0, ends their streams, refuses new requests until it is recreated, then serves it from seq 1", async () => {
    const own = await deletable();
    const client = await own.open();
    const other = await own.open();
    await own.publish("old-1");
    await own.publish("old-2");
    await client.waitForMessages(2);
    await other.waitForMessages(2);

    await jsm.streams.delete(own.stream);
    await Promise.all([client.waitForEnd(), other.waitForEnd()]).catch((error: Error) => {
      throw new Error(`${error.message}\nsidecar log: ${JSON.stringify(own.log)}`);
    });
    for (const each of [client, other]) {
      expect(each.endedWith).toBe("end");
      expect(timeline(each)).toEqual(["connected 0", "message 1", "message 2", "reset 0"]);
      expect(each.events.at(-1)?.raw).toBe(resetFrame(0, "stream_deleted"));
    }

    await eventually(() => own.isMissing(), "the source to see the stream missing");
    const notFound = JSON.stringify({
      error: "stream_not_found",
      message: `stream ${own.stream} does not exist yet; retry shortly`,
    });
    const refused = await own.fetch();
    expect(refused.status).toBe(503);
    expect(refused.headers["retry-after"]).toBe("1");
    expect(refused.body).toBe(notFound);
    const eventSource = await own.fetch({ Accept: "text/event-stream", "Last-Event-ID": "0" });
    expect(eventSource.status).toBe(200);
    expect(eventSource.body).toBe(`event: unavailable\nretry: 1000\ndata: ${notFound}\n\n`);

    await own.create();
    const first = await own.publish("new-1");
    const second = await own.publish("new-2");
    expect([first, second]).toEqual([1, 2]);
    await eventually(() => own.isAvailable(), "the source to be ready again");
    const resumed = await own.open({ "Last-Event-ID": "0" });
    await resumed.waitForMessages(2);
    const third = await own.publish("new-3");
    await resumed.waitForMessages(3);
    expect(resumed.events.map((frame) => frame.raw)).toEqual([
      'id: 0\nevent: connected\ndata: {"topics":["x"]}\n\n',
      expect.stringMatching(messageFrame(1, "new-1")),
      expect.stringMatching(messageFrame(2, "new-2")),
      expect.stringMatching(messageFrame(third, "new-3")),
    ]);
    expect(third).toBe(3);
  });

  // Deleting a stream deletes its consumers first; the stream's advisories are followed for the
  // life of the connection, so the deletion is still heard after the consumer's.
  it("tells live clients when the stream is deleted just after the live consumer was", async () => {
    const own = await deletable();
    const client = await own.open();
    await own.publish("m1");
    await client.waitForMessages(1);
    const live = (await jsm.consumers.list(own.stream).next()).find((info) =>
      info.name.startsWith("nuts_"),
    );
    if (!live) throw new Error("no live consumer");
    await jsm.consumers.delete(own.stream, live.name);
    await own.logged("the live consumer was deleted");
    await jsm.streams.delete(own.stream);
    await client.waitForEnd(3_000);
    expect(client.events.at(-1)?.raw).toBe(resetFrame(0, "stream_deleted"));
  });
});

describe("a cursor beyond the stream's last sequence", () => {
  it("moves the client to the stream's end with event: reset, then delivers new messages", async () => {
    for (let index = 1; index <= 5; index++) await publish("ahead", `m${index}`);
    await eventually(() => source("ahead").head === 5, "the source to be at 5");
    const client = await stream("ahead", "?last-id=999");
    await client.waitForEvents(2);
    const sixth = await publish("ahead", "m6");
    const seventh = await publish("ahead", "m7");
    await client.waitForMessages(2);
    expect([sixth, seventh]).toEqual([6, 7]);
    expect(client.events.map((frame) => frame.raw)).toEqual([
      'id: 999\nevent: connected\ndata: {"topics":["x"]}\n\n',
      resetFrame(5, "cursor_ahead_of_stream"),
      expect.stringMatching(messageFrame(6, "m6")),
      expect.stringMatching(messageFrame(7, "m7")),
    ]);
    expect(client.ended).toBe(false);
  });

  it("does the same for a Last-Event-ID ahead", async () => {
    const last = source("ahead").head;
    const client = await stream("ahead", "", { "Last-Event-ID": String(last + 1) });
    await client.waitForEvents(2);
    expect(client.events[1]?.raw).toBe(resetFrame(last, "cursor_ahead_of_stream"));
    const next = await publish("ahead", "next");
    await client.waitForMessages(1);
    expect(client.messageIds).toEqual([next]);
  });

  it("leaves a cursor at the stream's end alone", async () => {
    const last = source("ahead").head;
    const client = await stream("ahead", `?last-id=${last}`);
    const next = await publish("ahead", "after");
    await client.waitForMessages(1);
    expect(timeline(client)).toEqual([`connected ${last}`, `message ${next}`]);
  });
});

describe("the live consumer deleted from outside", () => {
  /** Our live consumers, by name and creation time (a replacement may reuse the name). */
  async function liveConsumers(): Promise<{ name: string; created: string }[]> {
    return (await jsm.consumers.list(SCENARIOS.consumer).next())
      .filter((info) => info.name.startsWith("nuts_"))
      .map((info) => ({ name: info.name, created: info.created }));
  }

  it("is replaced; clients keep receiving without a gap or a duplicate", async () => {
    const client = await stream("consumer");
    const before = [
      await publish("consumer", "b1"),
      await publish("consumer", "b2"),
      await publish("consumer", "b3"),
    ];
    await client.waitForMessages(3);
    const [original, ...others] = await liveConsumers();
    expect(others).toEqual([]);
    if (!original) throw new Error("no live consumer");

    await jsm.consumers.delete(SCENARIOS.consumer, original.name);
    // Published while there may be no consumer at all.
    const during = [await publish("consumer", "d1"), await publish("consumer", "d2")];
    await eventually(async () => {
      const now = await liveConsumers();
      return now.length === 1 && now[0]?.created !== original.created;
    }, "a new live consumer");
    expect(logged.map((entry) => entry.message)).toContain(
      "the live consumer was deleted; starting a new one",
    );
    const after = [await publish("consumer", "a1"), await publish("consumer", "a2")];
    await client.waitForMessages(7);
    const marker = await publish("consumer", "marker");
    await client.waitFor(() => client.messageIds.includes(marker), "the marker");

    expect(client.messageIds).toEqual([...before, ...during, ...after, marker]);
    expect(client.messageIds).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(client.events.map((frame) => frame.event)).toEqual([
      "connected",
      ...Array(8).fill("message"),
    ]);
    expect(client.ended).toBe(false);
  });
});
