/**
 * A Mercure subscriber as a page holds one: an EventSource (the `eventsource` package, which
 * follows the WHATWG spec) that records every event of the types it listens to and the
 * response headers of its connections.
 */
import { EventSource, type FetchLike } from "eventsource";
import { eventually } from "./wait.js";

export interface HubEvent {
  type: string;
  id: string;
  data: string;
}

export class MercureClient {
  readonly events: HubEvent[] = [];
  headers: Headers | undefined;
  private readonly source: EventSource;
  private open = false;

  constructor(
    readonly url: string,
    extraHeaders: Record<string, string>,
    types: readonly string[] = ["message", "book"],
  ) {
    const recordingFetch: FetchLike = async (input, init) => {
      const response = await fetch(input, {
        ...init,
        headers: { ...(init.headers as Record<string, string>), ...extraHeaders },
      });
      this.headers = response.headers;
      return response;
    };
    this.source = new EventSource(url, { fetch: recordingFetch });
    this.source.addEventListener("open", () => {
      this.open = true;
    });
    for (const type of types) {
      this.source.addEventListener(type, (event) => {
        this.events.push({ type, id: event.lastEventId, data: String(event.data) });
      });
    }
  }

  async waitForOpen(): Promise<void> {
    await eventually(`the subscription ${this.url} to open`, () => this.open);
  }

  async waitForEvents(count: number): Promise<void> {
    await eventually(`${count} events on ${this.url}`, () => this.events.length >= count, {
      describe: () => JSON.stringify(this.events),
    });
  }

  close(): void {
    this.source.close();
  }
}
