import type { ServerResponse } from "node:http";
import type { HttpBindings } from "@hono/node-server";
import { RESPONSE_ALREADY_SENT } from "@hono/node-server/utils/response";
import type { Context } from "hono";
import type { Clients } from "./clients.js";
import type { RouteConfig } from "./config.js";
import { corsHeaders } from "./cors.js";
import { resumeCursor } from "./cursor.js";
import { ErrorCode, RequestError } from "./errors.js";
import type { Hub } from "./hub.js";
import type { Logger } from "./log.js";
import type { RouteSource } from "./source.js";
import { encodeEvent } from "./sse.js";
import { Subscriber } from "./subscriber.js";
import { requestedTopics } from "./topics.js";
import { describe } from "./transport.js";

export type SidecarEnv = { Bindings: HttpBindings; Variables: { route: RouteConfig } };

/** How long a request waits for a source that is still starting before it is refused. */
const STARTING_GRACE_MS = 3_000;

/**
 * `GET <path>?topic=a&topic=b`: the event stream. Validation happens before anything is
 * written; once the source is ready the client gets a `connected` event at once, then the
 * messages after its cursor, then live messages.
 */
export function subscribeHandler(hub: Hub, clients: Clients, log: Logger) {
  return async (c: Context<SidecarEnv>): Promise<Response> => {
    const route = c.get("route");
    const rawUrl = c.env.incoming.url ?? "/";
    const rawPath = rawUrl.split("?")[0] ?? "/";
    const topics = requestedTopics(
      c.req.queries("topic") ?? [],
      rawPath,
      route.pathPrefix,
      route.maxTopics,
    );
    const cursor = resumeCursor(c.req.header("last-event-id"), c.req.query("last-id"));

    const source = hub.source(route);
    await source.whenReady(STARTING_GRACE_MS);
    if (!source.isAvailable()) return refuse(c, route, unavailable(source, route));

    const response = c.env.outgoing;
    const position = cursor ?? source.head;
    response.writeHead(200, {
      "Content-Type": "text/event-stream",
      "Cache-Control": "no-cache",
      "X-Accel-Buffering": "no",
      ...corsHeaders(route, c.req.header("origin")),
    });
    response.socket?.setNoDelay(true);
    const abort = new AbortController();
    const subscriber = new Subscriber(response, {
      topics,
      position,
      writeTimeoutMs: route.writeTimeoutMs,
      maxBufferedBytes: route.maxBufferedBytes,
      onClose: (reason) => {
        abort.abort();
        source.detach(subscriber);
        clients.remove(route, subscriber);
        if (reason.type !== "client_left" && reason.type !== "shutdown") {
          log.info("subscriber cut", {
            route: route.name,
            reason: reason.type,
            position: subscriber.position,
          });
        }
      },
    });
    clients.add(route, subscriber);
    subscriber.write(
      encodeEvent({
        id: position,
        event: "connected",
        data: JSON.stringify({ topics }),
        ...(route.retryMs === null ? {} : { retry: route.retryMs }),
      }),
    );
    source.attach(subscriber, abort.signal).catch((error) => {
      log.warn("replay failed; the client will resume", {
        route: route.name,
        reason: describe(error),
      });
      subscriber.close({ type: "replay_failed", message: describe(error) });
    });
    return RESPONSE_ALREADY_SENT;
  };
}

function unavailable(source: RouteSource, route: RouteConfig): RequestError {
  if (source.transport.state.type !== "connected") {
    return new RequestError(
      503,
      ErrorCode.NatsUnavailable,
      "NATS is not reachable right now; retry shortly",
    );
  }
  if (source.state.type === "stream_missing") {
    return new RequestError(
      503,
      ErrorCode.StreamNotFound,
      `stream ${route.streamName} does not exist yet; retry shortly`,
    );
  }
  return new RequestError(
    503,
    ErrorCode.NatsUnavailable,
    "the event source is starting; retry shortly",
  );
}

/**
 * Refuses a request that may succeed later. A browser's EventSource gives up for good on a
 * non-200 status, so it gets a 200 stream with `retry:` and one `unavailable` event, then the
 * stream closes and the browser retries. Other clients get 503 with `Retry-After`.
 */
function refuse(c: Context<SidecarEnv>, route: RouteConfig, error: RequestError): Response {
  const retryMs = route.retryMs ?? Math.max(1000, route.nats.reconnectWaitMs);
  const cors = corsHeaders(route, c.req.header("origin"));
  if ((c.req.header("accept") ?? "").includes("text/event-stream")) {
    const response: ServerResponse = c.env.outgoing;
    response.writeHead(200, {
      "Content-Type": "text/event-stream",
      "Cache-Control": "no-cache",
      ...cors,
    });
    response.end(
      encodeEvent({ event: "unavailable", retry: retryMs, data: JSON.stringify(error.toJSON()) }),
    );
    return RESPONSE_ALREADY_SENT;
  }
  return c.json(error.toJSON(), 503, { ...cors, "Retry-After": String(Math.ceil(retryMs / 1000)) });
}
