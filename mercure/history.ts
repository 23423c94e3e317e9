import type { MercureHub } from "./hub.js";
import { idSubject } from "./update.js";

/** Where a resuming subscriber starts, and what the response tells it about that. */
export interface Resume {
  /** The stream sequence the subscriber is positioned after. */
  position: number;
  /** The id of the update before the first one sent, or `earliest`. */
  lastEventId: string;
}

export const EARLIEST = "earliest";

/**
 * Resolves a Last-Event-ID against the stream, on any node and after restarts: the update of an
 * id is the last message on its id subject, found with one lookup. `earliest` and an id the
 * stream no longer holds (or never did) replay everything the stream retains.
 */
export async function resumeFrom(hub: MercureHub, lastEventId: string): Promise<Resume> {
  const { jsm } = await hub.transport.connected(AbortSignal.timeout(5_000));
  if (lastEventId !== EARLIEST) {
    const stored = await jsm.streams.getMessage(hub.config.streamName, {
      last_by_subj: idSubject(hub.config.subjectPrefix, lastEventId),
    });
    if (stored) return { position: stored.seq, lastEventId };
  }
  const { first } = await hub.source.streamBounds();
  return { position: Math.max(0, first - 1), lastEventId: EARLIEST };
}
