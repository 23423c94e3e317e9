/**
 * A raw Server-Sent Events client for tests, over node:http. It keeps every byte the server
 * sent (so tests can compare exact frames), parses them into events the way the WHATWG parser
 * does, and can wait for a condition, pause reading (a slow client) and abort (a client that
 * leaves).
 */
import {
  type ClientRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  request,
} from "node:http";

/** One dispatched event, or a comment block, as parsed from the stream. */
export interface SseFrame {
  /** The frame exactly as sent, up to and including the blank line that ends it. */
  raw: string;
  id?: string;
  event?: string;
  /** `data:` lines joined with "\n"; undefined when the frame had none. */
  data?: string;
  retry?: number;
  /** Comment lines (`: heartbeat`) without the leading colon and space. */
  comments: string[];
}

export interface SseTarget {
  host?: string;
  port: number;
  path: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
}

/** Default time a wait may take before the test fails with a description of what was seen. */
export const DEFAULT_WAIT_MS = 10_000;

/**
 * An open streaming response. Created by `openSse`, which resolves once the status line and
 * headers are in.
 */
export class SseClient {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** Every frame received so far, in order (events and comment blocks). */
  readonly frames: SseFrame[] = [];
  /** Set once the response has ended or the connection closed; `error` tells which. */
  ended = false;
  endedWith: "end" | "error" | undefined;
  private readonly chunks: Buffer[] = [];
  private pending = "";
  private readonly waiters = new Set<() => void>();
  private readonly decoder = new TextDecoder("utf-8");

  constructor(
    private readonly req: ClientRequest,
    private readonly res: IncomingMessage,
  ) {
    this.status = res.statusCode ?? 0;
    this.headers = res.headers;
    res.on("data", (chunk: Buffer) => this.receive(chunk));
    res.on("end", () => this.finish("end"));
    res.on("error", () => this.finish("error"));
    res.on("aborted", () => this.finish("error"));
    res.on("close", () => this.finish(res.complete ? "end" : "error"));
    req.on("error", () => this.finish("error"));
  }

  /** All bytes received so far. */
  get bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }

  /** All bytes received so far as UTF-8 text. */
  get text(): string {
    return this.bytes.toString("utf8");
  }

  /** Frames that carry an event (not comment-only blocks). */
  get events(): SseFrame[] {
    return this.frames.filter((frame) => frame.data !== undefined);
  }

  /** Events of type `message`. */
  get messages(): SseFrame[] {
    return this.events.filter((frame) => frame.event === "message");
  }

  /** The ids of the `message` events, as numbers. */
  get messageIds(): number[] {
    return this.messages.map((frame) => Number(frame.id));
  }

  /** Resolves once `predicate` holds; fails after `timeoutMs` naming `what` and what was seen. */
  waitFor(predicate: () => boolean, what: string, timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
    if (predicate()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!predicate()) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        const tail = this.text.slice(-600);
        reject(
          new Error(
            `timed out after ${timeoutMs} ms waiting for ${what}; ended=${this.ended}; last bytes:\n${tail}`,
          ),
        );
      }, timeoutMs);
      this.waiters.add(check);
    });
  }

  /** Waits until `count` events (of any type, comments excluded) have arrived. */
  waitForEvents(count: number, timeoutMs = DEFAULT_WAIT_MS): Promise<SseFrame[]> {
    return this.waitFor(() => this.events.length >= count, `${count} events`, timeoutMs).then(
      () => this.events,
    );
  }

  /** Waits until `count` `message` events have arrived. */
  waitForMessages(count: number, timeoutMs = DEFAULT_WAIT_MS): Promise<SseFrame[]> {
    return this.waitFor(() => this.messages.length >= count, `${count} messages`, timeoutMs).then(
      () => this.messages,
    );
  }

  /** Waits until the server has ended the response or the connection has closed. */
  waitForEnd(timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
    return this.waitFor(() => this.ended, "the stream to end", timeoutMs);
  }

  /** Stops reading: the socket's buffers fill and the server's writes back up. */
  pause(): void {
    this.res.pause();
  }

  resume(): void {
    this.res.resume();
  }

  /** Closes the connection from the client's side, as a browser tab that goes away. */
  abort(): void {
    this.req.destroy();
  }

  private receive(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.pending += this.decoder.decode(chunk, { stream: true });
    // A frame ends at a blank line; LF, CR and CRLF all end lines (the server sends LF).
    for (;;) {
      const match = /\r\n\r\n|\n\n|\r\r|\r\n\n|\n\r\n/.exec(this.pending);
      if (!match) break;
      const end = match.index + match[0].length;
      this.frames.push(parseFrame(this.pending.slice(0, end)));
      this.pending = this.pending.slice(end);
    }
    this.notify();
  }

  private finish(how: "end" | "error"): void {
    if (this.ended) return;
    this.ended = true;
    this.endedWith = how;
    this.notify();
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

/** Parses one frame's lines into fields, as an EventSource would. */
export function parseFrame(raw: string): SseFrame {
  const frame: SseFrame = { raw, comments: [] };
  const dataLines: string[] = [];
  for (const line of raw.split(/\r\n|\r|\n/)) {
    if (line === "") continue;
    if (line.startsWith(":")) {
      frame.comments.push(line.slice(1).replace(/^ /, ""));
      continue;
    }
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    const value = colon === -1 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "data") dataLines.push(value);
    else if (field === "id") frame.id = value;
    else if (field === "event") frame.event = value;
    else if (field === "retry") frame.retry = Number(value);
  }
  if (dataLines.length > 0) frame.data = dataLines.join("\n");
  return frame;
}

/** Opens a request and resolves once the response's status and headers have arrived. */
export function openSse(target: SseTarget): Promise<SseClient> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: target.host ?? "127.0.0.1",
      port: target.port,
      path: target.path,
      method: target.method ?? "GET",
      headers: target.headers ?? {},
      // A fresh connection per client: pooling would hide a server that keeps sockets open.
      agent: false,
    });
    req.once("error", reject);
    req.once("response", (res) => resolve(new SseClient(req, res)));
    req.end(target.body);
  });
}

/** A complete (non-streaming) response. */
export interface HttpResult {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** Sends a request and reads the whole response; for error answers and refused streams. */
export async function fetchAll(
  target: SseTarget,
  timeoutMs = DEFAULT_WAIT_MS,
): Promise<HttpResult> {
  const client = await openSse(target);
  try {
    await client.waitForEnd(timeoutMs);
  } finally {
    client.abort();
  }
  return { status: client.status, headers: client.headers, body: client.text };
}

/** Polls a condition outside any stream (counts on the server side); fails after `timeoutMs`. */
export async function eventually(
  predicate: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = DEFAULT_WAIT_MS,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await predicate()) return;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
