import type { Logger } from "../sidecar/log.js";
import { RouteSource } from "../sidecar/source.js";
import type { Subscriber } from "../sidecar/subscriber.js";
import { NatsTransport } from "../sidecar/transport.js";
import type { MercureHubConfig } from "./config.js";
import { mercureFramer } from "./framer.js";
import { TokenVerifier } from "./jwt.js";
import { SelectorCache } from "./selector.js";
import { SubscriptionRegistry } from "./subscriptions.js";

/**
 * One Mercure hub: its NATS transport, one route source (one live consumer on the hub's
 * subjects, the ring, the fan-out) framing updates the Mercure way, the token verifiers, and
 * the connected subscribers with their heartbeat.
 */
export class MercureHub {
  readonly source: RouteSource;
  readonly transport: NatsTransport;
  readonly publisherTokens: TokenVerifier;
  readonly subscriberTokens: TokenVerifier | null;
  readonly selectors = new SelectorCache();
  readonly subscribers = new Set<Subscriber>();
  /** Subscription records and events; null without the `subscriptions` option. */
  readonly subscriptions: SubscriptionRegistry | null;
  private ticker: NodeJS.Timeout | undefined;

  constructor(
    readonly config: MercureHubConfig,
    readonly log: Logger,
  ) {
    this.transport = new NatsTransport(config.nats, log);
    this.source = new RouteSource(
      this.transport,
      {
        streamName: config.streamName,
        topicPrefix: config.subjectPrefix,
        ringSize: config.ringSize,
        maxEventSize: null,
        retryWaitMs: config.nats.reconnectWaitMs,
        framer: mercureFramer,
      },
      log,
    );
    this.publisherTokens = new TokenVerifier(config.publisherKey, "mercure");
    this.subscriberTokens =
      config.subscriberKey === null ? null : new TokenVerifier(config.subscriberKey, "mercure");
    this.subscriptions = config.subscriptions
      ? new SubscriptionRegistry(config, this.transport, log)
      : null;
  }

  add(subscriber: Subscriber): void {
    this.subscribers.add(subscriber);
    const interval = this.config.heartbeatMs;
    if (interval !== null && this.ticker === undefined) {
      this.ticker = setInterval(
        () => {
          const now = Date.now();
          for (const each of this.subscribers) each.heartbeat(now, interval);
        },
        Math.max(10, Math.floor(interval / 4)),
      );
    }
  }

  remove(subscriber: Subscriber): void {
    this.subscribers.delete(subscriber);
    if (this.subscribers.size === 0) {
      clearInterval(this.ticker);
      this.ticker = undefined;
    }
  }

  async close(): Promise<void> {
    for (const subscriber of [...this.subscribers]) subscriber.close({ type: "shutdown" });
    await this.subscriptions?.close();
    await this.source.stop();
    await this.transport.close();
  }
}
