import type { MercureHubConfig } from "./config.js";

/**
 * CORS for the hub (`cors_origins`): a listed origin is echoed with credentials allowed (the
 * `mercureAuthorization` cookie then reaches the hub); `*` echoes any origin the same way, as
 * Mercure's hub does.
 */
export function hubCorsHeaders(
  hub: MercureHubConfig,
  origin: string | undefined,
): Record<string, string> {
  if (origin === undefined) return {};
  if (hub.corsOrigins === null || hub.corsOrigins.includes(origin)) {
    return {
      "Access-Control-Allow-Origin": origin,
      "Access-Control-Allow-Credentials": "true",
      Vary: "Origin",
    };
  }
  return { Vary: "Origin" };
}

export function hubPreflightHeaders(
  hub: MercureHubConfig,
  origin: string | undefined,
): Record<string, string> {
  return {
    ...hubCorsHeaders(hub, origin),
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Last-Event-ID, Cache-Control, Content-Type",
    "Access-Control-Max-Age": "86400",
  };
}
