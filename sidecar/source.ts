import { DeliverPolicy, type JsMsg } from "@nats-io/jetstream";
import type { Logger } from "./log.js";
import { replayFromStream } from "./replay.js";
import { Ring } from "./ring.js";
import { encodeMessage } from "./sse.js";
import type { Subscriber } from "./subscriber.js";
import { subjectOf, topicOf } from "./topics.js";
import { describe, type NatsTransport, sleep } from "./transport.js";

/** Whether a source can take subscribers, and if not, why. */
export type SourceState =
  | { type: "starting" }
  | { type: "ready" }
  | { type: "stream_missing" }
  | { type: "failed"; reason: string }
  | { type: "stopped" };

export interface SourceOptions {
  streamName: string;
  topicPrefix: string;
  ringSize: number;
  retryWaitMs: number;
}

/**
 * Everything one route source (a stream and a topic prefix on one NATS connection) delivers.
 * One ordered consumer on `<topic_prefix>>` feeds all of the source's subscribers, however
 * many: each message is framed once, kept in a ring of recent frames, and the same bytes are
 * written to every subscriber of its topic.
 */
export class RouteSource {
  state: SourceState = { type: "starting" };
  /** The last stream sequence this source has seen (or the stream's last when it started). */
  head = 0;
  private ring: Ring | undefined;
  private readonly subscribersByTopic = new Map<string, Set<Subscriber>>();
  private readonly listeners = new Set<() => void>();
  private readonly stopping = new AbortController();
  private readonly running: Promise<void>;

  constructor(
    readonly transport: NatsTransport,
    readonly options: SourceOptions,
    private readonly log: Logger,
  ) {
    this.running = this.run();
  }

  /** Number of subscribers attached for live delivery (for tests and metrics). */
  get subscriberCount(): number {
    let count = 0;
    for (const set of this.subscribersByTopic.values()) count += set.size;
    return count;
  }

  get topicCount(): number {
    return this.subscribersByTopic.size;
  }

  /** Waits up to `timeoutMs` for the source to be ready; returns the state it is in then. */
  async whenReady(timeoutMs: number): Promise<SourceState> {
    // A connection that already failed is refused at once, not after the grace period.
    const settled = () =>
      this.state.type !== "starting" || this.transport.state.type === "nats_disconnected";
    if (this.isAvailable() || settled()) return this.state;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      const off = this.onChange(() => {
        if (settled()) done();
      });
      function done() {
        clearTimeout(timer);
        off();
        resolve();
      }
    });
    return this.state;
  }

  /** True when new subscribers can be served now. */
  isAvailable(): boolean {
    return this.state.type === "ready" && this.transport.state.type === "connected";
  }

  /**
   * Brings a subscriber up to date and then attaches it for live delivery, with no gap and no
   * duplicate: messages after its position come from the ring when the ring still holds them,
   * otherwise from a replay consumer of its own, and the hand-over to live delivery happens
   * synchronously, between two messages of the live consumer.
   */
  async attach(subscriber: Subscriber, signal: AbortSignal): Promise<void> {
    const ring = this.ring;
    if (!ring) throw new Error("source is not ready");
    // Replay from NATS until the ring covers the rest. `head` is read before each replay: the
    // replay consumer sees at least every message up to it, so afterwards the subscriber's
    // position is at least that head even when no message matched its topics.
    while (!ring.covers(subscriber.position) && !signal.aborted) {
      const target = this.head;
      await this.replay(subscriber, signal);
      subscriber.position = Math.max(subscriber.position, target);
    }
    if (signal.aborted || subscriber.closed) return;
    for (const entry of ring.after(subscriber.position)) {
      if (subscriber.topics.has(entry.topic)) subscriber.deliver(entry.seq, entry.frame);
    }
    // Nothing between the ring and live: everything up to `head` was in the ring.
    subscriber.position = Math.max(subscriber.position, this.head);
    for (const topic of subscriber.topics) {
      let set = this.subscribersByTopic.get(topic);
      if (!set) {
        set = new Set();
        this.subscribersByTopic.set(topic, set);
      }
      set.add(subscriber);
    }
  }

  /** Removes a subscriber; a topic nobody watches any more leaves no map entry behind. */
  detach(subscriber: Subscriber): void {
    for (const topic of subscriber.topics) {
      const set = this.subscribersByTopic.get(topic);
      if (!set) continue;
      set.delete(subscriber);
      if (set.size === 0) this.subscribersByTopic.delete(topic);
    }
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    this.setState({ type: "stopped" });
    await this.running;
  }

  private async replay(subscriber: Subscriber, signal: AbortSignal): Promise<void> {
    const { js, jsm } = await this.transport.connected(signal);
    const { streamName, topicPrefix } = this.options;
    await replayFromStream(js, jsm, {
      stream: streamName,
      subjects: [...subscriber.topics].map((topic) => subjectOf(topicPrefix, topic)),
      afterSeq: subscriber.position,
      signal,
      onMessage: (seq, subject, data, time) =>
        subscriber.writeAndWait(seq, encodeMessage(seq, topicOf(topicPrefix, subject), data, time)),
    });
  }

  private setState(state: SourceState): void {
    this.state = state;
    for (const listener of [...this.listeners]) listener();
  }

  /** Keeps one ordered consumer running, starting again after any failure. */
  private async run(): Promise<void> {
    const signal = this.stopping.signal;
    this.transport.onChange(() => {
      for (const listener of [...this.listeners]) listener();
    });
    while (!signal.aborted) {
      try {
        await this.consume(signal);
        continue;
      } catch (error) {
        if (signal.aborted) break;
        if (isStreamNotFound(error)) {
          if (this.state.type !== "stream_missing") {
            const { streamName, topicPrefix } = this.options;
            this.log.error(
              `stream ${streamName} does not exist; clients are refused until it does`,
              {
                stream: streamName,
                fix: `nuts stream add ${streamName} --subjects '${topicPrefix || ""}>'`,
              },
            );
          }
          this.setState({ type: "stream_missing" });
        } else {
          this.log.warn("live consumer stopped; starting it again", {
            stream: this.options.streamName,
            reason: describe(error),
          });
          this.setState({ type: "failed", reason: describe(error) });
        }
      }
      await sleep(this.options.retryWaitMs, signal);
    }
  }

  private async consume(signal: AbortSignal): Promise<void> {
    const { js, jsm } = await this.transport.connected(signal);
    const { streamName, topicPrefix, ringSize } = this.options;
    if (!this.ring) {
      const info = await jsm.streams.info(streamName);
      this.head = info.state.last_seq;
      this.ring = new Ring(ringSize, this.head);
    } else {
      await jsm.streams.info(streamName);
    }
    const consumer = await js.consumers.get(streamName, {
      ...(topicPrefix === "" ? {} : { filter_subjects: `${topicPrefix}>` }),
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: this.head + 1,
    });
    const messages = await consumer.consume();
    const stop = () => messages.stop();
    signal.addEventListener("abort", stop, { once: true });
    // After NATS comes back, start a fresh consumer after `head`: nats.js's ordered consumer
    // can stall for tens of seconds after a server restart.
    let reconnected = false;
    const offTransport = this.transport.onChange((state) => {
      if (state.type === "connected") {
        reconnected = true;
        messages.stop();
      }
    });
    this.setState({ type: "ready" });
    this.log.info("live consumer started", {
      stream: streamName,
      filter: `${topicPrefix}>`,
      after_seq: this.head,
    });
    try {
      for await (const message of messages) this.dispatch(message);
      if (!signal.aborted && !reconnected) throw new Error("the live consumer ended");
    } finally {
      offTransport();
      signal.removeEventListener("abort", stop);
    }
  }

  /** Frames a message once and writes the same bytes to every subscriber of its topic. */
  private dispatch(message: JsMsg): void {
    if (message.seq <= this.head) return;
    const topic = topicOf(this.options.topicPrefix, message.subject);
    const frame = encodeMessage(message.seq, topic, message.data, message.time);
    this.head = message.seq;
    this.ring?.push({ seq: message.seq, topic, frame });
    const subscribers = this.subscribersByTopic.get(topic);
    if (!subscribers) return;
    for (const subscriber of subscribers) subscriber.deliver(message.seq, frame);
  }
}

function isStreamNotFound(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: number | string }).code;
  return code === 10059 || /stream not found/i.test(error.message);
}
