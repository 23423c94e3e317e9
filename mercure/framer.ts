import type { RingEntry } from "../sidecar/ring.js";
import type { MessageFramer, StreamMessage } from "../sidecar/source.js";
import { encodeEvent } from "../sidecar/sse.js";
import { type UpdateMeta, updateOf } from "./update.js";

const NOTHING = new Uint8Array(0);

/**
 * Frames a stored update the way Mercure's hub sends it: `id` the update's id, `event` its type,
 * `retry`, and its data as `data:` lines. The ring entry carries the update's topics and privacy
 * for the subscribers' filters. A message that is not an update frames to nothing and matches
 * no filter.
 */
export const mercureFramer: MessageFramer = {
  frame(message: StreamMessage): RingEntry {
    const update = updateOf(message.headers, message.data);
    if (update === undefined) return { seq: message.seq, topic: "", frame: NOTHING };
    const meta: UpdateMeta = { id: update.id, topics: update.topics, private: update.private };
    return {
      seq: message.seq,
      topic: "",
      frame: encodeEvent({
        id: update.id,
        data: update.data,
        ...(update.type === undefined ? {} : { event: update.type }),
        ...(update.retry === undefined ? {} : { retry: update.retry }),
      }),
      meta,
    };
  },
};
