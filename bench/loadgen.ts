/**
 * The load generator: many SSE clients in one process, each a raw TCP socket with an HTTP/1.1
 * request written by hand and its response parsed incrementally (bench/frames.ts). Every
 * message carries `{"t":<publish time>,"n":<per-topic counter>}`, so each client times every
 * message it gets and notices gaps and duplicates by its counter, whatever the system's own ids
 * are. It runs in a child process of its own (loadgen-child.ts) so that its CPU is its own and
 * the publisher's timers stay on time.
 */
import { connect as connectTcp, type Socket } from "node:net";
import { ChunkedDecoder, readNumberField, SseParser, wallClockMs } from "./frames.js";
import { type LatencySummary, Samples } from "./stats.js";

export interface ConnectRequest {
  port: number;
  /** Request path before the topic, e.g. `/events?topic=`; the topic is appended URL-encoded. */
  pathPrefix: string;
  /** Client i watches topics[i % topics.length]. */
  topics: string[];
  count: number;
  /** Connections started together; the next batch starts when this one has its answers. */
  batchSize: number;
  pauseMs: number;
  /** Sent as `Last-Event-ID` by every new client (replay from the start: "0"). */
  lastEventId?: string;
  /** Record latencies (off for replay, where the publish time is long past). */
  timeMessages: boolean;
  /** The counter a new client has already seen, so that a missing first message is a gap. */
  startAfter?: number;
  /** A client without its response head after this long has failed (default 20 s). */
  timeoutMs?: number;
}

export interface ConnectResult {
  opened: number;
  failed: number;
  /** A few distinct failure messages, for the log. */
  errors: string[];
  elapsedMs: number;
}

export interface MarkRequest {
  /** The last counter published on each topic so far: a client expects the next one. */
  lastByTopic: Record<string, number>;
}

export interface CollectRequest {
  /** The last counter published on each topic in the window. */
  lastByTopic: Record<string, number>;
  /** Give up waiting for stragglers after this long. */
  timeoutMs: number;
}

export interface WindowResult {
  clients: number;
  received: number;
  /** Messages a client should have had and never got (gaps, plus a tail missing at the end). */
  lost: number;
  duplicates: number;
  /** Sockets that closed during the window without being asked to. */
  closed: number;
  latency: LatencySummary | null;
  firstReceiveAt: number | null;
  lastReceiveAt: number | null;
  /** After a reconnect: ms from the reconnect to the last client reaching its target; null if one never did. */
  caughtUpMs: number | null;
  caughtUp: number;
  /** The wait ended at the timeout with some connected client still short of its last message. */
  timedOut: boolean;
}

/** Where every client stands against its topic's last counter (see `LoadGenerator.progress`). */
export interface ProgressResult {
  clients: number;
  /** Clients that have every message up to their topic's last counter. */
  caughtUp: number;
  /** Clients short of it with a connection open: waiting for messages that have not come. */
  behindConnected: number;
  /** Clients short of it without a connection (a failed reconnect, or closed by the server). */
  behindDisconnected: number;
  /** The lowest counter a client behind has; null when none is behind. */
  lowestBehind: number | null;
  /** Since the last `mark`: messages skipped over, messages seen twice or out of order. */
  gaps: number;
  duplicates: number;
  /** Clients whose socket closed since the last `mark` without being asked to. */
  closed: number;
}

export interface ReconnectRequest {
  batchSize: number;
  pauseMs: number;
  /** A client has caught up once it has the counter its topic had when the reconnect began. */
  catchUpTo: Record<string, number>;
  /** A client without its response head after this long has failed. */
  timeoutMs: number;
  /**
   * No batch starts later than this after the first one: the clients left have failed (a storm
   * that slow has long missed any catch-up target, and waiting for it only costs time).
   */
  deadlineMs?: number;
}

export interface ChurnRequest {
  port: number;
  /** Request path before the topic, e.g. `/events?topic=`. */
  pathPrefix: string;
  /** Client i of a wave watches topics[i % topics.length]. */
  topics: string[];
  /** Streams to open and drop, in whole waves (the last wave may be smaller). */
  streams: number;
  waveSize: number;
  /**
   * A wave is dropped this long after it began connecting, or as soon as every stream has its
   * response head when that took longer: the waves' pace is the same on a fast and a slow
   * system, unless opening them is the slow part.
   */
  holdMs: number;
  /**
   * Every `resumeEvery`-th client of a wave resumes with `Last-Event-ID`: the last id the client
   * at its place in an earlier wave saw. Which wave is taken in turn from `resumeWavesAgo`
   * (1: the previous wave, a cursor still in the sidecar's ring; a larger number: older, so it
   * may be read from the stream).
   */
  resumeEvery: number;
  resumeWavesAgo: number[];
  timeoutMs: number;
}

export interface ChurnResult extends ConnectResult {
  /** Streams opened with `Last-Event-ID`. */
  resumed: number;
  received: number;
  /** Gaps in the per-topic counters (a resumed stream must continue where its cursor was). */
  lost: number;
  duplicates: number;
}

const SOURCE_ADDRESSES = 8;
const DEFAULT_CONNECT_TIMEOUT_MS = 20_000;

class Client {
  socket: Socket | undefined;
  lastN = -1;
  lastId: string | undefined;
  received = 0;
  gaps = 0;
  duplicates = 0;
  catchUpTo = Number.POSITIVE_INFINITY;
  caughtUpAt = 0;
  /** Closed by us (drop, close), not by the server. */
  expectedClose = false;
  unexpectedClose = false;

  constructor(
    readonly index: number,
    readonly topic: string,
    readonly path: string,
  ) {}
}

export class LoadGenerator {
  private clients: Client[] = [];
  private readonly latencies = new Samples();
  private timeMessages = true;
  private firstReceiveAt: number | null = null;
  private lastReceiveAt: number | null = null;
  private port = 0;
  private reconnectAt = 0;
  /** The latest churn waves, newest last: where resuming clients take their cursors from. */
  private churnWaves: Client[][] = [];

  get size(): number {
    return this.clients.length;
  }

  /** Opens `count` more clients. */
  async connect(request: ConnectRequest): Promise<ConnectResult> {
    this.port = request.port;
    this.timeMessages = request.timeMessages;
    const added: Client[] = [];
    for (let i = 0; i < request.count; i++) {
      const index = this.clients.length + i;
      const topic = request.topics[index % request.topics.length] as string;
      const client = new Client(index, topic, request.pathPrefix + encodeURIComponent(topic));
      if (request.startAfter !== undefined) client.lastN = request.startAfter;
      added.push(client);
    }
    this.clients.push(...added);
    return this.open(added, {
      batchSize: request.batchSize,
      pauseMs: request.pauseMs,
      lastEventId: request.lastEventId,
      timeoutMs: request.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    });
  }

  /** Starts a measurement window: counters reset, every client expects the next message. */
  mark(request: MarkRequest): void {
    for (const client of this.clients) {
      const last = request.lastByTopic[client.topic];
      if (last !== undefined) client.lastN = last;
      client.received = 0;
      client.gaps = 0;
      client.duplicates = 0;
      client.unexpectedClose = false;
    }
    this.latencies.clear();
    this.firstReceiveAt = null;
    this.lastReceiveAt = null;
  }

  /**
   * Waits until every client has its topic's last message or has no connection left (it failed
   * to connect or was closed), or the timeout; then sums up.
   */
  async collect(request: CollectRequest): Promise<WindowResult> {
    const deadline = Date.now() + request.timeoutMs;
    const behind = () =>
      this.clients.some((client) => {
        const last = request.lastByTopic[client.topic];
        // A client without a socket (it failed to connect or was closed) will get nothing more.
        return last !== undefined && client.lastN < last && client.socket !== undefined;
      });
    while (behind() && Date.now() < deadline) await sleep(20);
    const timedOut = behind();
    let received = 0;
    let lost = 0;
    let duplicates = 0;
    let closed = 0;
    let caughtUp = 0;
    let latestCatchUp = 0;
    for (const client of this.clients) {
      received += client.received;
      duplicates += client.duplicates;
      const last = request.lastByTopic[client.topic];
      lost += client.gaps + (last === undefined ? 0 : Math.max(0, last - client.lastN));
      if (client.unexpectedClose) closed++;
      if (client.caughtUpAt > 0) {
        caughtUp++;
        latestCatchUp = Math.max(latestCatchUp, client.caughtUpAt);
      }
    }
    const allCaughtUp = this.reconnectAt > 0 && caughtUp === this.clients.length;
    return {
      clients: this.clients.length,
      received,
      lost,
      duplicates,
      closed,
      latency: this.latencies.summary(),
      firstReceiveAt: this.firstReceiveAt,
      lastReceiveAt: this.lastReceiveAt,
      caughtUpMs: allCaughtUp ? latestCatchUp - this.reconnectAt : null,
      caughtUp,
      timedOut,
    };
  }

  /**
   * A snapshot, without waiting and without resetting anything: how many clients have their
   * topic's counter in `lastByTopic`, and what the others lack (for a caller that waits on it).
   */
  progress(request: MarkRequest): ProgressResult {
    const result: ProgressResult = {
      clients: this.clients.length,
      caughtUp: 0,
      behindConnected: 0,
      behindDisconnected: 0,
      lowestBehind: null,
      gaps: 0,
      duplicates: 0,
      closed: 0,
    };
    for (const client of this.clients) {
      result.gaps += client.gaps;
      result.duplicates += client.duplicates;
      if (client.unexpectedClose) result.closed++;
      const last = request.lastByTopic[client.topic] ?? Number.NEGATIVE_INFINITY;
      if (client.lastN >= last) {
        result.caughtUp++;
        continue;
      }
      if (client.socket === undefined) result.behindDisconnected++;
      else result.behindConnected++;
      result.lowestBehind = Math.min(result.lowestBehind ?? client.lastN, client.lastN);
    }
    return result;
  }

  /** Every client loses its connection at once; what it has seen is kept for the reconnect. */
  drop(): void {
    for (const client of this.clients) {
      client.expectedClose = true;
      client.socket?.destroy();
      client.socket = undefined;
    }
  }

  /** Every client reconnects with `Last-Event-ID` set to the last id it saw. */
  async reconnect(request: ReconnectRequest): Promise<ConnectResult> {
    this.reconnectAt = wallClockMs();
    for (const client of this.clients) {
      client.catchUpTo = request.catchUpTo[client.topic] ?? Number.POSITIVE_INFINITY;
      client.caughtUpAt = client.lastN >= client.catchUpTo ? this.reconnectAt : 0;
    }
    return this.open(this.clients, {
      batchSize: request.batchSize,
      pauseMs: request.pauseMs,
      lastEventId: undefined,
      timeoutMs: request.timeoutMs,
      ...(request.deadlineMs === undefined ? {} : { deadlineMs: request.deadlineMs }),
    });
  }

  /** Closes and forgets every client. */
  closeAll(): void {
    this.drop();
    this.clients = [];
    this.reconnectAt = 0;
    this.churnWaves = [];
  }

  /**
   * Opens streams in waves and drops each wave after `holdMs`: the connect, resume, leave cycle
   * of browsers on a busy site. The clients are not kept (beyond the few waves resumers need).
   */
  async churn(request: ChurnRequest): Promise<ChurnResult> {
    this.port = request.port;
    this.timeMessages = false;
    const started = Date.now();
    const total: ChurnResult = {
      opened: 0,
      failed: 0,
      errors: [],
      elapsedMs: 0,
      resumed: 0,
      received: 0,
      lost: 0,
      duplicates: 0,
    };
    const errors = new Set<string>();
    const keepWaves = Math.max(...request.resumeWavesAgo);
    for (let done = 0; done < request.streams; done += request.waveSize) {
      const size = Math.min(request.waveSize, request.streams - done);
      const wave: Client[] = [];
      for (let index = 0; index < size; index++) {
        const topic = request.topics[index % request.topics.length] as string;
        const client = new Client(index, topic, request.pathPrefix + encodeURIComponent(topic));
        if (index % request.resumeEvery === request.resumeEvery - 1) {
          const turn = Math.floor(index / request.resumeEvery) % request.resumeWavesAgo.length;
          const earlier = this.churnWaves.at(-(request.resumeWavesAgo[turn] as number))?.[index];
          if (earlier?.lastId !== undefined) {
            client.lastId = earlier.lastId;
            client.lastN = earlier.lastN;
            total.resumed++;
          }
        }
        wave.push(client);
      }
      const waveStarted = Date.now();
      const opened = await this.open(wave, {
        batchSize: size,
        pauseMs: 0,
        lastEventId: undefined,
        timeoutMs: request.timeoutMs,
      });
      total.opened += opened.opened;
      total.failed += opened.failed;
      for (const error of opened.errors) if (errors.size < 5) errors.add(error);
      await sleep(Math.max(0, waveStarted + request.holdMs - Date.now()));
      for (const client of wave) {
        client.expectedClose = true;
        client.socket?.destroy();
        client.socket = undefined;
        total.received += client.received;
        total.lost += client.gaps;
        total.duplicates += client.duplicates;
      }
      this.churnWaves.push(wave);
      if (this.churnWaves.length > keepWaves) this.churnWaves.shift();
    }
    return { ...total, errors: [...errors], elapsedMs: Date.now() - started };
  }

  private async open(
    clients: Client[],
    options: {
      batchSize: number;
      pauseMs: number;
      lastEventId: string | undefined;
      timeoutMs: number;
      deadlineMs?: number;
    },
  ): Promise<ConnectResult> {
    const { batchSize, pauseMs, lastEventId, timeoutMs, deadlineMs } = options;
    const started = Date.now();
    let opened = 0;
    let failed = 0;
    const errors = new Set<string>();
    for (let start = 0; start < clients.length; start += batchSize) {
      const batch = clients.slice(start, start + batchSize);
      if (deadlineMs !== undefined && Date.now() - started >= deadlineMs) {
        // Too late to start: these clients stay without a connection and count as failed.
        failed += clients.length - start;
        errors.add(
          `${clients.length - start} not attempted: the batches before took over ${deadlineMs / 1000} s`,
        );
        break;
      }
      const outcomes = await Promise.all(
        batch.map((client) => this.openOne(client, lastEventId ?? client.lastId, timeoutMs)),
      );
      for (const outcome of outcomes) {
        if (outcome === null) opened++;
        else {
          failed++;
          if (errors.size < 5) errors.add(outcome);
        }
      }
      if (pauseMs > 0 && start + batchSize < clients.length) await sleep(pauseMs);
    }
    return { opened, failed, errors: [...errors], elapsedMs: Date.now() - started };
  }

  /** Resolves with null once the response head says 200, or with what went wrong. */
  private openOne(
    client: Client,
    lastEventId: string | undefined,
    timeoutMs: number,
  ): Promise<string | null> {
    return new Promise((resolve) => {
      const socket = connectTcp({
        host: "127.0.0.1",
        port: this.port,
        // Spreading clients over several source addresses multiplies the ephemeral ports.
        localAddress: `127.0.0.${1 + (client.index % SOURCE_ADDRESSES)}`,
      });
      client.socket = socket;
      client.expectedClose = false;
      socket.setNoDelay(true);
      let settled = false;
      const settle = (outcome: string | null) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(outcome);
      };
      const fail = (outcome: string) => {
        settle(outcome);
        if (client.socket === socket) client.socket = undefined;
      };
      // Given up on by us, not closed by the server: the client just has no connection.
      const timer = setTimeout(() => {
        fail(`no response head within ${timeoutMs / 1000} s`);
        socket.destroy();
      }, timeoutMs);
      const resume = lastEventId === undefined ? "" : `Last-Event-ID: ${lastEventId}\r\n`;
      socket.write(
        `GET ${client.path} HTTP/1.1\r\nHost: 127.0.0.1:${this.port}\r\nAccept: text/event-stream\r\n${resume}\r\n`,
      );
      let head = "";
      let chunked: ChunkedDecoder | null = null;
      let inBody = false;
      const parser = new SseParser();
      let now = 0;
      const onFrame = (id: string | undefined, event: string | undefined, data: string) => {
        if (id !== undefined) client.lastId = id;
        if (event !== undefined && event !== "message") return;
        this.onMessage(client, data, now);
      };
      socket.on("data", (chunk: Buffer) => {
        now = wallClockMs();
        let text = chunk.toString("latin1");
        if (!inBody) {
          head += text;
          const end = head.indexOf("\r\n\r\n");
          if (end < 0) return;
          const status = head.slice(9, 12);
          if (status !== "200") {
            fail(`HTTP ${status}`);
            socket.destroy();
            return;
          }
          const headers = head.slice(0, end).toLowerCase();
          if (/\r\ntransfer-encoding:\s*chunked/.test(headers)) chunked = new ChunkedDecoder();
          text = head.slice(end + 4);
          head = "";
          inBody = true;
          settle(null);
        }
        const body = chunked ? chunked.push(text) : text;
        if (body.length > 0) parser.push(body, onFrame);
      });
      socket.on("error", (error) => fail(error.message));
      socket.on("close", () => {
        settle("closed before the response head");
        if (client.socket === socket) {
          client.socket = undefined;
          if (!client.expectedClose) client.unexpectedClose = true;
        }
      });
    });
  }

  private onMessage(client: Client, data: string, now: number): void {
    const counter = readNumberField(data, "n");
    if (Number.isNaN(counter)) return;
    if (counter <= client.lastN) {
      client.duplicates++;
      return;
    }
    if (client.lastN >= 0 && counter > client.lastN + 1) client.gaps += counter - client.lastN - 1;
    client.lastN = counter;
    client.received++;
    if (client.caughtUpAt === 0 && counter >= client.catchUpTo) client.caughtUpAt = now;
    if (this.timeMessages) this.latencies.add(now - readNumberField(data, "t"));
    this.firstReceiveAt ??= now;
    this.lastReceiveAt = now;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
