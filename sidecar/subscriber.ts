import { type DeliveryTally, type ResetReason, UNCOUNTED } from "./metrics.js";
import { HEARTBEAT } from "./sse.js";
import { type MessageFilter, TopicFilter } from "./topic-filter.js";

/** Why a subscriber's stream ended. */
export type CloseReason =
  | { type: "client_left" }
  | { type: "slow_client"; bufferedBytes: number }
  | { type: "write_timeout"; timeoutMs: number }
  | { type: "replay_failed"; message: string }
  | { type: "replay_limit"; messages: number }
  | { type: "stream_reset"; reason: string }
  | { type: "shutdown" };

/** A message frame and its stream sequence. */
export interface SequencedFrame {
  seq: number;
  frame: Uint8Array;
}

/**
 * Where a subscriber's bytes go: the client's socket, once the response head is on its way.
 * A `net.Socket` is one; tests use a fake.
 */
export interface EventSink {
  write(chunk: Uint8Array): boolean;
  cork(): void;
  uncork(): void;
  readonly writableLength: number;
  readonly writableNeedDrain: boolean;
  end(): void;
  destroy(): void;
  on(event: "close" | "error" | "drain", listener: () => void): unknown;
  off(event: "close" | "drain", listener: () => void): unknown;
}

/** The frames' bytes in order, as one buffer (the frame itself when there is one). */
export function joinFrames(frames: readonly SequencedFrame[]): Uint8Array {
  return frames.length === 1 && frames[0]
    ? frames[0].frame
    : Buffer.concat(frames.map((e) => e.frame));
}

export interface SubscriberOptions {
  topics: readonly string[];
  /** Decides which messages are for this client; a TopicFilter of `topics` when not given. */
  filter?: MessageFilter;
  /** The stream sequence the client is positioned after. */
  position: number;
  writeTimeoutMs: number;
  maxBufferedBytes: number;
  onClose: (reason: CloseReason) => void;
  /** Where message frames and bytes written are counted. @default not counted */
  tally?: DeliveryTally;
  /** Told of each reset event sent. @default nothing */
  onReset?: (reason: ResetReason) => void;
}

/**
 * One connected SSE client. Frames are written straight to its socket (no HTTP framing: the
 * stream is delimited by the connection), at once, in one write each; Node buffers what the
 * client has not taken yet, and that buffer is bounded: past `maxBufferedBytes`, or when the
 * client has not drained it for `writeTimeoutMs`, the client is cut. It then reconnects with
 * its last id and loses nothing, and it never slows the others down.
 */
export class Subscriber {
  readonly filter: MessageFilter;
  /** The highest stream sequence written (or known to have nothing for this client). */
  position: number;
  lastWriteAt = Date.now();
  closed = false;
  private drainTimer: NodeJS.Timeout | undefined;
  private corked = false;
  private readonly tally: DeliveryTally;

  constructor(
    private readonly sink: EventSink,
    private readonly options: SubscriberOptions,
  ) {
    this.filter = options.filter ?? new TopicFilter(options.topics);
    this.position = options.position;
    this.tally = options.tally ?? UNCOUNTED;
    // One closure for both; a socket error (EPIPE, ECONNRESET) ends this client only, never
    // the process. A `drain` listener is added only while a write waits (see `write`).
    const left = () => this.close({ type: "client_left" });
    sink.on("close", left);
    sink.on("error", left);
  }

  /**
   * Writes the message frames the client does not have yet, in order, as one write: a client
   * catching up costs one system call (and one read and write in Caddy), not one per message.
   * Returns false when the client is over its bound and was cut.
   */
  deliverAll(frames: readonly SequencedFrame[]): boolean {
    const fresh = frames.filter((entry) => entry.seq > this.position);
    const last = fresh.at(-1);
    if (last === undefined || this.closed) return !this.closed;
    this.position = last.seq;
    this.tally.deliveries += fresh.length;
    return this.write(joinFrames(fresh));
  }

  /**
   * Delivers consecutive frames of one topic whose bytes are already joined: the very buffer
   * every client of the topic gets.
   */
  deliverJoined(frames: readonly SequencedFrame[], joined: Uint8Array): boolean {
    const first = frames[0];
    const last = frames.at(-1);
    if (first === undefined || last === undefined || this.closed) return !this.closed;
    if (this.position >= first.seq) return this.deliverAll(frames);
    this.position = last.seq;
    this.tally.deliveries += frames.length;
    return this.write(joined);
  }

  /** Writes any frame (connected event, heartbeat). */
  write(frame: Uint8Array): boolean {
    if (this.closed) return false;
    this.lastWriteAt = Date.now();
    this.tally.bytes += frame.byteLength;
    const accepted = this.sink.write(frame);
    if (accepted) return true;
    const buffered = this.sink.writableLength;
    if (buffered > this.options.maxBufferedBytes) {
      this.close({ type: "slow_client", bufferedBytes: buffered });
      return false;
    }
    if (this.drainTimer === undefined) {
      this.drainTimer = setTimeout(
        () => this.close({ type: "write_timeout", timeoutMs: this.options.writeTimeoutMs }),
        this.options.writeTimeoutMs,
      );
      const drained = () => {
        this.sink.off("drain", drained);
        this.drained();
      };
      this.sink.on("drain", drained);
    }
    return true;
  }

  /**
   * Delivers and waits until the client has taken the bytes: for replay and long catch-ups,
   * which must not race ahead of the client.
   */
  async deliverAndWait(frames: readonly SequencedFrame[]): Promise<void> {
    // Frames delivered in the same tick (a replay reads messages in bursts) leave in one write.
    if (!this.corked && !this.closed) {
      this.corked = true;
      this.sink.cork();
      process.nextTick(() => {
        this.corked = false;
        this.sink.uncork();
      });
    }
    if (!this.deliverAll(frames) || this.sink.writableLength === 0 || this.closed) return;
    if (!this.sink.writableNeedDrain) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        this.sink.off("drain", done);
        this.sink.off("close", done);
        resolve();
      };
      this.sink.on("drain", done);
      this.sink.on("close", done);
    });
  }

  /**
   * Moves the client to a new position with a frame that says why (the stream was purged or
   * recreated); the frame's id becomes the browser's Last-Event-ID.
   */
  reset(position: number, frame: Uint8Array, reason: ResetReason): void {
    this.position = position;
    if (!this.closed) this.options.onReset?.(reason);
    this.write(frame);
  }

  /** Sends a heartbeat comment if nothing was written for `intervalMs`. */
  heartbeat(now: number, intervalMs: number): void {
    if (now - this.lastWriteAt >= intervalMs) this.write(HEARTBEAT);
  }

  /** Ends the stream; all clean-up happens here, once. */
  close(reason: CloseReason): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.drainTimer);
    this.drainTimer = undefined;
    if (reason.type === "client_left") {
      // nothing to send: the socket is gone
    } else if (
      reason.type === "shutdown" ||
      reason.type === "replay_limit" ||
      reason.type === "stream_reset"
    ) {
      // A clean end: what was written reaches the client, which then reconnects with its last id.
      this.sink.end();
    } else {
      // A client that cannot keep up gets no more bytes; it reconnects with its last id.
      this.sink.destroy();
    }
    this.options.onClose(reason);
  }

  private drained(): void {
    clearTimeout(this.drainTimer);
    this.drainTimer = undefined;
  }
}
