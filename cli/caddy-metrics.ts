import { createServer } from "node:net";
import type { CaddyJson } from "./caddy-config.js";

/** The Caddy server `nuts run` adds to serve Caddy's own metrics. */
export const CADDY_METRICS_SERVER = "nuts_metrics";

/** `nuts run`'s defaults: the sidecar's admin listener, and Caddy's metrics next to it. */
export const DEFAULT_ADMIN_LISTEN = "127.0.0.1:9464";
export const DEFAULT_CADDY_METRICS_LISTEN = "127.0.0.1:9465";

/**
 * Turns on Caddy's HTTP metrics (`apps.http.metrics`) and serves them, with Caddy's process and
 * admin metrics, at `http://<listen>/metrics` from a server of their own: the admin endpoint
 * `nuts run` gives Caddy is a private unix socket, which Prometheus cannot scrape.
 */
export function withCaddyMetrics(config: CaddyJson, listen: string): CaddyJson {
  const http: Record<string, unknown> = { metrics: {}, ...config.apps?.http };
  http.servers = {
    ...config.apps?.http?.servers,
    [CADDY_METRICS_SERVER]: {
      listen: [listen],
      routes: [{ match: [{ path: ["/metrics"] }], handle: [{ handler: "metrics" }] }],
      automatic_https: { disable: true },
    },
  };
  return { ...config, apps: { ...config.apps, http } };
}

/** The config without the metrics server, for saying which sites are served. */
export function withoutCaddyMetrics(config: CaddyJson): CaddyJson {
  const servers = { ...config.apps?.http?.servers };
  delete servers[CADDY_METRICS_SERVER];
  return { ...config, apps: { ...config.apps, http: { ...config.apps?.http, servers } } };
}

/** True when nothing listens on a TCP `host:port` now (a default is only taken when free). */
export function isFree(address: string): Promise<boolean> {
  const match = /^(.*):(\d+)$/.exec(address);
  if (!match) return Promise.resolve(false);
  const host = (match[1] ?? "").replace(/^\[|\]$/g, "");
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once("error", () => resolve(false));
    probe.listen({ host, port: Number(match[2]), exclusive: true }, () =>
      probe.close(() => resolve(true)),
    );
  });
}
