import type { RouteConfig } from "./config.js";
import { ErrorCode, RequestError } from "./errors.js";

/**
 * Connection limits per route: in all (`max_connections`) and per client IP
 * (`max_connections_per_ip`). A slot is taken before any NATS work and given back when the
 * stream ends.
 */
export class ConnectionLimits {
  private readonly perRoute = new Map<string, number>();
  private readonly perAddress = new Map<string, number>();

  /**
   * Takes a slot or throws a retryable refusal; returns the function that gives it back. The
   * client's address is only looked up when the route limits connections per address.
   */
  acquire(route: RouteConfig, clientIp: () => string): () => void {
    const routeCount = this.perRoute.get(route.name) ?? 0;
    if (route.maxConnections !== null && routeCount >= route.maxConnections) {
      throw new RequestError(
        503,
        ErrorCode.TooManyConnections,
        "the server is at its connection limit; retry shortly",
        {
          "Retry-After": "5",
        },
      );
    }
    const addressKey =
      route.maxConnectionsPerIp === null ? undefined : `${route.name}\u0000${clientIp()}`;
    const addressCount = addressKey === undefined ? 0 : (this.perAddress.get(addressKey) ?? 0);
    if (route.maxConnectionsPerIp !== null && addressCount >= route.maxConnectionsPerIp) {
      throw new RequestError(
        429,
        ErrorCode.TooManyConnections,
        "too many connections from your address; close some first",
        {
          "Retry-After": "5",
        },
      );
    }
    this.perRoute.set(route.name, routeCount + 1);
    if (addressKey !== undefined) this.perAddress.set(addressKey, addressCount + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      decrement(this.perRoute, route.name);
      if (addressKey !== undefined) decrement(this.perAddress, addressKey);
    };
  }

  /** Entries held (leak checks). */
  get size(): number {
    return this.perRoute.size + this.perAddress.size;
  }
}

function decrement(map: Map<string, number>, key: string): void {
  const count = (map.get(key) ?? 1) - 1;
  if (count <= 0) map.delete(key);
  else map.set(key, count);
}

/**
 * The client's address: the last X-Forwarded-For entry, which Caddy sets from the connection
 * it accepted (earlier entries are whatever the client claimed), else the socket's peer.
 */
export function clientIpOf(
  forwardedFor: string | undefined,
  socketAddress: string | undefined,
): string {
  const last = forwardedFor?.split(",").at(-1)?.trim();
  if (last) return last;
  return socketAddress ?? "unknown";
}
