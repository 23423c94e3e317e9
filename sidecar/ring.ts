/** One framed message kept for reconnecting clients. */
export interface RingEntry {
  seq: number;
  topic: string;
  frame: Uint8Array;
  /**
   * What a protocol layer's filter needs to know about the message beyond its topic (Mercure:
   * the update's topics and privacy); set by that layer's framer, absent for NUTS messages.
   */
  meta?: unknown;
}

/**
 * The most recent frames of one route source, in stream order. It holds every message of the
 * source with a sequence above `floor`, so a client whose cursor is at or above the floor can
 * be served from memory without asking NATS.
 */
export class Ring {
  private readonly entries: (RingEntry | undefined)[];
  private start = 0;
  private size = 0;

  /** @param floor the stream sequence the source started after */
  constructor(
    readonly capacity: number,
    public floor: number,
  ) {
    this.entries = new Array(capacity);
  }

  push(entry: RingEntry): void {
    if (this.size === this.capacity) {
      const evicted = this.entries[this.start] as RingEntry;
      this.floor = evicted.seq;
      this.entries[this.start] = entry;
      this.start = (this.start + 1) % this.capacity;
    } else {
      this.entries[(this.start + this.size) % this.capacity] = entry;
      this.size++;
    }
  }

  /** True when every message after `seq` is still here. */
  covers(seq: number): boolean {
    return seq >= this.floor;
  }

  /** Entries with a sequence above `seq`, oldest first. */
  *after(seq: number): Generator<RingEntry> {
    let low = 0;
    let high = this.size;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.at(middle).seq <= seq) low = middle + 1;
      else high = middle;
    }
    for (let index = low; index < this.size; index++) yield this.at(index);
  }

  get length(): number {
    return this.size;
  }

  private at(index: number): RingEntry {
    return this.entries[(this.start + index) % this.capacity] as RingEntry;
  }
}
