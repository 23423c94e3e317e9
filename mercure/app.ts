import type { Context, MiddlewareHandler } from "hono";
import type { Bindings } from "../sidecar/event-stream.js";
import type { Logger } from "../sidecar/log.js";
import type { MercureHubConfig } from "./config.js";
import { hubCorsHeaders, hubPreflightHeaders } from "./cors.js";
import { HubError, HubErrorCode } from "./errors.js";
import { MercureHub } from "./hub.js";
import { publish } from "./publish.js";
import { subscribe } from "./subscribe.js";
import { subscriptionsApi } from "./subscriptions-api.js";
import { UI_PAGE } from "./ui.js";

/** Caddy names the hub of a request in this header (set by the adapter, never by clients). */
export const HUB_HEADER = "x-nuts-mercure";

type HubContext = Context<{ Bindings: Bindings }>;

/**
 * The sidecar's Mercure hubs. Requests that Caddy marks with X-Nuts-Mercure are answered here;
 * all others go on to the NUTS routes.
 */
export class MercureHubs {
  private readonly hubs = new Map<string, MercureHub>();

  constructor(configs: Map<string, MercureHubConfig>, log: Logger) {
    for (const [name, config] of configs) this.hubs.set(name, new MercureHub(config, log));
  }

  get size(): number {
    return this.hubs.size;
  }

  hub(name: string): MercureHub | undefined {
    return this.hubs.get(name);
  }

  middleware(log: Logger): MiddlewareHandler {
    return async (c, next) => {
      const name = c.req.header(HUB_HEADER);
      if (name === undefined) return next();
      const hub = this.hubs.get(name);
      if (hub === undefined) {
        return c.json(
          {
            error: "unknown_hub",
            message: `no Mercure hub named ${JSON.stringify(name.slice(0, 64))}`,
          },
          404,
        );
      }
      try {
        return await handle(hub, c as unknown as HubContext);
      } catch (error) {
        if (error instanceof HubError) {
          return c.json(error.toJSON(), error.status, {
            ...hubCorsHeaders(hub.config, c.req.header("origin")),
            ...error.headers,
          });
        }
        log.error("mercure request failed", { hub: name, reason: (error as Error).message });
        return c.json({ error: "internal", message: "the hub failed to handle this request" }, 500);
      }
    };
  }

  async close(): Promise<void> {
    await Promise.all([...this.hubs.values()].map((hub) => hub.close()));
  }
}

async function handle(hub: MercureHub, c: HubContext): Promise<Response> {
  const path = c.req.path.replace(/\/+$/, "");
  const base = hub.config.path;
  if (path === base) {
    switch (c.req.method) {
      case "GET":
        return subscribe(hub, c);
      case "POST":
        return publish(hub, c);
      case "OPTIONS":
        return c.body(null, 204, hubPreflightHeaders(hub.config, c.req.header("origin")));
      default:
        throw new HubError(
          405,
          HubErrorCode.MethodNotAllowed,
          "use GET to subscribe or POST to publish",
          { Allow: "GET, POST, OPTIONS" },
        );
    }
  }
  const pathname = new URL(c.req.url).pathname.replace(/\/+$/, "");
  if (
    (pathname === `${base}/subscriptions` || pathname.startsWith(`${base}/subscriptions/`)) &&
    c.req.method === "GET"
  ) {
    const rest = pathname.slice(`${base}/subscriptions`.length);
    return subscriptionsApi(hub, c, rest === "" ? [] : rest.slice(1).split("/"));
  }
  if (hub.config.ui && path === `${base}/ui` && c.req.method === "GET") {
    if (!c.req.path.endsWith("/")) return c.redirect(`${base}/ui/`, 308);
    return c.html(UI_PAGE(base), 200, {
      "Content-Security-Policy":
        "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'",
    });
  }
  throw new HubError(
    404,
    HubErrorCode.NotFound,
    `nothing at ${c.req.path.slice(0, 128)}; the hub is at ${base}`,
  );
}
