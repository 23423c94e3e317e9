/**
 * Subscription events and the list of active subscriptions (Mercure's `subscriptions` option),
 * the same on every node:
 *
 * - each active subscription (one subscriber, one of its selectors) is a record in a JetStream
 *   stream of its own, `<stream>_SUBSCRIPTIONS`, on subject
 *   `nuts_mercure_subscriptions.<stream>.<topic>.<subscriber>` (both base64url), one message per
 *   subject, with a maximum age (`subscriptions_ttl`, default 30 s). Each node re-writes its own
 *   subscribers' records every third of that age and removes them when they leave; the records
 *   of a node that dies age out.
 * - when a subscriber connects and leaves, a private update per subscription is published on
 *   the hub's stream, topic `<hub>/subscriptions/<topic>/<subscriber>` (both query-escaped),
 *   data the subscription's JSON-LD with `active` true, then false; so it reaches subscribers
 *   whose `mercure.subscribe` claim matches that topic, on any node.
 */
import { createHash } from "node:crypto";
import type { JetStreamManager } from "@nats-io/jetstream";
import type { Logger } from "../sidecar/log.js";
import { describe, type NatsTransport } from "../sidecar/transport.js";
import type { MercureHubConfig } from "./config.js";
import {
  decodeHeader,
  generateId,
  Header,
  idSubject,
  type Update,
  updateHeaders,
} from "./update.js";

export const JSONLD_CONTEXT = "https://mercure.rocks/";
const TIMEOUT_MS = 5_000;

/** One subscription as the API lists it and its events carry. */
export interface Subscription {
  "@context"?: string;
  id: string;
  type: "Subscription";
  subscriber: string;
  topic: string;
  active: boolean;
  lastEventID?: string;
  payload?: unknown;
}

/** Go's url.QueryEscape, which Mercure's hub escapes the id's path segments with. */
export function queryEscape(text: string): string {
  return encodeURIComponent(text)
    .replace(/[!'()*]/g, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, "+");
}

export function queryUnescape(text: string): string {
  return decodeURIComponent(text.replace(/\+/g, " "));
}

/** `<hub>/subscriptions/<topic>/<subscriber>`: the subscription's id and its events' topic. */
export function subscriptionId(hubPath: string, topic: string, subscriber: string): string {
  return `${hubPath}/subscriptions/${queryEscape(topic)}/${queryEscape(subscriber)}`;
}

interface LocalSubscriber {
  id: string;
  topics: readonly string[];
  payload: unknown;
  /** Its join's writes: its leave waits for them, so a record is never written after its purge. */
  joined: Promise<void>;
}

export class SubscriptionRegistry {
  readonly streamName: string;
  private readonly subjectRoot: string;
  private readonly local = new Map<string, LocalSubscriber>();
  private ready: Promise<void> | undefined;
  private refresher: NodeJS.Timeout | undefined;
  /** Writes in flight, so that close() sends the last leave events before NATS closes. */
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly config: MercureHubConfig,
    private readonly transport: NatsTransport,
    private readonly log: Logger,
  ) {
    this.streamName = `${config.streamName}_SUBSCRIPTIONS`;
    this.subjectRoot = `nuts_mercure_subscriptions.${config.streamName}`;
  }

  /** A subscriber connected: its records, and one `active: true` event per selector. */
  join(id: string, topics: readonly string[], payload: unknown): void {
    const subscriber: LocalSubscriber = { id, topics, payload, joined: Promise.resolve() };
    subscriber.joined = this.track(this.write(subscriber, true));
    this.local.set(id, subscriber);
    this.refresher ??= setInterval(
      () => {
        for (const each of this.local.values()) this.track(this.record(each));
      },
      Math.max(100, Math.floor(this.config.subscriptionsTtlMs / 3)),
    );
  }

  /** A subscriber left: its records go, and one `active: false` event per selector. */
  leave(id: string): void {
    const subscriber = this.local.get(id);
    if (subscriber === undefined) return;
    this.local.delete(id);
    if (this.local.size === 0) {
      clearInterval(this.refresher);
      this.refresher = undefined;
    }
    this.track(subscriber.joined.then(() => this.write(subscriber, false)));
  }

  /** The active subscriptions on every node (of one topic, when given) and the hub's last id. */
  async list(topic?: string): Promise<{ lastEventID: string; subscriptions: Subscription[] }> {
    const { jsm } = await this.open();
    const filter =
      topic === undefined ? `${this.subjectRoot}.>` : `${this.subjectRoot}.${encode(topic)}.*`;
    const info = await jsm.streams.info(this.streamName, { subjects_filter: filter });
    const subjects = Object.keys(info.state.subjects ?? {}).sort();
    const records = await Promise.all(
      subjects.map((subject) =>
        jsm.streams.getMessage(this.streamName, { last_by_subj: subject }).catch(() => null),
      ),
    );
    const subscriptions: Subscription[] = [];
    for (const record of records) {
      if (record === null) continue;
      try {
        subscriptions.push(record.json<Subscription>());
      } catch {
        // not a record this hub wrote
      }
    }
    return { lastEventID: await this.lastEventId(jsm), subscriptions };
  }

  async close(): Promise<void> {
    clearInterval(this.refresher);
    this.refresher = undefined;
    for (const id of [...this.local.keys()]) this.leave(id);
    await Promise.allSettled([...this.pending]);
  }

  private track(work: Promise<void>): Promise<void> {
    const tracked = work.catch((error) => {
      this.log.warn("mercure subscription record or event not written", {
        hub: this.config.name,
        reason: describe(error),
      });
    });
    this.pending.add(tracked);
    void tracked.finally(() => this.pending.delete(tracked));
    return tracked;
  }

  private async write(subscriber: LocalSubscriber, active: boolean): Promise<void> {
    const { js } = await this.open();
    if (active) await this.record(subscriber);
    else {
      const { jsm } = await this.open();
      await Promise.all(
        subscriber.topics.map((topic) =>
          jsm.streams.purge(this.streamName, { filter: this.subject(topic, subscriber.id) }),
        ),
      );
    }
    for (const topic of subscriber.topics) {
      const subscription = this.subscription(subscriber, topic, active);
      const update: Update = {
        id: generateId(),
        topics: [subscription.id],
        data: JSON.stringify({ "@context": JSONLD_CONTEXT, ...subscription }, null, 2),
        private: true,
      };
      await js.publish(idSubject(this.config.subjectPrefix, update.id), update.data, {
        headers: updateHeaders(update),
        timeout: TIMEOUT_MS,
      });
    }
  }

  private async record(subscriber: LocalSubscriber): Promise<void> {
    const { js } = await this.open();
    await Promise.all(
      subscriber.topics.map((topic) =>
        js.publish(
          this.subject(topic, subscriber.id),
          JSON.stringify(this.subscription(subscriber, topic, true)),
          { timeout: TIMEOUT_MS },
        ),
      ),
    );
  }

  private subscription(subscriber: LocalSubscriber, topic: string, active: boolean): Subscription {
    return {
      id: subscriptionId(this.config.path, topic, subscriber.id),
      type: "Subscription",
      subscriber: subscriber.id,
      topic,
      active,
      ...(subscriber.payload === undefined ? {} : { payload: subscriber.payload }),
    };
  }

  private subject(topic: string, subscriber: string): string {
    return `${this.subjectRoot}.${encode(topic)}.${encode(subscriber)}`;
  }

  /** The connection, once the records' stream exists (made, or updated to this TTL). */
  private async open() {
    const connected = await this.transport.connected(AbortSignal.timeout(TIMEOUT_MS));
    this.ready ??= this.ensureStream(connected.jsm).catch((error) => {
      this.ready = undefined;
      throw error;
    });
    await this.ready;
    return connected;
  }

  private async ensureStream(jsm: JetStreamManager): Promise<void> {
    const config = {
      name: this.streamName,
      subjects: [`${this.subjectRoot}.>`],
      max_msgs_per_subject: 1,
      max_age: this.config.subscriptionsTtlMs * 1_000_000,
      allow_direct: true,
    };
    try {
      await jsm.streams.add(config);
    } catch {
      await jsm.streams.update(this.streamName, config);
    }
  }

  /** The id of the hub's last update, or `earliest` when it has none. */
  private async lastEventId(jsm: JetStreamManager): Promise<string> {
    const info = await jsm.streams.info(this.config.streamName);
    if (info.state.messages === 0) return "earliest";
    const last = await jsm.streams
      .getMessage(this.config.streamName, { seq: info.state.last_seq })
      .catch(() => null);
    const id = last?.header.get(Header.Id);
    return id ? decodeHeader(id) : "earliest";
  }
}

/** A NATS subject token for any text: base64url, or its sha256 when that would be long. */
function encode(text: string): string {
  const token = Buffer.from(text).toString("base64url");
  return token.length <= 200 ? token : createHash("sha256").update(text).digest("base64url");
}
