/**
 * Plain HTTP exchanges for the steps that check bytes on the wire, status codes and headers:
 * node:http sends exactly the headers a step names and shows the body as it arrives.
 */
import { type ClientRequest, type IncomingHttpHeaders, request } from "node:http";
import { eventually } from "./wait.js";

export interface HttpRequest {
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: string;
}

/** A response whose body may still be arriving (an event stream never ends on its own). */
export class HttpResponse {
  body = "";
  ended = false;

  constructor(
    readonly status: number,
    readonly headers: IncomingHttpHeaders,
    private readonly clientRequest: ClientRequest,
  ) {}

  header(name: string): string | undefined {
    const value = this.headers[name.toLowerCase()];
    return Array.isArray(value) ? value.join(", ") : value;
  }

  /** Waits until the whole body has arrived. */
  async complete(timeoutMs?: number): Promise<string> {
    await eventually(`the response body to end`, () => this.ended, {
      describe: () => JSON.stringify(this.body.slice(0, 500)),
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
    });
    return this.body;
  }

  /** Waits until the body received so far satisfies `test`. */
  async bodyMatching(what: string, test: (body: string) => boolean, timeoutMs?: number) {
    await eventually(what, () => test(this.body), {
      describe: () => JSON.stringify(this.body.slice(-1000)),
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
    });
  }

  close(): void {
    this.clientRequest.destroy();
  }
}

/** Sends a request; resolves once the status line and headers are in. */
export function send(exchange: HttpRequest): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const clientRequest = request(
      exchange.url,
      { method: exchange.method, headers: exchange.headers ?? {}, timeout: 15_000 },
      (incoming) => {
        const response = new HttpResponse(
          incoming.statusCode ?? 0,
          incoming.headers,
          clientRequest,
        );
        incoming.setEncoding("utf8");
        incoming.on("data", (chunk: string) => {
          response.body += chunk;
        });
        incoming.on("end", () => {
          response.ended = true;
        });
        incoming.on("error", () => {
          response.ended = true;
        });
        resolve(response);
      },
    );
    clientRequest.on("error", reject);
    clientRequest.on("timeout", () => clientRequest.destroy(new Error("no answer within 15 s")));
    clientRequest.end(exchange.body);
  });
}
