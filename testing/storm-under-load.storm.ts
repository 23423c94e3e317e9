/**
 * The reconnect storm under load, through the whole stack: a real nats-server, `nuts run` (real
 * Caddy in front of the sidecar, reaching it over h2c), and 5,000 SSE clients on one topic in
 * the bench's load generator (its own process). Messages flow the whole time; 20 times in a row
 * every client drops at once and all reconnect at once with their `Last-Event-ID`, and each round
 * ends only when every client has every message up to the last one published before the round
 * ended: none lost, none twice, in order (the load generator checks each payload's counter `n`).
 *
 * It guards Caddy's hop to the sidecar against the deadlock sidecar/read-ahead-relay.ts breaks:
 * with Node's HTTP/2 session on Caddy's socket directly, a storm fills both socket buffers and a
 * connection freezes for good, and its clients never get their response heads or their replay.
 * A frozen connection fails the round at its deadline (see `HEAD_TIMEOUT_MS`, `CATCH_UP_TIMEOUT_MS`)
 * with what the clients lack; it does not hang the test.
 *
 * Long (about 2 minutes), so not a `*.test.ts`: `make test-storm` runs it with vitest.storm.config.ts.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { ConnectResult, ProgressResult } from "../bench/loadgen.js";
import { NatsPublisher, publishAtRate } from "../bench/publisher.js";
import { RemoteLoadGenerator } from "../bench/remote-loadgen.js";
import { type NatsServer, startNatsServer } from "./nats-server.js";
import { buildNuts, eventsCaddyfile, type NutsRun, startNutsRun } from "./nuts-cli.js";
import { freePort } from "./processes.js";

const CLIENTS = 5_000;
const ROUNDS = 20;
const MESSAGES_PER_SECOND = 20;
/** Published while the clients are away, so that every reconnect replays at least this many. */
const MISSED_PER_ROUND = 10;
const TOPIC = `storm-${process.pid}`;
/** A client without its response head after this long has failed (a frozen connection's fate). */
const HEAD_TIMEOUT_MS = 45_000;
/** After the reconnect, every client must have the round's last message within this long. */
const CATCH_UP_TIMEOUT_MS = 60_000;
/** Covers 20 slow rounds on a loaded machine; a round that freezes fails at its own deadline. */
const TEST_TIMEOUT_MS = 8 * 60_000;
const POLL_MS = 100;

let nats: NatsServer;
let nc: NatsConnection;
let workDir: string;
let run: NutsRun;
let port: number;
let loadgen: RemoteLoadGenerator;
const publishing = new AbortController();
/** The last counter published on the topic; the publisher advances it. */
const lastByTopic: Record<string, number> = { [TOPIC]: 0 };

/** Sockets the load generator and Caddy each hold, with room for everything else. */
const OPEN_FILES_NEEDED = CLIENTS + 1_000;

/** This process's soft limit on open files, which its children (loadgen, Caddy) inherit. */
async function openFilesLimit(): Promise<number> {
  const limits = await readFile("/proc/self/limits", "utf8");
  const soft = /^Max open files\s+(\d+|unlimited)/m.exec(limits)?.[1];
  return soft === undefined || soft === "unlimited" ? Number.POSITIVE_INFINITY : Number(soft);
}

beforeAll(async () => {
  const limit = await openFilesLimit();
  if (limit < OPEN_FILES_NEEDED) {
    throw new Error(
      `the open-files limit is ${limit}; ${CLIENTS} clients need ${OPEN_FILES_NEEDED}: run this through \`make test-storm\` (it raises the soft limit to the hard one), or raise the hard limit`,
    );
  }
  [nats] = await Promise.all([startNatsServer(), buildNuts()]);
  nc = await connect(nats.connectOptions());
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: "EVENTS", subjects: ["events.>"] });
  workDir = await mkdtemp(join(tmpdir(), "nuts-storm-"));
  port = await freePort();
  const config = join(workDir, "Caddyfile");
  await writeFile(config, eventsCaddyfile(port, nats.url));
  const runtimeDir = join(workDir, "run");
  await mkdir(runtimeDir, { recursive: true, mode: 0o700 });
  run = await startNutsRun(config, runtimeDir, 60_000);
  loadgen = RemoteLoadGenerator.start();
}, 120_000);

afterAll(async () => {
  publishing.abort();
  if (loadgen) {
    await loadgen.close().catch(() => {});
    loadgen.stop();
  }
  await run?.kill();
  await nc?.close();
  await nats?.stop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
}, 60_000);

it(
  `keeps ${fmt(CLIENTS)} clients whole through ${ROUNDS} reconnect storms in a row while messages flow`,
  async () => {
    const connected = await loadgen.connect({
      port,
      pathPrefix: "/events?topic=",
      topics: [TOPIC],
      count: CLIENTS,
      batchSize: 500,
      pauseMs: 10,
      // The topic is new: "0" replays it from its first message, however late a client's
      // subscription is in place, so that n=1 is every client's first message.
      lastEventId: "0",
      startAfter: 0,
      timeMessages: false,
      timeoutMs: HEAD_TIMEOUT_MS,
    });
    expect(connected.failed, `connecting: ${connected.errors.join("; ")}`).toBe(0);

    let publishFailure: Error | undefined;
    const published = publishAtRate(new NatsPublisher(nc, "events."), {
      count: Number.MAX_SAFE_INTEGER,
      ratePerSecond: MESSAGES_PER_SECOND,
      topicOf: () => TOPIC,
      lastByTopic,
      signal: publishing.signal,
    }).catch((error: Error) => {
      publishFailure = error;
      return 0;
    });

    await publishedPast(0, "the first messages");
    await expectAllCaughtUp("start", Date.now(), null);

    for (let round = 1; round <= ROUNDS; round++) {
      const started = Date.now();
      const droppedAfter = lastByTopic[TOPIC] as number;
      await loadgen.drop();
      await publishedPast(droppedAfter, `round ${round}: messages while the clients are away`);
      const reconnected = await loadgen.reconnect({
        // All at once: the next batch would start only when this one has its response heads.
        batchSize: CLIENTS,
        pauseMs: 0,
        catchUpTo: { ...lastByTopic },
        timeoutMs: HEAD_TIMEOUT_MS,
      });
      await expectAllCaughtUp(`round ${round}`, started, reconnected);
      expect(publishFailure, "publishing").toBeUndefined();
    }

    publishing.abort();
    await published;
    expect(publishFailure, "publishing").toBeUndefined();
  },
  TEST_TIMEOUT_MS,
);

/** Waits (10 s at most) until the publisher is `MISSED_PER_ROUND` messages past `counter`. */
async function publishedPast(counter: number, what: string): Promise<void> {
  const target = counter + MISSED_PER_ROUND;
  const deadline = Date.now() + 10_000;
  while ((lastByTopic[TOPIC] as number) < target) {
    if (Date.now() > deadline) {
      throw new Error(
        `${what}: the publisher is at n=${lastByTopic[TOPIC]} after 10 s, waited for n=${target}`,
      );
    }
    await sleep(POLL_MS);
  }
}

/**
 * The round's end: takes the last counter published so far as the target, makes sure NATS has
 * it, and waits until every client has it, or none that is short of it still has a connection
 * to get it on, or `CATCH_UP_TIMEOUT_MS`. Then every client must have it, with no gap, no
 * duplicate and no connection closed by the server since the start.
 */
async function expectAllCaughtUp(
  round: string,
  started: number,
  reconnected: ConnectResult | null,
): Promise<void> {
  const target = lastByTopic[TOPIC] as number;
  await nc.flush();
  const waitStarted = Date.now();
  const deadline = waitStarted + CATCH_UP_TIMEOUT_MS;
  let progress: ProgressResult;
  for (;;) {
    progress = await loadgen.progress({ lastByTopic: { [TOPIC]: target } });
    const settled = progress.caughtUp === CLIENTS || progress.behindConnected === 0;
    if (settled || Date.now() > deadline) break;
    await sleep(POLL_MS);
  }
  const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const reconnect =
    reconnected === null
      ? ""
      : `; reconnect ${fmt(reconnected.opened)} opened, ${fmt(reconnected.failed)} failed in ${seconds(reconnected.elapsedMs)}${reconnected.errors.length > 0 ? ` (${reconnected.errors.join("; ")})` : ""}`;
  const behind = progress.caughtUp === CLIENTS ? 0 : CLIENTS - progress.caughtUp;
  const stuck =
    behind === 0
      ? ""
      : `; ${fmt(behind)} stuck: ${fmt(progress.behindConnected)} connected and waiting, ${fmt(progress.behindDisconnected)} without a connection, the lowest at n=${fmt(progress.lowestBehind ?? 0)}`;
  const description = `${round}: ${fmt(progress.caughtUp)} of ${fmt(CLIENTS)} clients caught up to n=${fmt(target)} after ${seconds(Date.now() - waitStarted)} of waiting (${seconds(Date.now() - started)} for the round)${stuck}${reconnect}; gaps ${progress.gaps}, duplicates ${progress.duplicates}, closed by the server ${progress.closed}`;
  process.stderr.write(`storm: ${description}\n`);
  expect(
    {
      caughtUp: progress.caughtUp,
      gaps: progress.gaps,
      duplicates: progress.duplicates,
      closed: progress.closed,
      reconnectFailed: reconnected?.failed ?? 0,
    },
    description,
  ).toEqual({ caughtUp: CLIENTS, gaps: 0, duplicates: 0, closed: 0, reconnectFailed: 0 });
}

function fmt(value: number): string {
  return value.toLocaleString("en-US");
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
