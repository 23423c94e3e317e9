import { DeliverPolicy, type JsMsg } from "@nats-io/jetstream";
import { type NatsConnection, nuid } from "@nats-io/transport-node";
import { type StreamEvent, watchStream } from "./advisories.js";
import {
  CONSUMER_HEARTBEAT_MS,
  describeLoss,
  isStreamNotFound,
  watchConsumer,
} from "./consumer-health.js";
import { type MessageFramer, nutsFramer } from "./framer.js";

export type { MessageFramer, StreamMessage } from "./framer.js";

import type { Logger } from "./log.js";
import { replayFromStream } from "./replay.js";
import { Ring, type RingEntry } from "./ring.js";
import { encodeEvent } from "./sse.js";
import { joinFrames, type Subscriber } from "./subscriber.js";
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
  /** Frames larger than this become a `skipped` event; null: no limit. */
  maxEventSize: number | null;
  retryWaitMs: number;
  /** Frames the source's messages for a protocol of its own (Mercure). @default nutsFramer */
  framer?: MessageFramer;
}

/**
 * Bytes of missed frames a client may be written at once, without waiting for it, as it goes
 * live; more are written at its own pace first, so a far-behind client is not cut as too slow.
 */
const SYNCHRONOUS_CATCH_UP_BYTES = 16 * 1024;

/** How long the server keeps a live consumer that nobody pulls from. */
const ABANDONED_CONSUMER_MS = 30_000;

/** How far a replay got. */
export type AttachResult =
  /** `fromNats`: some of what the client missed was replayed from the stream, not the ring. */
  | { type: "live"; fromNats: boolean }
  | { type: "replay_limit"; messages: number }
  | { type: "aborted" };

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
  /** Replays from NATS running now, each with a consumer of its own (for metrics). */
  replaysRunning = 0;
  private ring: Ring | undefined;
  /** When the stream was created: a different value means it was deleted and made again. */
  private streamCreated: string | undefined;
  private readonly subscribersByTopic = new Map<string, Set<Subscriber>>();
  /** Subscribers with wildcard topics, matched against every message. */
  private readonly patternSubscribers = new Set<Subscriber>();
  /** Messages framed in this tick, not written yet. */
  private pending: RingEntry[] = [];
  private readonly listeners = new Set<() => void>();
  private readonly stopping = new AbortController();
  private readonly running: Promise<void>;
  /** Names of our live consumers start with this, to recognise their deletion. */
  private readonly consumerPrefix = `nuts_${nuid.next()}`;
  private consumerGeneration = 0;
  private readonly framer: MessageFramer;
  private advisories: { nc: NatsConnection; watch: { stop(): void } } | undefined;
  private boundsLookup: Promise<{ first: number; last: number }> | undefined;
  /**
   * Set when the live consumer must be replaced and the stream looked at again (NATS came back,
   * the stream changed, the consumer was lost). A request made while a consumer is being set up
   * is kept and acted on as soon as it runs.
   */
  private restartRequested = false;
  /** Stops the running live consumer, or ends the wait between two attempts. */
  private interrupt: (() => void) | undefined;

  constructor(
    readonly transport: NatsTransport,
    readonly options: SourceOptions,
    private readonly log: Logger,
  ) {
    this.framer = options.framer ?? nutsFramer(options.topicPrefix, options.maxEventSize);
    this.running = this.run();
  }

  /** Number of subscribers attached for live delivery (for tests and metrics). */
  get subscriberCount(): number {
    return this.attachedSubscribers().size;
  }

  get topicCount(): number {
    return this.subscribersByTopic.size + (this.patternSubscribers.size > 0 ? 1 : 0);
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
   * The first and last sequence the stream holds now, for clients that resume: the ring may still
   * hold messages the stream has dropped (limits, age), and a cursor may be from a stream since
   * recreated. Concurrent callers share one lookup, so a reconnect storm costs a few requests.
   */
  streamBounds(): Promise<{ first: number; last: number }> {
    this.boundsLookup ??= (async () => {
      try {
        const { jsm } = await this.transport.connected(this.stopping.signal);
        const { state } = await jsm.streams.info(this.options.streamName);
        return { first: state.first_seq, last: state.last_seq };
      } finally {
        this.boundsLookup = undefined;
      }
    })();
    return this.boundsLookup;
  }

  /**
   * Brings a subscriber up to date and then attaches it for live delivery, with no gap and no
   * duplicate: messages after its position come from the ring when the ring still holds them,
   * otherwise from a replay consumer of its own, and the hand-over to live delivery happens
   * synchronously, between two messages of the live consumer.
   */
  async attach(
    subscriber: Subscriber,
    signal: AbortSignal,
    replayLimit: number | null,
  ): Promise<AttachResult> {
    let replayed = 0;
    let fromNats = false;
    for (;;) {
      if (signal.aborted || subscriber.closed) return { type: "aborted" };
      if (!this.currentRing().covers(subscriber.position)) {
        // From NATS. `head` is read first: the replay consumer sees at least every message up
        // to it, so afterwards the subscriber is positioned at least there even when no
        // message matched its topics.
        const target = this.head;
        const budget = replayLimit === null ? null : replayLimit - replayed;
        fromNats = true;
        const result = await this.replay(subscriber, signal, budget);
        replayed += result.delivered;
        if (signal.aborted) return { type: "aborted" };
        if (!result.complete) return { type: "replay_limit", messages: replayed };
        subscriber.position = Math.max(subscriber.position, target);
        continue;
      }
      // From the ring: the ring holds everything after the position, up to `head`.
      const upTo = this.head;
      const missed = [...this.currentRing().after(subscriber.position)].filter((entry) =>
        subscriber.filter.matches(entry.topic, entry),
      );
      const missedBytes = missed.reduce((sum, entry) => sum + entry.frame.byteLength, 0);
      if (missedBytes <= SYNCHRONOUS_CATCH_UP_BYTES) {
        // The hand-over: these few and then live delivery, with no await in between.
        subscriber.deliverAll(missed);
        subscriber.position = Math.max(subscriber.position, upTo);
        break;
      }
      // Many to catch up on: written at the client's pace, like a replay, then look again.
      for (const batch of batchesOf(missed, SYNCHRONOUS_CATCH_UP_BYTES)) {
        await subscriber.deliverAndWait(batch);
        if (signal.aborted || subscriber.closed) return { type: "aborted" };
      }
      subscriber.position = Math.max(subscriber.position, upTo);
    }
    // The catch-up write may have cut it (over its bound); its clean-up has run already.
    if (subscriber.closed) return { type: "aborted" };
    if (subscriber.filter.patterns.length > 0) this.patternSubscribers.add(subscriber);
    for (const topic of subscriber.filter.literals) {
      let set = this.subscribersByTopic.get(topic);
      if (!set) {
        set = new Set();
        this.subscribersByTopic.set(topic, set);
      }
      set.add(subscriber);
    }
    return { type: "live", fromNats };
  }

  /** Removes a subscriber; a topic nobody watches any more leaves no map entry behind. */
  detach(subscriber: Subscriber): void {
    this.patternSubscribers.delete(subscriber);
    for (const topic of subscriber.filter.literals) {
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
    this.advisories?.watch.stop();
    this.setState({ type: "stopped" });
    await this.running;
  }

  /** Every subscriber attached for live delivery, once each (a client may watch several topics). */
  private attachedSubscribers(): Set<Subscriber> {
    const attached = new Set<Subscriber>(this.patternSubscribers);
    for (const set of this.subscribersByTopic.values()) for (const each of set) attached.add(each);
    return attached;
  }

  private currentRing(): Ring {
    if (!this.ring) throw new Error("source is not ready");
    return this.ring;
  }

  private async replay(
    subscriber: Subscriber,
    signal: AbortSignal,
    budget: number | null,
  ): Promise<{ delivered: number; complete: boolean }> {
    const { js, jsm } = await this.transport.connected(signal);
    const { streamName, topicPrefix } = this.options;
    this.replaysRunning++;
    try {
      return await replayFromStream(js, jsm, {
        stream: streamName,
        subjects: subscriber.filter.replaySubjects(topicPrefix),
        afterSeq: subscriber.position,
        maxMessages: budget,
        signal,
        onMessage: async (message) => {
          const entry = this.framer.frame(message);
          if (!subscriber.filter.matches(entry.topic, entry)) return false;
          await subscriber.deliverAndWait([entry]);
          return true;
        },
        onConsumerLost: (reason, afterSeq) => {
          this.log.warn("a replay consumer was lost; the replay goes on with a new one", {
            stream: streamName,
            after_seq: afterSeq,
            reason,
          });
        },
      });
    } finally {
      this.replaysRunning--;
    }
  }

  private setState(state: SourceState): void {
    this.state = state;
    for (const listener of [...this.listeners]) listener();
  }

  /** Keeps one ordered consumer running, starting again after any failure. */
  private async run(): Promise<void> {
    const signal = this.stopping.signal;
    this.transport.onChange((state) => {
      // After NATS comes back, start a fresh consumer after `head`: nats.js's ordered consumer
      // can stall for tens of seconds after a server restart.
      if (state.type === "connected") this.restartConsumer();
      for (const listener of [...this.listeners]) listener();
    });
    while (!signal.aborted) {
      try {
        await this.consume(signal);
        continue;
      } catch (error) {
        if (signal.aborted) break;
        if (isStreamNotFound(error)) {
          this.streamGone();
        } else {
          this.log.warn("live consumer stopped; starting it again", {
            stream: this.options.streamName,
            reason: describe(error),
          });
          this.setState({ type: "failed", reason: describe(error) });
        }
      }
      await this.pause(this.options.retryWaitMs, signal);
    }
  }

  /** Waits before another attempt; a restart request (the stream came back) ends it early. */
  private async pause(ms: number, signal: AbortSignal): Promise<void> {
    if (this.restartRequested) return;
    const woken = new AbortController();
    this.interrupt = () => woken.abort();
    try {
      await sleep(ms, AbortSignal.any([signal, woken.signal]));
    } finally {
      this.interrupt = undefined;
    }
  }

  /**
   * Replaces the live consumer and looks at the stream again: whatever NUTS heard (an advisory,
   * the consumer's own status, a reconnect), the stream's info decides what happened, so each
   * change reaches the subscribers once, with the reason the stream shows.
   */
  private restartConsumer(): void {
    this.restartRequested = true;
    this.interrupt?.();
  }

  /**
   * The stream is not there. Subscribers of the stream that was are told once (a deletion may
   * be heard from an advisory, the consumer, and a failed restart, in any order); new clients
   * are refused until it exists again.
   */
  private streamGone(): void {
    const { streamName, topicPrefix } = this.options;
    if (this.state.type !== "stream_missing") {
      this.log.error(`stream ${streamName} does not exist; clients are refused until it does`, {
        stream: streamName,
        fix: `nuts stream add ${streamName} --subjects '${topicPrefix}>'`,
      });
    }
    this.setState({ type: "stream_missing" });
    if (this.streamCreated === undefined) return;
    this.streamCreated = undefined;
    this.log.warn("the stream was deleted; subscribers are told", { stream: streamName });
    this.resetAll("stream_deleted", 0);
  }

  private async consume(signal: AbortSignal): Promise<void> {
    const { nc, js, jsm } = await this.transport.connected(signal);
    const { streamName, topicPrefix, ringSize } = this.options;
    // What is asked from here on is not seen by the stream info read below.
    this.restartRequested = false;
    // Before anything can fail: a deletion must be heard even while no consumer runs.
    this.watchAdvisories(nc);
    const info = await jsm.streams.info(streamName);
    if (!this.ring) {
      this.head = info.state.last_seq;
      this.ring = new Ring(ringSize, this.head);
    } else if (
      this.streamCreated !== undefined &&
      (info.created !== this.streamCreated || info.state.last_seq < this.head)
    ) {
      this.log.warn("the stream was made again; subscribers are told", { stream: streamName });
      this.resetAll("stream_recreated", info.state.last_seq);
    } else if (this.streamCreated === undefined && this.state.type === "stream_missing") {
      // Back after a deletion: its subscribers were told then; new ones start at its head.
      this.head = info.state.last_seq;
      this.ring = new Ring(ringSize, this.head);
    }
    this.streamCreated = info.created;
    const consumer = await js.consumers.get(streamName, {
      // A new name each time: after a server pause the old consumer may still exist, and
      // reusing its name fails ("consumer already exists") or silently resumes a stale pull.
      name_prefix: `${this.consumerPrefix}_${++this.consumerGeneration}`,
      ...(topicPrefix === "" ? {} : { filter_subjects: `${topicPrefix}>` }),
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: this.head + 1,
      // One the sidecar could not delete (it lost NATS, or the node came back later) goes away
      // by itself, not after nats.js's default of five minutes.
      inactive_threshold: ABANDONED_CONSUMER_MS,
    });
    const messages = await consumer.consume({ idle_heartbeat: CONSUMER_HEARTBEAT_MS });
    const stop = () => messages.stop();
    this.interrupt = stop;
    signal.addEventListener("abort", stop, { once: true });
    watchConsumer(messages, (loss) => {
      this.log.warn("the live consumer was lost; starting a new one", {
        stream: streamName,
        reason: describeLoss(loss),
        after_seq: this.head,
      });
      this.restartConsumer();
    });
    // Asked for while this one was being set up (the stream changed, NATS reconnected), or the
    // source was stopped then: an abort listener added after the abort never runs.
    if (this.restartRequested || signal.aborted) stop();
    this.setState({ type: "ready" });
    this.log.info("live consumer started", {
      stream: streamName,
      filter: `${topicPrefix}>`,
      after_seq: this.head,
    });
    try {
      for await (const message of messages) this.dispatch(message);
      if (!signal.aborted && !this.restartRequested) throw new Error("the live consumer ended");
    } finally {
      this.interrupt = undefined;
      signal.removeEventListener("abort", stop);
      // Not left to expire on the server (minutes, for an ordered consumer); a dead node's
      // consumer does not answer, so nothing waits for this.
      consumer.delete().catch(() => {});
    }
  }

  /**
   * Follows the stream's advisories for as long as the connection lasts, not just while a
   * consumer runs: a deletion deletes the consumer first, and its advisory must still be heard.
   */
  private watchAdvisories(nc: NatsConnection): void {
    if (this.advisories?.nc === nc) return;
    this.advisories?.watch.stop();
    this.advisories = {
      nc,
      watch: watchStream(nc, this.options.streamName, (event) => this.onStreamEvent(event)),
    };
  }

  /** Reacts to what happened to the stream outside the sidecar. */
  private onStreamEvent(event: StreamEvent): void {
    switch (event.type) {
      case "stream_deleted":
      case "stream_created":
        // The stream's info, read by the new consumer, says what to tell subscribers.
        this.restartConsumer();
        break;
      case "stream_purged":
        // Purged messages must not be served from memory to a client resuming from before them.
        this.log.info("the stream was purged; subscribers are told", {
          stream: this.options.streamName,
        });
        this.resetAll("stream_purged", this.head);
        break;
      case "consumer_deleted":
        // Only the running one: the sidecar deletes the consumers it replaced itself.
        if (event.consumer.startsWith(`${this.consumerPrefix}_${this.consumerGeneration}_`)) {
          this.log.warn("the live consumer was deleted; starting a new one", {
            stream: this.options.streamName,
          });
          this.restartConsumer();
        }
        break;
    }
  }

  /**
   * Starts over at `position`: the ring is emptied and every live subscriber gets an
   * `event: reset` whose id moves its Last-Event-ID there. After a deletion their streams end,
   * so they come back (and are refused with a retry hint) until the stream exists again.
   */
  private resetAll(
    reason: "stream_recreated" | "stream_deleted" | "stream_purged",
    position: number,
  ): void {
    // What came before the reset reaches the clients before the reset does.
    this.flush();
    this.head = position;
    this.ring = new Ring(this.options.ringSize, position);
    const frame = encodeEvent({ id: position, event: "reset", data: JSON.stringify({ reason }) });
    const subscribers = this.attachedSubscribers();
    for (const subscriber of subscribers) {
      subscriber.reset(position, frame, reason);
      if (reason !== "stream_purged") subscriber.close({ type: "stream_reset", reason });
    }
  }

  /**
   * Frames a message once. It is written when the messages that arrived with it have been
   * framed too (`flush`, on the next tick): a burst costs each client one write, not one each.
   */
  private dispatch(message: JsMsg): void {
    if (message.seq <= this.head) return;
    const entry = this.framer.frame(message);
    this.head = message.seq;
    this.ring?.push(entry);
    if (this.pending.push(entry) === 1) process.nextTick(() => this.flush());
  }

  /**
   * Writes the pending messages: to a client of one topic the same bytes as to every other
   * client of it, to a client of several topics or patterns its own selection, in stream order.
   * A client that attached in between already has some of them; `position` skips those.
   */
  private flush(): void {
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    const byTopic = new Map<string, RingEntry[]>();
    for (const entry of batch) {
      const entries = byTopic.get(entry.topic);
      if (entries) entries.push(entry);
      else byTopic.set(entry.topic, [entry]);
    }
    const several = new Set<Subscriber>(this.patternSubscribers);
    for (const [topic, entries] of byTopic) {
      const subscribers = this.subscribersByTopic.get(topic);
      if (!subscribers) continue;
      const joined = joinFrames(entries);
      for (const subscriber of subscribers) {
        if (subscriber.filter.onlyTopic === undefined) several.add(subscriber);
        else subscriber.deliverJoined(entries, joined);
      }
    }
    for (const subscriber of several) {
      subscriber.deliverAll(batch.filter((entry) => subscriber.filter.matches(entry.topic, entry)));
    }
  }
}

/** Consecutive runs of entries of about `bytes` each (a longer single entry is a run alone). */
function* batchesOf<T extends { frame: Uint8Array }>(entries: readonly T[], bytes: number) {
  let batch: T[] = [];
  let size = 0;
  for (const entry of entries) {
    if (batch.length > 0 && size + entry.frame.byteLength > bytes) {
      yield batch;
      batch = [];
      size = 0;
    }
    batch.push(entry);
    size += entry.frame.byteLength;
  }
  if (batch.length > 0) yield batch;
}
