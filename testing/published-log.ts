import type { JetStreamClient } from "@nats-io/jetstream";

/**
 * The stream sequence of every message a test published, by topic: what a client of some
 * topics must receive after a cursor, in stream order.
 */
export class PublishedLog {
  private readonly seqsByTopic = new Map<string, number[]>();

  /** `js` is read at each publish: tests connect in `beforeAll`. */
  constructor(
    private readonly js: () => JetStreamClient,
    private readonly subjectPrefix = "events.",
  ) {}

  /** Publishes `payload` on `<subjectPrefix><topic>` and records its sequence. */
  async publish(topic: string, payload: string): Promise<number> {
    const seq = (await this.js().publish(`${this.subjectPrefix}${topic}`, payload)).seq;
    this.seqsByTopic.set(topic, [...this.seqs(topic), seq]);
    return seq;
  }

  /** The sequences published to `topic`, in order. */
  seqs(topic: string): number[] {
    return this.seqsByTopic.get(topic) ?? [];
  }

  /** The sequences published to any of `topics` after `cursor`, in stream order. */
  after(cursor: number, ...topics: string[]): number[] {
    return topics
      .flatMap((topic) => this.seqs(topic))
      .filter((seq) => seq > cursor)
      .sort((a, b) => a - b);
  }

  /** Every topic published to so far. */
  get topics(): string[] {
    return [...this.seqsByTopic.keys()];
  }

  /** The topic a sequence was published to. */
  topicOf(seq: number): string {
    for (const [topic, seqs] of this.seqsByTopic) if (seqs.includes(seq)) return topic;
    throw new Error(`nothing published at ${seq}`);
  }
}
