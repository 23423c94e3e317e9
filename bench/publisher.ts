/**
 * How the benchmark publishes: to NATS for NUTS (the way an application would), over HTTP to
 * nchan's publisher location and to the baseline server. Both keep the order of messages: the
 * per-topic counter in every payload is how the clients find gaps.
 */
import { connect as connectTcp, type Socket } from "node:net";
import type { NatsConnection } from "@nats-io/transport-node";
import { benchPayload, wallClockMs } from "./frames.js";

export interface Publisher {
  /** Sends one message now; returns without waiting for the server. */
  publish(topic: string, body: string): void;
  /** Resolves once the server has taken everything sent so far. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** Core NATS publish to `<prefix><topic>`: JetStream stores what the stream's subjects match. */
export class NatsPublisher implements Publisher {
  constructor(
    private readonly connection: NatsConnection,
    private readonly subjectPrefix: string,
  ) {}

  publish(topic: string, body: string): void {
    this.connection.publish(`${this.subjectPrefix}${topic}`, body);
  }

  async flush(): Promise<void> {
    await this.connection.flush();
  }

  async close(): Promise<void> {}
}

/** The HTTP request that publishes one message (a JSON POST to `<path><topic>` by default). */
export type PublishRequest = (topic: string, body: string, host: string) => string;

function jsonPost(pathPrefix: string): PublishRequest {
  return (topic, body, host) =>
    `POST ${pathPrefix}${encodeURIComponent(topic)} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

/**
 * `POST <path><topic>` requests (or those `request` writes) pipelined on one keep-alive
 * connection: in order, and as fast as the server answers, without a round trip per message.
 */
export class PipelinedHttpPublisher implements Publisher {
  private sent = 0;
  private answered = 0;
  private failures: string[] = [];
  private pending = "";
  private readonly waiters: { count: number; resolve(): void }[] = [];

  private constructor(
    private readonly socket: Socket,
    private readonly port: number,
    private readonly request: PublishRequest,
  ) {
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.read(chunk.toString("latin1")));
  }

  static open(
    port: number,
    pathPrefix: string,
    request: PublishRequest = jsonPost(pathPrefix),
  ): Promise<PipelinedHttpPublisher> {
    return new Promise((resolve, reject) => {
      const socket = connectTcp({ host: "127.0.0.1", port }, () =>
        resolve(new PipelinedHttpPublisher(socket, port, request)),
      );
      socket.once("error", reject);
    });
  }

  publish(topic: string, body: string): void {
    this.sent++;
    this.socket.write(this.request(topic, body, `127.0.0.1:${this.port}`));
  }

  async flush(): Promise<void> {
    if (this.answered < this.sent) {
      await new Promise<void>((resolve) => this.waiters.push({ count: this.sent, resolve }));
    }
    if (this.failures.length > 0) {
      const failures = this.failures;
      this.failures = [];
      throw new Error(`publish failed: ${failures.slice(0, 3).join("; ")}`);
    }
  }

  async close(): Promise<void> {
    this.socket.end();
  }

  /** Counts the responses (status line, headers, Content-Length or chunked body). */
  private read(text: string): void {
    this.pending += text;
    for (;;) {
      const headEnd = this.pending.indexOf("\r\n\r\n");
      if (headEnd < 0) break;
      const head = this.pending.slice(0, headEnd);
      let bodyEnd: number;
      const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      if (length) {
        bodyEnd = headEnd + 4 + Number(length[1]);
      } else if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
        const last = this.pending.indexOf("\r\n0\r\n\r\n", headEnd);
        if (last < 0) break;
        bodyEnd = last + 7;
      } else {
        bodyEnd = headEnd + 4;
      }
      if (this.pending.length < bodyEnd) break;
      const status = head.slice(9, 12);
      if (!status.startsWith("2") && this.failures.length < 10)
        this.failures.push(`HTTP ${status}`);
      this.pending = this.pending.slice(bodyEnd);
      this.answered++;
    }
    while (this.waiters.length > 0 && (this.waiters[0]?.count ?? 0) <= this.answered) {
      this.waiters.shift()?.resolve();
    }
  }
}

/**
 * Publishes `count` messages at `ratePerSecond`, continuing each topic's counter in
 * `lastByTopic`; `topicOf(i)` picks the topic of the i-th message. Resolves once the server has
 * taken them all.
 */
export async function publishAtRate(
  publisher: Publisher,
  options: {
    count: number;
    ratePerSecond: number;
    topicOf: (index: number) => string;
    lastByTopic: Record<string, number>;
    signal?: AbortSignal;
  },
): Promise<number> {
  const started = performance.now();
  let sent = 0;
  while (sent < options.count && !options.signal?.aborted) {
    const due = Math.min(
      options.count,
      Math.floor(((performance.now() - started) * options.ratePerSecond) / 1000) + 1,
    );
    while (sent < due) {
      const topic = options.topicOf(sent);
      const counter = (options.lastByTopic[topic] ?? 0) + 1;
      options.lastByTopic[topic] = counter;
      publisher.publish(topic, benchPayload(counter, wallClockMs()));
      sent++;
    }
    if (sent >= options.count) break;
    const nextAt = started + (sent * 1000) / options.ratePerSecond;
    await sleep(Math.max(1, nextAt - performance.now()));
  }
  await publisher.flush();
  return sent;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
