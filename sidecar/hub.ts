import type { Config, NatsSettings, RouteConfig } from "./config.js";
import type { Logger } from "./log.js";
import type { SidecarMetrics } from "./metrics.js";
import { RouteSource, type SourceOptions } from "./source.js";
import { NatsTransport } from "./transport.js";

/**
 * Owns the NATS side of the sidecar: one connection per distinct set of NATS settings, one
 * route source (live consumer, ring) per stream and topic prefix on it. Routes that share
 * both share the source, so the number of JetStream consumers never grows with clients.
 */
export class Hub {
  private readonly transports = new Map<string, NatsTransport>();
  private readonly sources = new Map<string, RouteSource>();
  private readonly sourceByRoute = new Map<string, RouteSource>();

  constructor(
    config: Config,
    private readonly log: Logger,
    private readonly metrics?: SidecarMetrics,
  ) {
    for (const route of config.routes.values()) this.addRoute(route);
  }

  /** The source serving a route; a header route's is found or started on its first request. */
  source(route: RouteConfig): RouteSource {
    return this.sourceByRoute.get(route.name) ?? this.addRoute(route);
  }

  /** The source of every route served so far (a header route once it was first requested). */
  routeSources(): ReadonlyMap<string, RouteSource> {
    return this.sourceByRoute;
  }

  /** The transport (NATS connection) of a route, for publishing. */
  transport(route: RouteConfig): NatsTransport {
    return this.source(route).transport;
  }

  /** Every source, for tests and metrics. */
  allSources(): RouteSource[] {
    return [...this.sources.values()];
  }

  async close(): Promise<void> {
    await Promise.all([...this.sources.values()].map((source) => source.stop()));
    await Promise.all([...this.transports.values()].map((transport) => transport.close()));
  }

  private addRoute(route: RouteConfig): RouteSource {
    const source = this.sourceFor(route);
    this.sourceByRoute.set(route.name, source);
    this.metrics?.watchSource(route.name, source);
    return source;
  }

  private sourceFor(route: RouteConfig): RouteSource {
    const transportKey = settingsKey(route.nats);
    let transport = this.transports.get(transportKey);
    if (!transport) {
      transport = new NatsTransport(route.nats, this.log);
      this.transports.set(transportKey, transport);
      this.metrics?.watchTransport(transport);
    }
    const options: SourceOptions = {
      streamName: route.streamName,
      topicPrefix: route.topicPrefix,
      ringSize: route.ringSize,
      maxEventSize: route.maxEventSize,
      retryWaitMs: route.nats.reconnectWaitMs,
    };
    // Frames are shared, so routes share a source only when they frame messages alike.
    const sourceKey = JSON.stringify([transportKey, options]);
    let source = this.sources.get(sourceKey);
    if (!source) {
      source = new RouteSource(transport, options, this.log);
      this.sources.set(sourceKey, source);
    }
    return source;
  }
}

function settingsKey(settings: NatsSettings): string {
  return JSON.stringify(settings);
}
