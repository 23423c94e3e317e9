import type { NatsConnection, Subscription } from "@nats-io/transport-node";

/** Things that happen to a stream behind the sidecar's back. */
export type StreamEvent =
  | { type: "stream_deleted" }
  | { type: "stream_created" }
  | { type: "stream_purged" }
  | { type: "consumer_deleted"; consumer: string };

/**
 * Follows a stream's JetStream advisories (deleted, created, consumer deleted) and purge
 * requests, so that subscribers can be told instead of waiting on sequence numbers that will
 * never come. Without permission for these subjects it watches nothing; the source then still
 * notices a recreated stream when its consumer restarts.
 */
export function watchStream(
  nc: NatsConnection,
  stream: string,
  onEvent: (event: StreamEvent) => void,
): { stop(): void } {
  const subscriptions: Subscription[] = [];
  const watch = (subject: string, toEvent: (subject: string) => StreamEvent) => {
    try {
      subscriptions.push(
        nc.subscribe(subject, {
          callback: (error, message) => {
            if (!error) onEvent(toEvent(message.subject));
          },
        }),
      );
    } catch {
      // not allowed to subscribe: nothing to watch
    }
  };
  watch(`$JS.EVENT.ADVISORY.STREAM.DELETED.${stream}`, () => ({ type: "stream_deleted" }));
  watch(`$JS.EVENT.ADVISORY.STREAM.CREATED.${stream}`, () => ({ type: "stream_created" }));
  watch(`$JS.API.STREAM.PURGE.${stream}`, () => ({ type: "stream_purged" }));
  watch(`$JS.EVENT.ADVISORY.CONSUMER.DELETED.${stream}.*`, (subject) => ({
    type: "consumer_deleted",
    consumer: subject.slice(subject.lastIndexOf(".") + 1),
  }));
  return {
    stop() {
      for (const subscription of subscriptions) subscription.unsubscribe();
    },
  };
}
