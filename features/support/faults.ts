/**
 * What the fault scenarios need on top of the other support code: many EventSource clients
 * that record every event (resets too) and every request they make, a publisher that keeps a
 * steady rate while a fault happens, a raw client that stops reading, the sidecar's memory, and
 * the one check all of them end with: every published message arrived exactly once, in order.
 */
import { readFileSync } from "node:fs";
import { type IncomingMessage, request } from "node:http";
import { After } from "@cucumber/cucumber";
import { EventSource, type FetchLike } from "eventsource";
import { eventually, sleep } from "./wait.js";
import type { NutsWorld } from "./world.js";

/** The event types a fault may bring; `reset` and `unavailable` are what clients are told. */
const EVENT_TYPES = ["connected", "message", "reset", "unavailable"] as const;

export interface SeenEvent {
  type: string;
  /** The client's last event id after this event (what it would send on a reconnect). */
  lastEventId: string;
  data: string;
}

export interface Request {
  /** The `Last-Event-ID` header the client sent, if any. */
  lastEventId: string | undefined;
  /** The last event id the client had seen when it made the request. */
  lastSeenId: string | undefined;
  status?: number;
  /** The response's headers (a load balancer's say which node served it). */
  headers?: Headers;
}

/** One published message as a client receives it: its stream sequence and payload counter. */
export interface Delivery {
  seq: number;
  n: number;
}

/** An EventSource (the `eventsource` package: reconnects with Last-Event-ID as browsers do). */
export class RecordingClient {
  readonly events: SeenEvent[] = [];
  readonly requests: Request[] = [];
  private readonly source: EventSource;

  constructor(readonly url: string) {
    const recordingFetch: FetchLike = async (input, init) => {
      const headers = init.headers as Record<string, string>;
      const requestSeen: Request = {
        lastEventId: headers["Last-Event-ID"],
        lastSeenId: this.events.at(-1)?.lastEventId,
      };
      this.requests.push(requestSeen);
      const response = await fetch(input, init);
      requestSeen.status = response.status;
      requestSeen.headers = response.headers;
      return response;
    };
    this.source = new EventSource(url, { fetch: recordingFetch });
    for (const type of EVENT_TYPES) {
      this.source.addEventListener(type, (event) => {
        this.events.push({ type, lastEventId: event.lastEventId, data: String(event.data) });
      });
    }
  }

  ofType(type: string): SeenEvent[] {
    return this.events.filter((event) => event.type === type);
  }

  /** How many `message` events arrived (cheap enough to poll for a hundred clients). */
  get messageCount(): number {
    let count = 0;
    for (const event of this.events) if (event.type === "message") count++;
    return count;
  }

  deliveries(): Delivery[] {
    return this.ofType("message").map((event) => ({
      seq: Number(event.lastEventId),
      n: payloadCounter((JSON.parse(event.data) as { payload: unknown }).payload),
    }));
  }

  summary(): string {
    const events = this.events.map((event) => `${event.type}#${event.lastEventId}`);
    const shown = events.length > 40 ? ["…", ...events.slice(-40)] : events;
    const requests = this.requests.map(
      (each) => `${each.status ?? "…"}(Last-Event-ID ${each.lastEventId ?? "-"})`,
    );
    return `${this.url}: events [${shown.join(", ")}], requests [${requests.join(", ")}]`;
  }

  close(): void {
    this.source.close();
  }
}

/** The `n` of a `{"n": 12, ...}` payload: the publisher's own count of the message. */
function payloadCounter(payload: unknown): number {
  const n = (payload as { n?: unknown } | null)?.n;
  return typeof n === "number" ? n : Number.NaN;
}

/**
 * Publishes `{"n": <count>}` at a steady rate until stopped, one message at a time, each
 * retried until JetStream stores it (once: the retry carries the same message id), so a
 * fault slows it down but never makes it skip or repeat. Every stored message is recorded in
 * the world's `published` list, with the same counter the other publishing steps use.
 */
export class SteadyPublisher {
  private stopped = false;
  private readonly running: Promise<void>;

  /** `publish` stores one message and returns its stream sequence (default: the world's NATS). */
  constructor(
    private readonly world: NutsWorld,
    private readonly subject: string,
    private readonly perSecond: number,
    private readonly publish: (subject: string, payload: string) => Promise<number> = (
      subject,
      payload,
    ) => world.nats.publish(subject, payload),
  ) {
    this.running = this.run();
    // stop() reports a failure; until then, keep it from being an unhandled rejection.
    this.running.catch(() => {});
  }

  get sent(): number {
    return this.world.published.length;
  }

  async sentAtLeast(count: number, timeoutMs = 30_000): Promise<void> {
    await eventually(`the publisher to have sent ${count} messages`, () => this.sent >= count, {
      timeoutMs,
      describe: () => `${this.sent} sent`,
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }

  private async run(): Promise<void> {
    const intervalMs = 1000 / this.perSecond;
    let due = Date.now();
    while (!this.stopped) {
      const payload = JSON.stringify({ n: this.world.published.length + 1 });
      const seq = await this.publish(this.subject, payload);
      this.world.published.push({ subject: this.subject, payload, seq });
      due += intervalMs;
      await sleep(Math.max(0, due - Date.now()));
    }
  }
}

/**
 * A client that can stop reading: node:http with the response paused, so the kernel buffers
 * fill and the servers behind see a client that takes no bytes. Frames are kept as they
 * arrive; only complete ones count.
 */
export class RawSseClient {
  body = "";
  /** How the response ended: cleanly, or cut (connection closed without the final chunk). */
  ending: "open" | "ended" | "cut" = "open";
  status: number | undefined;
  private response: IncomingMessage | undefined;

  private constructor(readonly url: string) {}

  static async open(url: string, lastEventId?: string): Promise<RawSseClient> {
    const client = new RawSseClient(url);
    await new Promise<void>((resolve, reject) => {
      const outgoing = request(
        url,
        {
          headers: {
            Accept: "text/event-stream",
            ...(lastEventId === undefined ? {} : { "Last-Event-ID": lastEventId }),
          },
          agent: false,
        },
        (incoming) => {
          client.response = incoming;
          client.status = incoming.statusCode;
          incoming.setEncoding("utf8");
          incoming.on("data", (chunk: string) => {
            client.body += chunk;
          });
          incoming.once("end", () => {
            if (client.ending === "open") client.ending = "ended";
          });
          incoming.once("aborted", () => {
            client.ending = "cut";
          });
          incoming.once("error", () => {
            client.ending = "cut";
          });
          resolve();
        },
      );
      outgoing.once("error", (error) => {
        client.ending = "cut";
        reject(error);
      });
      outgoing.end();
    });
    return client;
  }

  /** Complete frames, as `{id, event, data}`; a frame cut in half at the end is not one. */
  frames(): { id: string | undefined; event: string; data: string }[] {
    const complete = this.body.slice(0, this.body.lastIndexOf("\n\n") + 2);
    return complete
      .split("\n\n")
      .filter((frame) => frame.split("\n").some((line) => line !== "" && !line.startsWith(":")))
      .map((frame) => {
        const lines = frame.split("\n");
        const field = (name: string) =>
          lines
            .filter((line) => line.startsWith(`${name}: `))
            .map((line) => line.slice(name.length + 2));
        return {
          id: field("id")[0],
          event: field("event")[0] ?? "message",
          data: field("data").join("\n"),
        };
      });
  }

  deliveries(): Delivery[] {
    return this.frames()
      .filter((frame) => frame.event === "message")
      .map((frame) => ({
        seq: Number(frame.id),
        n: payloadCounter((JSON.parse(frame.data) as { payload: unknown }).payload),
      }));
  }

  /** The id a browser would send on its reconnect: that of the last complete frame with one. */
  lastEventId(): string | undefined {
    return this.frames()
      .map((frame) => frame.id)
      .filter((id) => id !== undefined)
      .at(-1);
  }

  pause(): void {
    this.response?.pause();
  }

  resume(): void {
    this.response?.resume();
  }

  close(): void {
    this.response?.destroy();
  }
}

/** Samples a process's resident memory until stopped, keeping the first and largest values. */
export class MemoryWatch {
  readonly baselineBytes: number;
  peakBytes: number;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly pid: number) {
    this.baselineBytes = residentBytes(pid);
    this.peakBytes = this.baselineBytes;
    this.timer = setInterval(() => this.sample(), 50);
  }

  sample(): void {
    try {
      this.peakBytes = Math.max(this.peakBytes, residentBytes(this.pid));
    } catch {
      // the process is gone; the peak so far stands
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.sample();
  }
}

function residentBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kilobytes = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  if (kilobytes === undefined) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(kilobytes) * 1024;
}

/** The messages a client should have: every published one, as stream sequence and counter. */
export function expectedDeliveries(world: NutsWorld): Delivery[] {
  return world.published.map(({ seq, payload }) => ({
    seq,
    n: payloadCounter(JSON.parse(payload)),
  }));
}

/** Why `received` is not exactly `expected` (first difference), or undefined when it is. */
export function differenceFrom(expected: Delivery[], received: Delivery[]): string | undefined {
  const length = Math.max(expected.length, received.length);
  for (let index = 0; index < length; index++) {
    const want = expected[index];
    const got = received[index];
    if (want?.seq !== got?.seq || want?.n !== got?.n) {
      const show = (each: Delivery | undefined) => (each ? `#${each.seq} n=${each.n}` : "nothing");
      return `message ${index + 1} of ${expected.length}: expected ${show(want)}, got ${show(got)} (received ${received.length})`;
    }
  }
  return undefined;
}

/** What a fault scenario holds besides the world's own clients; cleaned up after it. */
export interface FaultState {
  clients: RecordingClient[];
  rawClients: RawSseClient[];
  publisher?: SteadyPublisher;
  memory?: MemoryWatch;
  /** Offset in the nuts run log where the current reload started. */
  logMark?: number;
  /** When the NATS server was paused (Date.now()). */
  pausedAt?: number;
  /** Figures a later step adds to the fault line. */
  notes: string[];
}

const states = new WeakMap<NutsWorld, FaultState>();

export function faults(world: NutsWorld): FaultState {
  let state = states.get(world);
  if (!state) {
    state = { clients: [], rawClients: [], notes: [] };
    states.set(world, state);
  }
  return state;
}

After(async function (this: NutsWorld) {
  const state = states.get(this);
  // A scenario that failed while NATS was paused must not leave it paused for the next one.
  this.natsServer?.server.resume();
  if (!state) return;
  for (const client of state.clients) client.close();
  for (const client of state.rawClients) client.close();
  state.memory?.stop();
  await state.publisher?.stop().catch(() => {});
});
