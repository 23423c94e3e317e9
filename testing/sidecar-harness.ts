/**
 * What the sidecar's integration tests share: a real nats-server with the EVENTS stream and a
 * JetStream connection of the test's own, and in-process sidecars on a free loopback port that
 * stop with it. Two steps, because many tests publish a history before the sidecar starts:
 *
 *   harness = await startHarness();
 *   await harness.js.publish("events.old", "before the sidecar");
 *   sidecar = await harness.startSidecar({ routes: { events: { nats_url: harness.nats.url, ... } } });
 *   ...
 *   afterAll(() => harness?.stop());
 */
import {
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
} from "@nats-io/jetstream";
import { connect, type NatsConnection, type NodeConnectionOptions } from "@nats-io/transport-node";
import { resolveHubs } from "../mercure/config.js";
import { type Config, resolveConfig, type SidecarOptions } from "../sidecar/config.js";
import { type Logger, silentLogger } from "../sidecar/log.js";
import { type RunningSidecar, startSidecar } from "../sidecar/server.js";
import type { RouteSource } from "../sidecar/source.js";
import { type NatsServer, type NatsServerOptions, startNatsServer } from "./nats-server.js";
import { eventually } from "./sse-client.js";

/** The stream most tests read: every subject under `events.`. */
export const EVENTS_STREAM = { name: "EVENTS", subjects: ["events.>"] };

export interface HarnessOptions {
  /** Authentication or TLS for the nats-server. @default none */
  server?: NatsServerOptions;
  /** Added to the server's `connectOptions()` for the test's own connection. @default none */
  connect?: Partial<NodeConnectionOptions>;
  /** Streams created before anything else. @default [EVENTS_STREAM] */
  streams?: { name: string; subjects: string[] }[];
}

/** A sidecar listening on 127.0.0.1, with the port it got and the config it runs. */
export interface TestSidecar extends RunningSidecar {
  port: number;
  config: Config;
}

export interface Harness {
  nats: NatsServer;
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** Starts a sidecar (see `startTestSidecar`) that `stop()` stops too. */
  startSidecar(options: SidecarOptions, log?: Logger): Promise<TestSidecar>;
  /** How many consumers a stream has: a sidecar's live one, and a replay's while it runs. */
  consumerCount(stream?: string): Promise<number>;
  /** Waits until `source` has seen the last message of its stream; resolves with its sequence. */
  caughtUp(source: RouteSource): Promise<number>;
  /** Stops the sidecars started here, in order, then closes the connection and the server. */
  stop(): Promise<void>;
}

/** Starts a nats-server, connects to it and creates the streams. */
export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const nats = await startNatsServer(options.server);
  const sidecars: TestSidecar[] = [];
  let nc: NatsConnection | undefined;
  const stop = async () => {
    try {
      for (const sidecar of sidecars.splice(0)) await sidecar.stop();
      await nc?.close();
    } finally {
      await nats.stop();
    }
  };
  try {
    nc = await connect({ ...nats.connectOptions(), ...options.connect });
    const jsm = await jetstreamManager(nc);
    for (const stream of options.streams ?? [EVENTS_STREAM]) await jsm.streams.add(stream);
    return {
      nats,
      nc,
      js: jetstream(nc),
      jsm,
      async startSidecar(sidecarOptions, log) {
        const sidecar = await startTestSidecar(sidecarOptions, log);
        sidecars.push(sidecar);
        return sidecar;
      },
      async consumerCount(stream = EVENTS_STREAM.name) {
        return (await jsm.consumers.list(stream).next()).length;
      },
      async caughtUp(source) {
        const last = (await jsm.streams.info(source.options.streamName)).state.last_seq;
        await eventually(() => source.head >= last, `the sidecar to see seq ${last}`);
        return last;
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * Resolves `options` and starts a sidecar on 127.0.0.1 at a port the system picks; the caller
 * stops it. @param log @default silentLogger
 */
export async function startTestSidecar(
  options: SidecarOptions,
  log: Logger = silentLogger,
): Promise<TestSidecar> {
  const config = resolveConfig(options, resolveHubs);
  const sidecar = await startSidecar(config, { type: "tcp", host: "127.0.0.1", port: 0 }, log);
  if (sidecar.address.type !== "tcp") throw new Error("expected TCP");
  return Object.assign(sidecar, { port: sidecar.address.port, config });
}

/** Waits until every source of the sidecar has its live consumer (`what` names it in a failure). */
export function sourcesAvailable(
  sidecar: RunningSidecar,
  what = "every source to be ready",
): Promise<void> {
  return eventually(() => sidecar.hub.allSources().every((source) => source.isAvailable()), what);
}
