import { Counter, collectDefaultMetrics, Gauge, Registry } from "prom-client";
import type { RouteSource } from "./source.js";
import type { CloseReason } from "./subscriber.js";
import type { NatsTransport } from "./transport.js";

/**
 * Bytes and message frames written to a route's clients. Plain numbers, added to on every write
 * (the hot path: a field addition, no label lookup); the counters read them when scraped.
 */
export interface DeliveryTally {
  deliveries: number;
  bytes: number;
}

/** A tally nobody reads, for a sidecar without metrics: the hot path stays branch-free. */
export const UNCOUNTED: DeliveryTally = { deliveries: 0, bytes: 0 };

/** Where a resuming client's missed messages came from. */
export type ReplayOrigin = "ring" | "nats";

/** Why a reset event was sent. */
export type ResetReason =
  | "stream_recreated"
  | "stream_deleted"
  | "stream_purged"
  | "cursor_ahead_of_stream";

/** A source's lag is looked up at most this often, however often Prometheus scrapes. */
export const LAG_REFRESH_MS = 5_000;
/** A scrape waits this long for a lag lookup, then reports the last value. */
const LAG_LOOKUP_WAIT_MS = 1_000;

/**
 * The sidecar's Prometheus metrics, registered in one `Registry` made at start and passed down.
 * Labels are route names and reasons from bounded sets, never topics, client addresses, subjects
 * or anything from the NATS settings but the server addresses (without user info).
 */
export class SidecarMetrics {
  private readonly routes = new Map<string, RouteMetrics>();
  private readonly sources = new Map<string, RouteSource>();
  private readonly lags = new Map<RouteSource, LagReading>();
  private readonly connections = new Map<NatsTransport, string>();

  readonly streamsOpen: Gauge<"route">;
  readonly streamsOpened: Counter<"route">;
  readonly streamsRefused: Counter<"route" | "reason">;
  readonly streamsClosed: Counter<"route" | "reason">;
  readonly replays: Counter<"route" | "from">;
  readonly resets: Counter<"route" | "reason">;
  readonly reconnects: Counter<"connection">;

  constructor(
    readonly registry: Registry = new Registry(),
    options: { defaultMetrics?: boolean } = {},
  ) {
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
    const registers = [registry];
    this.streamsOpen = new Gauge({
      name: "nuts_streams_open",
      help: "Event streams open now",
      labelNames: ["route"],
      registers,
    });
    this.streamsOpened = new Counter({
      name: "nuts_streams_opened_total",
      help: "Event streams opened (the response head and the connected event were sent)",
      labelNames: ["route"],
      registers,
    });
    this.streamsRefused = new Counter({
      name: "nuts_streams_refused_total",
      help: "Subscribe requests refused, by the error code the client got",
      labelNames: ["route", "reason"],
      registers,
    });
    this.streamsClosed = new Counter({
      name: "nuts_streams_closed_total",
      help: "Event streams ended, by reason (slow_client and write_timeout: cut by the sidecar)",
      labelNames: ["route", "reason"],
      registers,
    });
    const tallies = this.routes;
    const deliveriesReported = new Map<string, number>();
    const bytesReported = new Map<string, number>();
    new Counter({
      name: "nuts_deliveries_total",
      help: "Message frames written to clients (one per client per message)",
      labelNames: ["route"],
      registers,
      collect() {
        for (const [route, metrics] of tallies)
          addUpTo(this, deliveriesReported, route, metrics.tally.deliveries);
      },
    });
    new Counter({
      name: "nuts_bytes_written_total",
      help: "Bytes written to clients' event streams (frames, heartbeats, events)",
      labelNames: ["route"],
      registers,
      collect() {
        for (const [route, metrics] of tallies)
          addUpTo(this, bytesReported, route, metrics.tally.bytes);
      },
    });
    this.replays = new Counter({
      name: "nuts_replays_total",
      help: "Resuming clients served what they missed, from the ring of recent frames or from NATS",
      labelNames: ["route", "from"],
      registers,
    });
    this.resets = new Counter({
      name: "nuts_resets_total",
      help: "Reset events sent to clients, by reason",
      labelNames: ["route", "reason"],
      registers,
    });
    const sources = this.sources;
    new Gauge({
      name: "nuts_jetstream_consumers",
      help: "JetStream consumers the sidecar holds: the route source's live one, and replays running",
      labelNames: ["route", "kind"],
      registers,
      collect() {
        this.reset();
        for (const [route, source] of sources) {
          this.set({ route, kind: "live" }, source.state.type === "ready" ? 1 : 0);
          this.set({ route, kind: "replay" }, source.replaysRunning);
        }
      },
    });
    const lagOf = (source: RouteSource) => this.lagOf(source);
    new Gauge({
      name: "nuts_source_lag_messages",
      help: `Messages of the route's subjects in the stream after the last one the sidecar has seen (looked up at most every ${LAG_REFRESH_MS / 1000} s)`,
      labelNames: ["route"],
      registers,
      async collect() {
        this.reset();
        const entries = [...sources];
        const lags = await Promise.all(entries.map(([, source]) => lagOf(source)));
        entries.forEach(([route], index) => {
          const lag = lags[index];
          if (lag !== undefined) this.set({ route }, lag);
        });
      },
    });
    const connections = this.connections;
    new Gauge({
      name: "nuts_nats_connected",
      help: "1 while the NATS connection is up",
      labelNames: ["connection"],
      registers,
      collect() {
        this.reset();
        for (const [transport, connection] of connections) {
          this.set({ connection }, transport.state.type === "connected" ? 1 : 0);
        }
      },
    });
    this.reconnects = new Counter({
      name: "nuts_nats_reconnects_total",
      help: "Times a NATS connection came back after it was lost",
      labelNames: ["connection"],
      registers,
    });
  }

  /** The metrics of one route, with its label children resolved once. */
  route(name: string): RouteMetrics {
    let metrics = this.routes.get(name);
    if (!metrics) {
      metrics = new RouteMetrics(this, name);
      this.routes.set(name, metrics);
    }
    return metrics;
  }

  /** Reports a route's source (consumers, lag) from now on. */
  watchSource(route: string, source: RouteSource): void {
    this.sources.set(route, source);
    this.route(route);
  }

  /** Reports a NATS connection's state and counts its reconnects. */
  watchTransport(transport: NatsTransport): void {
    const name = connectionName(transport.settings.servers);
    let connection = name;
    for (let n = 2; [...this.connections.values()].includes(connection); n++) {
      connection = `${name}#${n}`;
    }
    this.connections.set(transport, connection);
    const reconnects = this.reconnects.labels(connection);
    reconnects.inc(0);
    let lost = false;
    transport.onChange((state) => {
      if (state.type === "nats_disconnected") lost = true;
      else if (state.type === "connected" && lost) {
        lost = false;
        reconnects.inc();
      }
    });
  }

  /** The Prometheus text exposition of every metric. */
  exposition(): Promise<string> {
    return this.registry.metrics();
  }

  private async lagOf(source: RouteSource): Promise<number | undefined> {
    let reading = this.lags.get(source);
    if (!reading) {
      reading = { at: 0, lag: undefined, lookup: undefined };
      this.lags.set(source, reading);
    }
    const current = reading;
    if (current.lookup === undefined && Date.now() - current.at >= LAG_REFRESH_MS) {
      current.at = Date.now();
      current.lookup = sourceLag(source)
        .then((lag) => {
          current.lag = lag;
        })
        .catch(() => {})
        .finally(() => {
          current.lookup = undefined;
        });
    }
    if (current.lookup !== undefined) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        current.lookup,
        new Promise((resolve) => {
          timer = setTimeout(resolve, LAG_LOOKUP_WAIT_MS);
        }),
      ]);
      clearTimeout(timer);
    }
    return current.lag;
  }
}

interface LagReading {
  at: number;
  lag: number | undefined;
  lookup: Promise<void> | undefined;
}

/** One route's metrics: label children looked up once, and its delivery tally. */
export class RouteMetrics {
  readonly tally: DeliveryTally = { deliveries: 0, bytes: 0 };
  private readonly open;
  private readonly opened;

  constructor(
    private readonly metrics: SidecarMetrics,
    private readonly name: string,
  ) {
    this.open = metrics.streamsOpen.labels(name);
    this.opened = metrics.streamsOpened.labels(name);
    this.open.set(0);
    this.opened.inc(0);
  }

  streamOpened(): void {
    this.opened.inc();
    this.open.inc();
  }

  streamClosed(reason: CloseReason["type"]): void {
    this.open.dec();
    this.metrics.streamsClosed.inc({ route: this.name, reason });
  }

  refused(reason: string): void {
    this.metrics.streamsRefused.inc({ route: this.name, reason });
  }

  replayed(from: ReplayOrigin): void {
    this.metrics.replays.inc({ route: this.name, from });
  }

  reset(reason: ResetReason): void {
    this.metrics.resets.inc({ route: this.name, reason });
  }
}

/** Adds to a route's counter what its tally gained since the last scrape. */
function addUpTo(
  counter: Counter<"route">,
  reported: Map<string, number>,
  route: string,
  total: number,
): void {
  counter.inc({ route }, total - (reported.get(route) ?? 0));
  reported.set(route, total);
}

/**
 * How many messages of the source's subjects the stream holds after the source's head: the
 * sequence of the last message on `<topic_prefix>>` (one request), less the head.
 */
async function sourceLag(source: RouteSource): Promise<number | undefined> {
  const connection = source.transport.connection;
  if (!connection || source.state.type !== "ready") return undefined;
  const { streamName, topicPrefix } = source.options;
  let last: number;
  if (topicPrefix === "") {
    last = (await connection.jsm.streams.info(streamName)).state.last_seq;
  } else {
    const message = await connection.jsm.streams.getMessage(streamName, {
      last_by_subj: `${topicPrefix}>`,
    });
    last = message?.seq ?? 0;
  }
  return Math.max(0, last - source.head);
}

/** The servers of a connection, without user info (a URL may carry a token or password). */
export function connectionName(servers: readonly string[]): string {
  return servers.map((server) => server.replace(/\/\/[^@/]*@/, "//")).join(",");
}
