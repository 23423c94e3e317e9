import type { SourceState } from "./source.js";
import type { TransportState } from "./transport.js";

/** Why a route cannot take subscribers now (a bounded set: it is also a JSON value). */
export type NotReadyReason = "nats_disconnected" | "stream_missing" | "starting" | "failed";

export type RouteReadiness =
  | { ready: true }
  | { ready: false; reason: NotReadyReason; message: string };

export interface Readiness {
  status: "ready" | "not_ready";
  routes: Record<string, RouteReadiness>;
}

/** What readiness needs to know about a route: its stream, and where its source stands. */
export interface RouteStatus {
  streamName: string;
  topicPrefix: string;
  transport: TransportState;
  source: SourceState;
}

/**
 * A route is ready when its NATS connection is up and its source has a live consumer on a
 * stream that exists; otherwise the reason says which of those is missing and how to fix it.
 */
export function routeReadiness(route: RouteStatus): RouteReadiness {
  const { transport, source } = route;
  if (transport.type === "nats_disconnected" || transport.type === "closed") {
    return {
      ready: false,
      reason: "nats_disconnected",
      message: "NATS is not reachable; the sidecar keeps reconnecting",
    };
  }
  switch (source.type) {
    case "ready":
      if (transport.type === "connected") return { ready: true };
      return { ready: false, reason: "starting", message: "connecting to NATS" };
    case "stream_missing":
      return {
        ready: false,
        reason: "stream_missing",
        message: `stream ${route.streamName} does not exist; create it with nuts stream add ${route.streamName} --subjects '${route.topicPrefix}>'`,
      };
    case "starting":
      return {
        ready: false,
        reason: "starting",
        message:
          transport.type === "connecting"
            ? "connecting to NATS"
            : `starting the live consumer on stream ${route.streamName}`,
      };
    case "failed":
      return {
        ready: false,
        reason: "failed",
        message: `the live consumer on stream ${route.streamName} failed and is being started again: ${source.reason}`,
      };
    case "stopped":
      return { ready: false, reason: "failed", message: "the sidecar is shutting down" };
  }
}

/** The sidecar is ready when every route listed is. */
export function readiness(routes: ReadonlyMap<string, RouteStatus>): Readiness {
  const result: Record<string, RouteReadiness> = {};
  let ready = true;
  for (const [name, route] of routes) {
    const each = routeReadiness(route);
    result[name] = each;
    if (!each.ready) ready = false;
  }
  return { status: ready ? "ready" : "not_ready", routes: result };
}
