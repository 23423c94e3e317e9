import type { MsgHdrs } from "@nats-io/transport-node";
import type { RingEntry } from "./ring.js";
import { encodeEvent, encodeMessage } from "./sse.js";
import { topicOf } from "./topics.js";

/** One stream message, as a framer sees it. */
export interface StreamMessage {
  seq: number;
  subject: string;
  data: Uint8Array;
  time: Date;
  headers: MsgHdrs | undefined;
}

/**
 * Turns a stream message into the ring entry every subscriber shares: its frame, the topic
 * subscribers are indexed by, and the `meta` a protocol's own filter matches on. Called once per
 * live message, and once per replayed message and client. NUTS's own events come from
 * `nutsFramer`; a protocol layer (Mercure) brings its own.
 */
export interface MessageFramer {
  frame(message: StreamMessage): RingEntry;
}

/**
 * NUTS's events: `id` the stream sequence, `data` the topic, payload and time; a frame over
 * `maxEventSize` bytes becomes a small `skipped` event instead.
 */
export function nutsFramer(topicPrefix: string, maxEventSize: number | null): MessageFramer {
  return {
    frame({ seq, subject, data, time }) {
      const topic = topicOf(topicPrefix, subject);
      const frame = encodeMessage(seq, topic, data, time);
      if (maxEventSize === null || frame.byteLength <= maxEventSize) return { seq, topic, frame };
      const skipped = encodeEvent({
        id: seq,
        event: "skipped",
        data: JSON.stringify({ topic, reason: "max_event_size", size: data.byteLength }),
      });
      return { seq, topic, frame: skipped };
    },
  };
}
