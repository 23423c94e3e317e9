import { Hono } from "hono";
import { SubscriberAuthorizer } from "./authorize.js";
import { Clients } from "./clients.js";
import type { Config, RouteConfig } from "./config.js";
import { corsHeaders, preflightHeaders } from "./cors.js";
import { ErrorCode, RequestError } from "./errors.js";
import { Hub } from "./hub.js";
import { ConnectionLimits } from "./limits.js";
import type { Logger } from "./log.js";
import { publishHandler } from "./publish.js";
import { type SidecarEnv, subscribeHandler } from "./subscribe.js";

export const ROUTE_HEADER = "x-nuts-route";

export interface Sidecar {
  app: Hono<SidecarEnv>;
  hub: Hub;
  clients: Clients;
  limits: ConnectionLimits;
  /** Ends every stream and drains NATS. */
  close(): Promise<void>;
}

/** The Hono app: route selection, CORS preflight, the event stream, publishing, errors. */
export function createSidecar(config: Config, log: Logger): Sidecar {
  const authorizers = new Map<string, SubscriberAuthorizer>();
  for (const route of config.routes.values()) {
    const authorizer = SubscriberAuthorizer.forRoute(route);
    if (authorizer) authorizers.set(route.name, authorizer);
  }
  const hub = new Hub(config, log);
  const clients = new Clients();
  const limits = new ConnectionLimits();
  const onlyRoute = config.routes.size === 1 ? [...config.routes.values()][0] : undefined;
  const app = new Hono<SidecarEnv>();

  app.use(async (c, next) => {
    c.set("route", selectRoute(config, onlyRoute, c.req.header(ROUTE_HEADER)));
    await next();
  });
  app.options("*", (c) =>
    c.body(null, 204, preflightHeaders(c.get("route"), c.req.header("origin"))),
  );
  app.get("*", subscribeHandler({ hub, clients, limits, authorizers, log }));
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
    async close() {
      clients.closeAll({ type: "shutdown" });
      await hub.close();
    },
  };
}

/** Caddy always sets the route header; with one route, a request without it uses that one. */
function selectRoute(
  config: Config,
  onlyRoute: RouteConfig | undefined,
  header: string | undefined,
): RouteConfig {
  if (header === undefined && onlyRoute) return onlyRoute;
  if (header === undefined || header === "") {
    throw new RequestError(404, ErrorCode.NoRoute, "no route: the X-Nuts-Route header names none");
  }
  const route = config.routes.get(header);
  if (!route)
    throw new RequestError(
      404,
      ErrorCode.UnknownRoute,
      `no route named ${JSON.stringify(header.slice(0, 64))}`,
    );
  return route;
}
