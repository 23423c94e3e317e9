/**
 * A NATS node dies under the sidecar, on a real three-node cluster with an R3 stream. The live
 * consumer and a replay's consumer are R1: each lives on one node, found here from the
 * consumer's info. That node is SIGKILLed while the sidecar stays connected to another, and
 * every client must still get every stored message once, in order, with a log line saying what
 * happened; the node then comes back and nothing changes for the clients.
 */
import {
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
} from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  addReplicatedStream,
  type NatsCluster,
  startNatsCluster,
} from "../testing/nats-cluster.js";
import { type LoggedLine, recordingLogger } from "../testing/recording-logger.js";
import {
  sourcesAvailable,
  startTestSidecar,
  type TestSidecar,
} from "../testing/sidecar-harness.js";
import { eventually, openSse, type SseClient } from "../testing/sse-client.js";
import type { RouteSource } from "./source.js";

const STREAM = "EVENTS";
/** Elections, a consumer's loss and its replacement take seconds on a loaded machine. */
const RECOVERY_MS = 30_000;

let cluster: NatsCluster;
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
const sidecars: TestSidecar[] = [];
const clients: SseClient[] = [];

beforeAll(async () => {
  cluster = await startNatsCluster();
  nc = await connect({ servers: cluster.urls, reconnectTimeWait: 100, maxReconnectAttempts: -1 });
  js = jetstream(nc);
  jsm = await jetstreamManager(nc);
}, 60_000);

afterEach(async () => {
  for (const client of clients.splice(0)) client.abort();
  for (const sidecar of sidecars.splice(0)) await sidecar.stop();
  for (const node of cluster.nodes) if (!node.running) await node.start();
  await jsm.streams.delete(STREAM).catch(() => {});
}, 60_000);

afterAll(async () => {
  await nc?.close();
  await cluster?.stop();
}, 30_000);

/** The R3 stream of every test. */
function createStream(): Promise<void> {
  return addReplicatedStream(jsm, { name: STREAM, subjects: ["events.>"] });
}

/**
 * Publishes once, whatever the cluster is doing: a publish that fails during an election is
 * sent again with the same message id, and JetStream's de-duplication keeps one copy.
 */
async function publishSurely(subject: string, payload: string, msgID: string): Promise<number> {
  const deadline = Date.now() + RECOVERY_MS;
  for (;;) {
    try {
      return (await js.publish(subject, payload, { msgID, timeout: 2_000 })).seq;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`could not publish ${msgID}`, { cause: error });
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

async function startSidecar(
  log: LoggedLine[],
): Promise<{ sidecar: TestSidecar; source: RouteSource }> {
  const sidecar = await startTestSidecar(
    {
      routes: {
        events: {
          nats_url: cluster.urls.join(","),
          stream_name: STREAM,
          topic_prefix: "events.",
          reconnect_wait: 0.1,
          heartbeat_interval: 0,
          // The replay test holds a client still while a node dies.
          write_timeout: 120,
        },
      },
    },
    recordingLogger(log),
  );
  sidecars.push(sidecar);
  await sourcesAvailable(sidecar, "the live consumer to start");
  const [source] = sidecar.hub.allSources();
  if (!source) throw new Error("the sidecar has no source");
  return { sidecar, source };
}

/** The node the sidecar's NATS connection is on. */
function sidecarNode(source: RouteSource): string | undefined {
  return source.transport.connection?.nc.info?.server_name;
}

/** Name and node of each consumer on the stream, by JetStream's own account. */
async function consumers(): Promise<{ name: string; node: string | undefined }[]> {
  const infos = await jsm.consumers.list(STREAM).next();
  return infos.map((info) => ({ name: info.name, node: info.cluster?.leader }));
}

/**
 * The sidecar's running live consumer. Its names are `nuts_<id>_<generation>_<serial>`: the
 * newest generation is the running one (one it replaced while cut off from NATS, or that lived
 * on a node that came back, may still be listed until the server expires it).
 */
async function liveConsumer(): Promise<{ name: string; node: string }> {
  const generation = (name: string) => name.split("_").slice(2).map(Number);
  const newer = (a: string, b: string) => {
    const [genA = 0, serialA = 0] = generation(a);
    const [genB = 0, serialB = 0] = generation(b);
    return genA - genB || serialA - serialB;
  };
  let found: { name: string; node: string } | undefined;
  await eventually(
    async () => {
      const live = (await consumers())
        .filter((consumer) => consumer.name.startsWith("nuts_"))
        .sort((a, b) => newer(b.name, a.name));
      const newest = live[0];
      found = newest?.node === undefined ? undefined : { name: newest.name, node: newest.node };
      return found !== undefined;
    },
    "the newest live consumer to have a leader",
    RECOVERY_MS,
  );
  if (!found) throw new Error("unreachable");
  return found;
}

async function openClient(sidecar: TestSidecar, path: string): Promise<SseClient> {
  const client = await openSse({ port: sidecar.port, path });
  clients.push(client);
  await client.waitForEvents(1);
  return client;
}

async function killNode(name: string): Promise<void> {
  await cluster.node(name).kill();
}

describe("the node that hosts the live consumer dies", () => {
  it("is noticed from the missed heartbeats; a new consumer continues after the head and every client gets every message once, in order", async () => {
    await createStream();
    const log: LoggedLine[] = [];
    const { sidecar, source } = await startSidecar(log);

    // The consumer must live on another node than the sidecar's connection, or killing it
    // would test a reconnect instead. JetStream places it: ask for a new one until it is apart.
    let consumer = await liveConsumer();
    for (let attempt = 0; consumer.node === sidecarNode(source); attempt++) {
      if (attempt === 20) throw new Error(`the live consumer stayed on ${consumer.node}`);
      const previous = consumer.name;
      await jsm.consumers.delete(STREAM, previous);
      await eventually(
        async () => (await consumers()).every((each) => each.name !== previous),
        `consumer ${previous} to be gone`,
      );
      consumer = await liveConsumer();
    }
    const connectedTo = sidecarNode(source);
    expect(connectedTo).toBeDefined();
    expect(consumer.node).not.toBe(connectedTo);

    const watchers = [
      await openClient(sidecar, "/a"),
      await openClient(sidecar, "/a"),
      await openClient(sidecar, "/?topic=a&topic=b"),
    ];
    const published: { topic: string; seq: number }[] = [];
    const publish = async (label: string, count: number) => {
      for (let index = 0; index < count; index++) {
        const topic = index % 3 === 2 ? "b" : "a";
        const seq = await publishSurely(
          `events.${topic}`,
          `${label} ${index}`,
          `${label}-${index}`,
        );
        published.push({ topic, seq });
      }
    };
    const seqsOf = (...topics: string[]) =>
      published.filter((each) => topics.includes(each.topic)).map((each) => each.seq);
    const allReceived = (what: string) =>
      Promise.all(
        watchers.map((client, index) => {
          const expected = index < 2 ? seqsOf("a") : seqsOf("a", "b");
          return client.waitFor(
            () => client.messageIds.length >= expected.length,
            `client ${index} to have the ${expected.length} messages ${what}`,
            RECOVERY_MS,
          );
        }),
      );

    await publish("before", 12);
    await allReceived("published before the kill");

    await killNode(consumer.node);
    await publish("after", 12);
    await allReceived("published after the kill");
    expect(sidecarNode(source)).toBe(connectedTo);
    expect(
      log.some(
        (line) =>
          line.message === "the live consumer was lost; starting a new one" &&
          String(line.fields.reason).includes("heartbeats missed"),
      ),
    ).toBe(true);

    await cluster.node(consumer.node).start();
    await publish("back", 6);
    await allReceived("published after the node came back");

    for (const [index, client] of watchers.entries()) {
      const expected = index < 2 ? seqsOf("a") : seqsOf("a", "b").sort((x, y) => x - y);
      expect(client.messageIds, `client ${index}`).toEqual(expected);
      expect(client.ended, `client ${index} stayed connected`).toBe(false);
    }
    const stored = (await jsm.streams.info(STREAM)).state.last_seq;
    expect(Math.max(...published.map((each) => each.seq))).toBe(stored);
  }, 120_000);
});

describe("the node that hosts a replay's consumer dies mid-replay", () => {
  it("goes on with a new consumer after the last message handled: the client gets the whole history once, in order", async () => {
    await createStream();
    // Enough history that a client that stops reading holds the replay in the middle.
    const payload = "x".repeat(4096);
    const history: number[] = [];
    for (let start = 0; start < 2000; start += 100) {
      const acks = await Promise.all(
        Array.from({ length: 100 }, (_, offset) =>
          publishSurely("events.r", payload, `history-${start + offset}`),
        ),
      );
      history.push(...acks);
    }
    history.sort((a, b) => a - b);
    const log: LoggedLine[] = [];
    const { sidecar, source } = await startSidecar(log);

    // A replay consumer apart from the sidecar's node, caught mid-replay.
    let reader: SseClient | undefined;
    let replay: { name: string; node: string | undefined } | undefined;
    for (let attempt = 0; ; attempt++) {
      if (attempt === 20) throw new Error("every replay consumer was on the sidecar's node");
      const client = await openSse({ port: sidecar.port, path: "/r?last-id=0" });
      clients.push(client);
      await client.waitFor(() => client.messageIds.length > 0, "the replay to begin");
      client.pause();
      await eventually(async () => {
        replay = (await consumers()).find((each) => !each.name.startsWith("nuts_"));
        return replay?.node !== undefined;
      }, "the replay consumer to be listed with its node");
      if (replay?.node !== sidecarNode(source)) {
        reader = client;
        break;
      }
      client.abort();
      const stale = replay?.name;
      await eventually(
        async () => (await consumers()).every((each) => each.name !== stale),
        `replay consumer ${stale} to be deleted`,
      );
    }
    if (!reader || !replay?.node) throw new Error("unreachable");
    const pending = (await jsm.consumers.info(STREAM, replay.name)).num_pending;
    expect(pending, "messages the replay consumer had not delivered yet").toBeGreaterThan(0);

    await killNode(replay.node);
    reader.resume();
    const client = reader;
    await client.waitFor(
      () => client.messageIds.length >= history.length,
      `all ${history.length} messages of the history`,
      RECOVERY_MS,
    );
    expect(client.messageIds).toEqual(history);
    expect(
      log.some(
        (line) => line.message === "a replay consumer was lost; the replay goes on with a new one",
      ),
    ).toBe(true);

    // Live after the replay, on the same stream.
    const next = await publishSurely("events.r", "live", "live-0");
    await client.waitFor(
      () => client.messageIds.includes(next),
      `live message ${next}`,
      RECOVERY_MS,
    );
    expect(client.messageIds.slice(history.length)).toEqual([next]);
  }, 120_000);
});

describe("nodes die in turn: the one the sidecar is connected to, then the one hosting its new consumer", () => {
  it("keeps every client's stream whole: every message once, in order", async () => {
    await createStream();
    const log: LoggedLine[] = [];
    const { sidecar, source } = await startSidecar(log);
    const watchers = [await openClient(sidecar, "/t"), await openClient(sidecar, "/t")];
    const published: number[] = [];
    const publish = async (label: string, count: number) => {
      for (let index = 0; index < count; index++) {
        published.push(await publishSurely("events.t", `${label} ${index}`, `${label}-${index}`));
      }
      await Promise.all(
        watchers.map((client, at) =>
          client.waitFor(
            () => client.messageIds.length >= published.length,
            `client ${at} to have the ${published.length} messages up to "${label}"`,
            RECOVERY_MS,
          ),
        ),
      );
    };
    await publish("start", 8);

    const first = sidecarNode(source);
    if (!first) throw new Error("the sidecar is not connected");
    await killNode(first);
    await publish("after-first", 8);
    await eventually(
      () => sidecarNode(source) !== undefined && sidecarNode(source) !== first,
      `the sidecar to reconnect to a node other than ${first}`,
      RECOVERY_MS,
    );
    await cluster.node(first).start();

    const second = (await liveConsumer()).node;
    await killNode(second);
    await publish("after-second", 8);
    await cluster.node(second).start();
    await publish("end", 4);

    for (const [at, client] of watchers.entries()) {
      expect(client.messageIds, `client ${at}`).toEqual(published);
      expect(client.ended, `client ${at} stayed connected`).toBe(false);
    }
  }, 180_000);
});
