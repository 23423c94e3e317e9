import { RESPONSE_ALREADY_SENT } from "@hono/node-server/utils/response";
import type { Context } from "hono";
import { getCookie } from "hono/cookie";
import type { SubscriberAuthorizer } from "./authorize.js";
import type { Clients } from "./clients.js";
import type { RouteConfig } from "./config.js";
import { corsHeaders } from "./cors.js";
import { resumeCursor } from "./cursor.js";
import { ErrorCode, RequestError } from "./errors.js";
import { type Bindings, openEventStream, sendEventStream } from "./event-stream.js";
import type { Hub } from "./hub.js";
import { type ConnectionLimits, clientIpOf } from "./limits.js";
import type { Logger } from "./log.js";
import type { RouteMetrics, SidecarMetrics } from "./metrics.js";
import type { RouteSource } from "./source.js";
import { encodeEvent } from "./sse.js";
import { Subscriber } from "./subscriber.js";
import { requestedTopics } from "./topics.js";
import { describe } from "./transport.js";

export type SidecarEnv = { Bindings: Bindings; Variables: { route: RouteConfig } };

const SUBSCRIBER_CLOSED = new Error("the subscriber's stream ended");

/** How long a request waits for a source that is still starting before it is refused. */
const STARTING_GRACE_MS = 3_000;

export interface SubscribeDeps {
  hub: Hub;
  clients: Clients;
  limits: ConnectionLimits;
  /** Per route name; routes without subscriber authorization have none. */
  authorizers: Map<string, SubscriberAuthorizer>;
  log: Logger;
  /** Counts streams opened, refused and closed, deliveries and replays. @default none */
  metrics?: SidecarMetrics;
}

/**
 * `GET <path>?topic=a&topic=b`: the event stream. Everything about the request (topics, cursor,
 * token, limits) is checked before any NATS work; once the source is ready the client gets a
 * `connected` event at once, then the messages after its cursor, then live messages.
 */
export function subscribeHandler(deps: SubscribeDeps) {
  const handle = subscribe(deps);
  const { metrics } = deps;
  if (!metrics) return (c: Context<SidecarEnv>) => handle(c);
  return async (c: Context<SidecarEnv>): Promise<Response> => {
    try {
      return await handle(c, metrics.route(c.get("route").name));
    } catch (error) {
      if (error instanceof RequestError) metrics.route(c.get("route").name).refused(error.code);
      throw error;
    }
  };
}

function subscribe({ hub, clients, limits, authorizers, log }: SubscribeDeps) {
  return async (c: Context<SidecarEnv>, metrics?: RouteMetrics): Promise<Response> => {
    const route = c.get("route");
    const authorizer = authorizers.get(route.name);
    const rawPath = (c.env.incoming.url ?? "/").split("?")[0] ?? "/";
    const topics = requestedTopics(
      c.req.queries("topic") ?? [],
      rawPath,
      route.pathPrefix,
      route.maxTopics,
      authorizer !== undefined,
    );
    const cursor = resumeCursor(c.req.header("last-event-id"), c.req.query("last-id"));
    let release: (() => void) | undefined;
    try {
      if (authorizer) {
        const token = authorizer.tokenFrom({
          authorization: c.req.header("authorization"),
          cookie: getCookie(c, route.subscriberAuth?.cookie ?? ""),
          query: c.req.query("authorization"),
        });
        await authorizer.authorize(token, topics);
      }
      if (c.req.method === "HEAD") return await head(c, route, hub.source(route));
      release = limits.acquire(route, () =>
        clientIpOf(c.req.header("x-forwarded-for"), c.env.incoming.socket?.remoteAddress),
      );
      const source = hub.source(route);
      await source.whenReady(STARTING_GRACE_MS);
      if (!source.isAvailable()) throw unavailable(source, route);
      stream(c, route, source, topics, cursor, release, { clients, log, metrics });
      return RESPONSE_ALREADY_SENT;
    } catch (error) {
      release?.();
      if (error instanceof RequestError && error.retryable) {
        metrics?.refused(error.code);
        return refuse(c, route, error);
      }
      throw error;
    }
  };
}

/**
 * `HEAD`: what a GET would answer (a 200 event-stream head, or the refusal), with no stream
 * behind it: health checks and link checkers probe routes this way.
 */
async function head(
  c: Context<SidecarEnv>,
  route: RouteConfig,
  source: RouteSource,
): Promise<Response> {
  await source.whenReady(STARTING_GRACE_MS);
  if (!source.isAvailable()) throw unavailable(source, route);
  return c.body(null, 200, {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    ...corsHeaders(route, c.req.header("origin")),
  });
}

/** Opens the event stream and hands the subscriber to its source. */
function stream(
  c: Context<SidecarEnv>,
  route: RouteConfig,
  source: RouteSource,
  topics: string[],
  cursor: number | undefined,
  release: () => void,
  {
    clients,
    log,
    metrics,
  }: Pick<SubscribeDeps, "clients" | "log"> & { metrics: RouteMetrics | undefined },
): void {
  const sink = openEventStream(c.env, {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
    ...corsHeaders(route, c.req.header("origin")),
  });
  if (sink === undefined) {
    // The client left while we waited for the source.
    release();
    return;
  }
  const position = cursor ?? source.head;
  // Only needed until the subscriber is live (replay, catch-up); released then, so an idle
  // stream does not keep an AbortController, its signal and their listener maps.
  let abort: AbortController | undefined = new AbortController();
  const subscriber = new Subscriber(sink, {
    topics,
    position,
    writeTimeoutMs: route.writeTimeoutMs,
    maxBufferedBytes: route.maxBufferedBytes,
    ...(metrics ? { tally: metrics.tally, onReset: (reason) => metrics.reset(reason) } : {}),
    onClose: (reason) => {
      metrics?.streamClosed(reason.type);
      // A plain reason: abort() without one builds a DOMException with a stack trace per client.
      abort?.abort(SUBSCRIBER_CLOSED);
      source.detach(subscriber);
      clients.remove(route, subscriber);
      release();
      if (reason.type !== "client_left" && reason.type !== "shutdown") {
        const cut =
          reason.type === "slow_client" ||
          reason.type === "write_timeout" ||
          reason.type === "replay_failed";
        log.info(cut ? "subscriber cut" : "subscriber stream ended", {
          route: route.name,
          reason: reason.type,
          position: subscriber.position,
        });
      }
    },
  });
  clients.add(route, subscriber);
  metrics?.streamOpened();
  subscriber.write(
    encodeEvent({
      id: position,
      event: "connected",
      data: JSON.stringify({ topics }),
      ...(route.retryMs === null ? {} : { retry: route.retryMs }),
    }),
  );
  sink.uncork();
  catchUp(source, subscriber, cursor, abort.signal, route.replayMaxMessages, metrics).then(
    () => {
      abort = undefined;
    },
    (error) => {
      abort = undefined;
      log.warn("replay failed; the client will resume", {
        route: route.name,
        reason: describe(error),
      });
      subscriber.close({ type: "replay_failed", message: describe(error) });
    },
  );
}

/**
 * Replays what the client missed and attaches it for live delivery. A resuming client is
 * checked against what the stream holds now: messages the stream has dropped are not served
 * from memory either, and a cursor beyond the stream's end (the stream was recreated) gets an
 * `event: reset` that moves the client to the end instead of waiting for numbers that will
 * never come.
 */
async function catchUp(
  source: RouteSource,
  subscriber: Subscriber,
  cursor: number | undefined,
  signal: AbortSignal,
  replayLimit: number | null,
  metrics: RouteMetrics | undefined,
): Promise<void> {
  if (cursor !== undefined && cursor !== source.head) {
    const { first, last } = await source.streamBounds();
    if (cursor > last && !subscriber.closed) {
      subscriber.reset(
        last,
        encodeEvent({
          id: last,
          event: "reset",
          data: JSON.stringify({ reason: "cursor_ahead_of_stream" }),
        }),
        "cursor_ahead_of_stream",
      );
    } else if (first > 0 && cursor < first - 1) {
      subscriber.position = first - 1;
    }
  }
  const result = await source.attach(subscriber, signal, replayLimit);
  if (cursor !== undefined && result.type !== "aborted") {
    metrics?.replayed(result.type === "live" && !result.fromNats ? "ring" : "nats");
  }
  if (result.type === "replay_limit") {
    subscriber.close({ type: "replay_limit", messages: result.messages });
  }
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
 * stream closes and the browser retries. Other clients get the status (429 or 503) with
 * `Retry-After`.
 */
function refuse(c: Context<SidecarEnv>, route: RouteConfig, error: RequestError): Response {
  const retryMs = route.retryMs ?? Math.max(1000, route.nats.reconnectWaitMs);
  const cors = corsHeaders(route, c.req.header("origin"));
  if ((c.req.header("accept") ?? "").includes("text/event-stream")) {
    sendEventStream(
      c.env,
      { "Content-Type": "text/event-stream", "Cache-Control": "no-cache", ...cors },
      encodeEvent({ event: "unavailable", retry: retryMs, data: JSON.stringify(error.toJSON()) }),
    );
    return RESPONSE_ALREADY_SENT;
  }
  return c.json(error.toJSON(), error.status, {
    ...cors,
    "Retry-After": String(Math.ceil(retryMs / 1000)),
    ...error.headers,
  });
}
