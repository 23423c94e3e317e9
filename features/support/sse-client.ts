/**
 * An EventSource client as a page would hold one (the `eventsource` package follows the
 * WHATWG spec: it reconnects on its own and sends `Last-Event-ID`), recording every event it
 * dispatches and every request it makes, so steps can assert on ids, payloads and reconnects.
 */
import { EventSource, type FetchLike } from "eventsource";
import { eventually } from "./wait.js";

/** The event types the NUTS contract defines. */
const EVENT_TYPES = ["connected", "message", "unavailable"] as const;

export interface ReceivedEvent {
  type: string;
  /** The SSE `id` of the event itself ("" when it had none). */
  id: string;
  data: string;
}

/** The `data` of a `message` event. */
export interface MessageData {
  topic: string;
  payload: unknown;
  time: string;
}

export interface ConnectionAttempt {
  /** The `Last-Event-ID` header the client sent, if any. */
  lastEventId: string | undefined;
  /** The HTTP status of the answer, once there is one. */
  status?: number;
}

export class SseClient {
  readonly events: ReceivedEvent[] = [];
  readonly attempts: ConnectionAttempt[] = [];
  readonly errors: string[] = [];
  private readonly source: EventSource;

  constructor(
    readonly url: string,
    extraHeaders: Record<string, string> = {},
  ) {
    const recordingFetch: FetchLike = async (input, init) => {
      const headers = { ...(init.headers as Record<string, string>), ...extraHeaders };
      const attempt: ConnectionAttempt = { lastEventId: headers["Last-Event-ID"] };
      this.attempts.push(attempt);
      const response = await fetch(input, { ...init, headers });
      attempt.status = response.status;
      return response;
    };
    this.source = new EventSource(url, { fetch: recordingFetch });
    for (const type of EVENT_TYPES) {
      this.source.addEventListener(type, (event) => {
        this.events.push({ type, id: event.lastEventId, data: String(event.data) });
      });
    }
    this.source.addEventListener("error", (event) => {
      this.errors.push(event.message ?? "error");
    });
  }

  /** True once the client has given up for good (a non-200 answer, as a browser would). */
  get closed(): boolean {
    return this.source.readyState === this.source.CLOSED;
  }

  ofType(type: string): ReceivedEvent[] {
    return this.events.filter((event) => event.type === type);
  }

  /** The `message` events, with their ids as numbers and their data parsed. */
  messages(): { id: number; data: MessageData }[] {
    return this.ofType("message").map((event) => ({
      id: Number(event.id),
      data: JSON.parse(event.data) as MessageData,
    }));
  }

  messageIds(): number[] {
    return this.messages().map((message) => message.id);
  }

  /** Waits for the `count`-th `connected` event (1 = the first connection). */
  async connected(count = 1, timeoutMs?: number): Promise<ReceivedEvent> {
    return eventually(
      `connected event #${count} on ${this.url}`,
      () => this.ofType("connected")[count - 1],
      { describe: () => this.summary(), ...(timeoutMs === undefined ? {} : { timeoutMs }) },
    );
  }

  /** Waits until the client holds at least `count` message events. */
  async receivedMessages(count: number, timeoutMs?: number): Promise<void> {
    await eventually(
      `${count} message events on ${this.url}`,
      () => this.ofType("message").length >= count,
      { describe: () => this.summary(), ...(timeoutMs === undefined ? {} : { timeoutMs }) },
    );
  }

  /** What the client has seen so far, for failure messages. */
  summary(): string {
    const events = this.events.map((event) => `${event.type}#${event.id}`).join(", ");
    const attempts = this.attempts
      .map((attempt) => `${attempt.status ?? "…"}(Last-Event-ID ${attempt.lastEventId ?? "-"})`)
      .join(", ");
    return `events [${events}], requests [${attempts}], errors [${this.errors.join("; ")}]`;
  }

  close(): void {
    this.source.close();
  }
}
