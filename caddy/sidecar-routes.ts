/**
 * The routes an adapter collects: each nuts block or handler gets a unique name, its options are
 * checked with the sidecar's own `resolveRoute` (so the adapter accepts exactly what the sidecar
 * will), and it is added to sidecar.json.
 */
import {
  type RouteConfig,
  type RouteOptions,
  resolveRoute,
  type SidecarOptions,
} from "../sidecar/config.js";
import type { AdaptedRoute } from "./adapted.js";
import { RouteNames } from "./route-names.js";

export class SidecarRoutes {
  readonly sidecar: SidecarOptions = { routes: {} };
  readonly routes: AdaptedRoute[] = [];
  private readonly names = new RouteNames();

  /**
   * Adds a route named after `namePath` (the path it matches, if any). Throws the ConfigError of
   * `resolveRoute` when the options do not hold together.
   */
  add(
    namePath: string | undefined,
    options: RouteOptions,
    file: string,
    line: number,
  ): RouteConfig {
    const name = this.names.next(namePath);
    const resolved = resolveRoute(name, options);
    this.sidecar.routes[name] = options;
    this.routes.push({
      name,
      pathPrefix: resolved.pathPrefix,
      streamName: resolved.streamName,
      topicPrefix: resolved.topicPrefix,
      file,
      line,
    });
    return resolved;
  }
}
