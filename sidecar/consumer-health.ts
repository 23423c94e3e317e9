import type { ConsumerMessages, ConsumerNotification } from "@nats-io/jetstream";

/**
 * Milliseconds between the idle heartbeats the server sends while a pull request waits. Two
 * missed in a row and the consumer is given up: a dead node's consumer is noticed within about
 * three of these, however few messages flow (heartbeats come only when nothing else does).
 */
export const CONSUMER_HEARTBEAT_MS = 1_000;

/** Why a JetStream consumer is no longer worth waiting on. */
export type ConsumerLoss =
  | { type: "heartbeats_missed"; count: number }
  | { type: "consumer_deleted" }
  | { type: "stream_not_found" };

/** A short phrase for a log line. */
export function describeLoss(loss: ConsumerLoss): string {
  switch (loss.type) {
    case "heartbeats_missed":
      return `it stopped answering (${loss.count} heartbeats missed; its NATS node may be down)`;
    case "consumer_deleted":
      return "it was deleted";
    case "stream_not_found":
      return "its stream is gone";
  }
}

/**
 * Calls `onLost` once when the consumer behind `messages` is lost: its NATS node died or was cut
 * off (heartbeats stop), or it or its stream was deleted. Left alone, nats.js keeps asking for
 * the consumer's info, which the R1 consumer of a dead node never answers: the stream freezes.
 * Ends with `messages`.
 */
export function watchConsumer(
  messages: ConsumerMessages,
  onLost: (loss: ConsumerLoss) => void,
): void {
  (async () => {
    for await (const notification of messages.status()) {
      const loss = lossOf(notification);
      if (loss) {
        onLost(loss);
        return;
      }
    }
  })().catch(() => {});
}

function lossOf(notification: ConsumerNotification): ConsumerLoss | undefined {
  switch (notification.type) {
    case "heartbeats_missed":
      return { type: "heartbeats_missed", count: notification.count };
    case "consumer_deleted":
    case "consumer_not_found":
      return { type: "consumer_deleted" };
    case "stream_not_found":
      return { type: "stream_not_found" };
    default:
      return undefined;
  }
}

/** JetStream's "stream not found" (API error 10059), however it reached us. */
export function isStreamNotFound(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: number | string }).code;
  return code === 10059 || /stream not found/i.test(error.message);
}
