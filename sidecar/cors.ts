import type { RouteConfig } from "./config.js";

/**
 * CORS headers for a route: `*` answers any origin; a list echoes only a listed origin (and
 * allows credentials, so cookies reach the sidecar), with `Vary: Origin` for caches.
 */
export function corsHeaders(
  route: RouteConfig,
  origin: string | undefined,
): Record<string, string> {
  if (route.allowedOrigins === null) return { "Access-Control-Allow-Origin": "*" };
  if (origin !== undefined && route.allowedOrigins.includes(origin)) {
    return {
      "Access-Control-Allow-Origin": origin,
      "Access-Control-Allow-Credentials": "true",
      Vary: "Origin",
    };
  }
  return { Vary: "Origin" };
}

/** The answer to a preflight `OPTIONS` request. */
export function preflightHeaders(
  route: RouteConfig,
  origin: string | undefined,
): Record<string, string> {
  return {
    ...corsHeaders(route, origin),
    "Access-Control-Allow-Methods": route.publish ? "GET, POST, OPTIONS" : "GET, OPTIONS",
    "Access-Control-Allow-Headers": "Last-Event-ID, Cache-Control, Content-Type",
    "Access-Control-Max-Age": "86400",
  };
}
