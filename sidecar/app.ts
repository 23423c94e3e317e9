import { Hono } from "hono";
import { MercureHubs } from "../mercure/index.js";
import { SubscriberAuthorizer } from "./authorize.js";
import { Clients } from "./clients.js";
import type { Config, RouteConfig } from "./config.js";
import { corsHeaders, preflightHeaders } from "./cors.js";
import { ErrorCode, RequestError } from "./errors.js";
import {
  HeaderRoutes,
  OPTIONS_HEADER,
  STREAM_HEADER,
  TOPIC_PREFIX_HEADER,
} from "./header-routes.js";
import { Hub } from "./hub.js";
import { ConnectionLimits } from "./limits.js";
import type { Logger } from "./log.js";
import type { SidecarMetrics } from "./metrics.js";
import { publishHandler } from "./publish.js";
import { type SidecarEnv, subscribeHandler } from "./subscribe.js";

export const ROUTE_HEADER = "x-nuts-route";

export interface Sidecar {
  app: Hono<SidecarEnv>;
  hub: Hub;
  clients: Clients;
  limits: ConnectionLimits;
  /** The Mercure hubs (`mercure` blocks), served before the NUTS routes. */
  mercure: MercureHubs;
  /** The Prometheus metrics, when the sidecar reports them. */
  metrics: SidecarMetrics | undefined;
  /** Ends every stream and drains NATS. */
  close(): Promise<void>;
}

/** The Hono app: route selection, CORS preflight, the event stream, publishing, errors. */
export function createSidecar(config: Config, log: Logger, metrics?: SidecarMetrics): Sidecar {
  const authorizers = new Map<string, SubscriberAuthorizer>();
  const addAuthorizer = (route: RouteConfig) => {
    const authorizer = SubscriberAuthorizer.forRoute(route);
    if (authorizer) authorizers.set(route.name, authorizer);
  };
  for (const route of config.routes.values()) addAuthorizer(route);
  const headerRoutes =
    config.headerRoutes === null ? null : new HeaderRoutes(config.headerRoutes, log, addAuthorizer);
  const hub = new Hub(config, log, metrics);
  const clients = new Clients();
  const limits = new ConnectionLimits();
  const onlyRoute = config.routes.size === 1 ? [...config.routes.values()][0] : undefined;
  const app = new Hono<SidecarEnv>();
  const mercure = new MercureHubs(config.mercure, log);
  // Requests for a Mercure hub carry X-Nuts-Mercure and never reach route selection.
  if (mercure.size > 0) app.use(mercure.middleware(log));

  app.use(async (c, next) => {
    c.set(
      "route",
      selectRoute(config, onlyRoute, headerRoutes, (name) => c.req.header(name)),
    );
    await next();
  });
  app.options("*", (c) =>
    c.body(null, 204, preflightHeaders(c.get("route"), c.req.header("origin"))),
  );
  app.get("*", subscribeHandler({ hub, clients, limits, authorizers, log, metrics }));
  app.post("*", publishHandler(hub));
  app.all("*", () => {
    throw new RequestError(
      405,
      ErrorCode.MethodNotAllowed,
      "use GET to subscribe (or POST to publish, where allowed)",
    );
  });
  app.onError((error, c) => {
    // Error bodies carry CORS headers too, so a page on an allowed origin can read them.
    const route = c.get("route");
    const cors = route ? corsHeaders(route, c.req.header("origin")) : {};
    if (error instanceof RequestError) {
      return c.json(error.toJSON(), error.status, { ...cors, ...error.headers });
    }
    log.error("request failed", { path: c.req.path, reason: error.message });
    return c.json({ error: "internal", message: "the sidecar failed to handle this request" }, 500);
  });

  return {
    app,
    hub,
    clients,
    limits,
    mercure,
    metrics,
    async close() {
      clients.closeAll({ type: "shutdown" });
      await Promise.all([hub.close(), mercure.close()]);
    },
  };
}

/**
 * Caddy names the route in X-Nuts-Route (`nuts adapt`) or defines it in X-Nuts-Stream and its
 * siblings (the snippet); with one named route, a request with neither uses that one.
 */
function selectRoute(
  config: Config,
  onlyRoute: RouteConfig | undefined,
  headerRoutes: HeaderRoutes | null,
  header: (name: string) => string | undefined,
): RouteConfig {
  const named = header(ROUTE_HEADER);
  const stream = header(STREAM_HEADER);
  const topicPrefix = header(TOPIC_PREFIX_HEADER);
  if (stream !== undefined || topicPrefix !== undefined) {
    if (named !== undefined) {
      throw new RequestError(
        400,
        ErrorCode.InvalidRouteHeader,
        "X-Nuts-Route and X-Nuts-Stream are both set; name a route or define one, not both",
      );
    }
    if (!headerRoutes) {
      throw new RequestError(
        404,
        ErrorCode.NoRoute,
        'this sidecar has no header routes: add "header_routes" to its config (see docs/drop-in.md)',
      );
    }
    return headerRoutes.resolve({ stream, topicPrefix, options: header(OPTIONS_HEADER) });
  }
  if (named === undefined && onlyRoute) return onlyRoute;
  if (named === undefined || named === "") {
    throw new RequestError(404, ErrorCode.NoRoute, "no route: the X-Nuts-Route header names none");
  }
  const route = config.routes.get(named);
  if (!route)
    throw new RequestError(
      404,
      ErrorCode.UnknownRoute,
      `no route named ${JSON.stringify(named.slice(0, 64))}`,
    );
  return route;
}
