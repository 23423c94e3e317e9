import {
  AckPolicy,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
} from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";

export interface ReplayRequest {
  stream: string;
  /** The subjects of the client's topics. */
  subjects: string[];
  /** Deliver messages with a sequence above this one. */
  afterSeq: number;
  /** Stop after delivering this many messages (the replay is then incomplete); null: no cap. */
  maxMessages: number | null;
  /**
   * Called for each message in stream order; awaited, so a slow client slows only its replay.
   * Resolves true when the message was for the client (only those count against the cap).
   */
  onMessage: (seq: number, subject: string, data: Uint8Array, time: Date) => Promise<boolean>;
  /** Stops the replay early (the client left). */
  signal: AbortSignal;
}

/**
 * Reads the retained messages of some subjects after a sequence with a short-lived consumer of
 * the client's own, and resolves once it has delivered everything the stream held when it
 * started. Only clients whose cursor is older than the in-memory ring need one.
 * Resolves with the number of messages delivered and whether that was all of them.
 */
export async function replayFromStream(
  js: JetStreamClient,
  jsm: JetStreamManager,
  request: ReplayRequest,
): Promise<{ delivered: number; complete: boolean }> {
  const info = await jsm.consumers.add(request.stream, {
    ack_policy: AckPolicy.None,
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: request.afterSeq + 1,
    filter_subjects: request.subjects,
    mem_storage: true,
    num_replicas: 1,
    // Removed by the server if this process dies mid-replay.
    inactive_threshold: nanos(30_000),
  });
  let delivered = 0;
  let complete = false;
  try {
    if (info.num_pending === 0 || request.signal.aborted) return { delivered, complete: true };
    if (request.maxMessages !== null && request.maxMessages <= 0) return { delivered, complete };
    const consumer = await js.consumers.get(request.stream, info.name);
    const messages = await consumer.consume({ max_messages: 512 });
    const stop = () => messages.stop();
    request.signal.addEventListener("abort", stop, { once: true });
    try {
      for await (const message of messages) {
        if (await request.onMessage(message.seq, message.subject, message.data, message.time)) {
          delivered++;
        }
        if (message.info.pending === 0) complete = true;
        if (complete || request.signal.aborted) break;
        if (request.maxMessages !== null && delivered >= request.maxMessages) break;
      }
    } finally {
      request.signal.removeEventListener("abort", stop);
      messages.stop();
    }
    return { delivered, complete };
  } finally {
    await jsm.consumers.delete(request.stream, info.name).catch(() => {});
  }
}
