import {
  AckPolicy,
  type Consumer,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import { CONSUMER_HEARTBEAT_MS, isStreamNotFound } from "./consumer-health.js";
import type { StreamMessage } from "./framer.js";
import { describe, sleep } from "./transport.js";

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
  onMessage: (message: StreamMessage) => Promise<boolean>;
  /**
   * Called when the replay's consumer was lost (its NATS node died, it was deleted, JetStream
   * did not answer) before the replay was done; the replay goes on with a new one after
   * `afterSeq`, the last message it handled.
   */
  onConsumerLost: (reason: string, afterSeq: number) => void;
  /** Stops the replay early (the client left). */
  signal: AbortSignal;
}

/**
 * Messages fetched at once: the replay asks for more only when the client has taken these, so
 * a slow client holds at most one batch in the sidecar, never the whole history.
 */
const BATCH_MESSAGES = 512;
/** How long one fetch may wait for its messages; they are in the stream, so it is far too long. */
const FETCH_EXPIRES_MS = 5_000;
/** Waits between attempts to make a new consumer while JetStream elects a leader. */
const RETRY_WAITS_MS = [100, 250, 500, 1_000, 2_000];

/**
 * Reads the retained messages of some subjects after a sequence with short-lived consumers of
 * the client's own, and resolves once it has delivered everything the stream holds. Only
 * clients whose cursor is older than the in-memory ring need one. The consumer is an R1 one,
 * on one NATS node: if it is lost mid-replay, a new one continues after the last message
 * handled, so the client gets every message once, in order.
 * Resolves with the number of messages delivered and whether that was all of them.
 */
export async function replayFromStream(
  js: JetStreamClient,
  jsm: JetStreamManager,
  request: ReplayRequest,
): Promise<{ delivered: number; complete: boolean }> {
  const { signal, maxMessages } = request;
  let afterSeq = request.afterSeq;
  let delivered = 0;
  let failures = 0;
  while (!signal.aborted) {
    let name: string | undefined;
    let lost = false;
    try {
      const info = await jsm.consumers.add(request.stream, {
        ack_policy: AckPolicy.None,
        deliver_policy: DeliverPolicy.StartSequence,
        opt_start_seq: afterSeq + 1,
        filter_subjects: request.subjects,
        mem_storage: true,
        num_replicas: 1,
        // Removed by the server if this process dies mid-replay.
        inactive_threshold: nanos(30_000),
      });
      name = info.name;
      if (info.num_pending === 0) return { delivered, complete: true };
      const consumer = await js.consumers.get(request.stream, info.name);
      for (;;) {
        if (maxMessages !== null && delivered >= maxMessages) return { delivered, complete: false };
        const batch = await fetchBatch(consumer);
        for (const message of batch.messages) {
          if (signal.aborted) return { delivered, complete: false };
          if (await request.onMessage(message)) {
            delivered++;
          }
          afterSeq = message.seq;
          if (message.info.pending === 0) return { delivered, complete: true };
          if (maxMessages !== null && delivered >= maxMessages) {
            return { delivered, complete: false };
          }
        }
        if (batch.error !== undefined) throw batch.error;
        // Messages are pending, so an empty answer means the consumer is not serving them.
        if (batch.messages.length === 0) throw new Error("the consumer delivered nothing");
        failures = 0;
      }
    } catch (error) {
      if (signal.aborted) break;
      // Nothing to go on with: the caller tells the client.
      if (isStreamNotFound(error)) throw error;
      lost = true;
      request.onConsumerLost(describe(error), afterSeq);
      await sleep(RETRY_WAITS_MS[Math.min(failures++, RETRY_WAITS_MS.length - 1)] ?? 0, signal);
    } finally {
      // A lost consumer's node may not answer: do not keep the client waiting for the delete.
      const deleting = name === undefined ? undefined : deleteQuietly(jsm, request.stream, name);
      if (!lost) await deleting;
    }
  }
  return { delivered, complete: false };
}

/**
 * One batch of messages, read in full before any is delivered, so the fetch is over (and its
 * heartbeat watch with it) however long the client then takes. A fetch that fails part-way
 * keeps what it got, to be delivered before the replay goes on with a new consumer.
 */
async function fetchBatch(consumer: Consumer): Promise<{ messages: JsMsg[]; error?: unknown }> {
  const messages: JsMsg[] = [];
  const fetched = await consumer.fetch({
    max_messages: BATCH_MESSAGES,
    expires: FETCH_EXPIRES_MS,
    idle_heartbeat: CONSUMER_HEARTBEAT_MS,
  });
  try {
    for await (const message of fetched) {
      messages.push(message);
      if (message.info.pending === 0) break;
    }
    return { messages };
  } catch (error) {
    return { messages, error };
  } finally {
    fetched.stop();
  }
}

function deleteQuietly(jsm: JetStreamManager, stream: string, name: string): Promise<void> {
  return jsm.consumers.delete(stream, name).then(
    () => {},
    () => {},
  );
}
