import type { Http2Bindings, HttpBindings } from "@hono/node-server";
import type { EventSink } from "./subscriber.js";

/** A request as the sidecar gets it: over HTTP/1.1, or over h2c from Caddy. */
export type Bindings = HttpBindings | Http2Bindings;

/**
 * Sends the 200 head of an event stream and returns where its frames go, corked: the caller
 * writes its first event, then uncorks, and both leave together. Undefined when the client has
 * already left.
 *
 * Over HTTP/1.1 that is the socket itself: the stream ends when the connection does, so it
 * needs no chunked framing, and every client of a topic gets the very same bytes. Over HTTP/2
 * it is the request's stream: each write becomes a DATA frame, and the stream's flow control
 * is the client's backpressure.
 */
export function openEventStream(
  env: Bindings,
  headers: Record<string, string>,
): EventSink | undefined {
  const { incoming, outgoing } = env;
  if ("stream" in outgoing) {
    const stream = outgoing.stream;
    if (stream.destroyed || stream.closed) return undefined;
    stream.cork();
    stream.respond({ ":status": 200, ...headers });
    return stream;
  }
  const socket = outgoing.socket;
  if (incoming.destroyed || socket === null || socket.destroyed) return undefined;
  outgoing.removeHeader("Transfer-Encoding");
  outgoing.writeHead(200, { ...headers, Connection: "close" });
  socket.setNoDelay(true);
  socket.cork();
  outgoing.flushHeaders();
  return socket;
}

/** Answers with a whole, short event stream (one event, then the end), over either protocol. */
export function sendEventStream(
  env: Bindings,
  headers: Record<string, string>,
  body: Uint8Array,
): void {
  const { outgoing } = env;
  if ("stream" in outgoing) {
    outgoing.writeHead(200, headers);
    outgoing.end(body);
  } else {
    outgoing.writeHead(200, headers);
    outgoing.end(body);
  }
}
