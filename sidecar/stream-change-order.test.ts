/**
 * However NUTS learns that its stream changed (the stream's advisory, the consumer's advisory,
 * the consumer's own status, a failed restart) and in whatever order those arrive, every
 * attached client gets exactly one `event: reset`. The orders are forced with NATS permissions:
 * a sidecar whose NATS user may not subscribe to JetStream's advisories learns everything from
 * its consumer; advisories that arrive after the change was handled (forged here, the way a
 * late one would look) change nothing.
 */
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type LoggedLine, recordingLogger } from "../testing/recording-logger.js";
import { type Harness, startHarness, type TestSidecar } from "../testing/sidecar-harness.js";
import { eventually, openSse, type SseClient } from "../testing/sse-client.js";
import type { RouteSource } from "./source.js";

/** `deaf` may not hear advisories (nor purge requests); `hears` may. */
type SidecarUser = "deaf" | "hears";

let harness: Harness;
let js: JetStreamClient;
let jsm: JetStreamManager;
const open: SseClient[] = [];
const sidecars: TestSidecar[] = [];
let streams = 0;

beforeAll(async () => {
  harness = await startHarness({
    streams: [],
    server: {
      auth: {
        type: "users",
        users: [
          { user: "test", password: "test-pw" },
          {
            user: "deaf",
            password: "deaf-pw",
            denySubscribe: ["$JS.EVENT.ADVISORY.>", "$JS.API.STREAM.PURGE.>"],
          },
          { user: "hears", password: "hears-pw" },
        ],
      },
    },
  });
  ({ js, jsm } = harness);
});

afterEach(async () => {
  for (const client of open.splice(0)) client.abort();
  for (const sidecar of sidecars.splice(0)) await sidecar.stop();
});

afterAll(() => harness?.stop());

interface Scenario {
  stream: string;
  source: RouteSource;
  log: LoggedLine[];
  publish(payload: string): Promise<number>;
  open(headers?: Record<string, string>): Promise<SseClient>;
  /** How many times the sidecar logged `message`. */
  logged(message: string): number;
}

/** A stream of its own and a sidecar that reads it as `user`. */
async function scenario(user: SidecarUser): Promise<Scenario> {
  const stream = `ORDER${++streams}`;
  const prefix = `order${streams}.`;
  await jsm.streams.add({ name: stream, subjects: [`${prefix}>`] });
  const log: LoggedLine[] = [];
  const sidecar = await harness.startSidecar(
    {
      routes: {
        order: {
          nats_url: harness.nats.url,
          nats_user: user,
          nats_password: `${user}-pw`,
          stream_name: stream,
          topic_prefix: prefix,
          heartbeat_interval: 0,
          reconnect_wait: 0.25,
        },
      },
    },
    recordingLogger(log),
  );
  sidecars.push(sidecar);
  const [source] = sidecar.hub.allSources();
  if (!source) throw new Error("no source");
  await eventually(() => source.isAvailable(), "the source to be ready");
  return {
    stream,
    source,
    log,
    publish: async (payload) => (await js.publish(`${prefix}x`, payload)).seq,
    open: async (headers = {}) => {
      const client = await openSse({ port: sidecar.port, path: "/x", headers });
      open.push(client);
      expect(client.status).toBe(200);
      await client.waitForEvents(1);
      return client;
    },
    logged: (message) => log.filter((line) => line.message === message).length,
  };
}

function resets(client: SseClient): string[] {
  return client.events.filter((frame) => frame.event === "reset").map((frame) => frame.raw);
}

const DELETED = 'id: 0\nevent: reset\ndata: {"reason":"stream_deleted"}\n\n';

describe("a deletion the sidecar hears of only from its consumer (no advisories)", () => {
  it("tells every client once, ends their streams and logs it", async () => {
    const own = await scenario("deaf");
    // The setup is what it claims: the server refused the advisory subscriptions.
    await eventually(
      () =>
        own.log.some(
          (line) =>
            line.message === "NATS reported an error" &&
            /permissions violation/i.test(String(line.fields.reason)),
        ),
      "the server to refuse the sidecar's advisory subscriptions",
    );
    const clients = [await own.open(), await own.open()];
    await own.publish("m1");
    await own.publish("m2");
    for (const client of clients) await client.waitForMessages(2);

    await jsm.streams.delete(own.stream);
    for (const client of clients) {
      await client.waitForEnd();
      expect(client.endedWith).toBe("end");
      expect(client.events.map((frame) => `${frame.event} ${frame.id}`)).toEqual([
        "connected 0",
        "message 1",
        "message 2",
        "reset 0",
      ]);
      expect(resets(client)).toEqual([DELETED]);
    }
    expect(own.logged("the stream was deleted; subscribers are told")).toBe(1);
    expect(own.source.state.type).toBe("stream_missing");
  });
});

describe("a deletion heard every way at once (stream advisory, consumer advisory, consumer status)", () => {
  it("tells every client once; advisories that come after it was handled reset nobody", async () => {
    const own = await scenario("hears");
    const clients = [await own.open(), await own.open()];
    await own.publish("m1");
    for (const client of clients) await client.waitForMessages(1);

    await jsm.streams.delete(own.stream);
    for (const client of clients) {
      await client.waitForEnd();
      expect(resets(client)).toEqual([DELETED]);
    }
    expect(own.logged("the stream was deleted; subscribers are told")).toBe(1);

    await jsm.streams.add({ name: own.stream, subjects: [`order${streams}.>`] });
    const first = await own.publish("new-1");
    await eventually(() => own.source.isAvailable(), "the source to be ready again");
    const resumed = await own.open({ "Last-Event-ID": "0" });
    await resumed.waitForMessages(1);
    expect(resumed.messageIds).toEqual([first]);

    // Late news of a deletion and a creation that were already handled: the sidecar looks at
    // the stream again (a new live consumer) and finds nothing to tell.
    const started = own.logged("live consumer started");
    const advisory = JSON.stringify({ type: "io.nats.jetstream.advisory.v1.stream_action" });
    harness.nc.publish(`$JS.EVENT.ADVISORY.STREAM.DELETED.${own.stream}`, advisory);
    harness.nc.publish(`$JS.EVENT.ADVISORY.STREAM.CREATED.${own.stream}`, advisory);
    await eventually(
      () => own.logged("live consumer started") > started,
      "the sidecar to look at the stream again after the late advisories",
    );
    const second = await own.publish("new-2");
    await resumed.waitForMessages(2);
    expect(resumed.messageIds).toEqual([first, second]);
    expect(resets(resumed)).toEqual([]);
    expect(resumed.ended).toBe(false);
    expect(own.logged("the stream was deleted; subscribers are told")).toBe(1);
  });
});

describe("a stream deleted and made again behind the sidecar's back (no advisories)", () => {
  it("tells every client once, with the reason the stream shows when the sidecar looks", async () => {
    const own = await scenario("deaf");
    const clients = [await own.open(), await own.open()];
    await own.publish("m1");
    await own.publish("m2");
    for (const client of clients) await client.waitForMessages(2);

    await jsm.streams.delete(own.stream);
    await jsm.streams.add({ name: own.stream, subjects: [`order${streams}.>`] });
    const fresh = await own.publish("fresh");
    expect(fresh).toBe(1);
    for (const client of clients) {
      await client.waitForEnd();
      const [reset, ...more] = resets(client);
      expect(more).toEqual([]);
      // Deleted, if the sidecar looked before the stream was back; made again (at the new
      // stream's last sequence then), if after.
      expect(reset).toMatch(
        /^id: (0\nevent: reset\ndata: \{"reason":"stream_deleted"\}|[01]\nevent: reset\ndata: \{"reason":"stream_recreated"\})\n\n$/,
      );
    }
    await eventually(() => own.source.isAvailable(), "the source to serve the new stream");
    const resumed = await own.open({ "Last-Event-ID": "0" });
    await resumed.waitForMessages(1);
    expect(resumed.messageIds).toEqual([fresh]);
  });
});
