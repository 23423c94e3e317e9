import type { RouteConfig } from "./config.js";
import type { CloseReason, Subscriber } from "./subscriber.js";

/**
 * The subscribers connected to each route, with one heartbeat ticker per route that runs only
 * while the route has subscribers. A subscriber that leaves is removed here and nowhere else
 * keeps it.
 */
export class Clients {
  private readonly byRoute = new Map<
    string,
    { route: RouteConfig; subscribers: Set<Subscriber>; ticker?: NodeJS.Timeout }
  >();

  add(route: RouteConfig, subscriber: Subscriber): void {
    let entry = this.byRoute.get(route.name);
    if (!entry) {
      entry = { route, subscribers: new Set() };
      this.byRoute.set(route.name, entry);
    }
    entry.subscribers.add(subscriber);
    const interval = route.heartbeatIntervalMs;
    if (interval !== null && !entry.ticker) {
      const subscribers = entry.subscribers;
      // Checking four times per interval keeps each client's silence within 1.25 intervals.
      entry.ticker = setInterval(
        () => {
          const now = Date.now();
          for (const each of subscribers) each.heartbeat(now, interval);
        },
        Math.max(10, Math.floor(interval / 4)),
      );
    }
  }

  remove(route: RouteConfig, subscriber: Subscriber): void {
    const entry = this.byRoute.get(route.name);
    if (!entry) return;
    entry.subscribers.delete(subscriber);
    if (entry.subscribers.size === 0) {
      clearInterval(entry.ticker);
      this.byRoute.delete(route.name);
    }
  }

  /** Connected subscribers, per route or in all. */
  count(routeName?: string): number {
    if (routeName !== undefined) return this.byRoute.get(routeName)?.subscribers.size ?? 0;
    let total = 0;
    for (const entry of this.byRoute.values()) total += entry.subscribers.size;
    return total;
  }

  /** Number of routes with a running heartbeat ticker (leak checks). */
  get tickers(): number {
    let count = 0;
    for (const entry of this.byRoute.values()) if (entry.ticker) count++;
    return count;
  }

  closeAll(reason: CloseReason): void {
    for (const entry of [...this.byRoute.values()]) {
      for (const subscriber of [...entry.subscribers]) subscriber.close(reason);
    }
  }
}
