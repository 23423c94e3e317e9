/**
 * Translates a Caddy JSON config that uses `{"handler": "nuts", ...options}` among its routes
 * (any server, inside subroutes too) into stock Caddy JSON plus sidecar options. Option values
 * are the sidecar's JSON types (seconds as numbers, lists as arrays). The path prefix comes from
 * the enclosing route's `match[].path`, minus any `rewrite` `strip_path_prefix` before the
 * handler (what `handle_path` adapts to). The sidecar address may be set with
 * `"apps": {"nuts": {"sidecar_listen": "127.0.0.1:9000"}}`, removed from the output.
 */
import { dirname } from "node:path";
import { ConfigError, type RouteOptions } from "../sidecar/config.js";
import type { Adapted, AdaptOptions } from "./adapted.js";
import { AdaptError, CaddyJsonError } from "./errors.js";
import { LISTEN_EXAMPLES, type ListenAddress, parseListenAddress } from "./listen.js";
import { guardRoute, SIDECAR_HOST } from "./oversized-guard.js";
import { type PathScope, pathScopeOf } from "./path-prefix.js";
import { SidecarRoutes } from "./sidecar-routes.js";

type JsonObject = Record<string, unknown>;

/** The path matched around a handler, and prefixes stripped since. */
interface Mount {
  matched: PathScope;
  strips: string[];
}

export function adaptJson(text: string, file: string, options: AdaptOptions): Adapted {
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch (error) {
    throw new CaddyJsonError(file, "", `not valid JSON: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (!isObject(config))
    throw new CaddyJsonError(file, "", "a Caddy JSON config must be an object");
  const adapter = new JsonAdapter(file, takeNutsApp(config, options.listen, file));
  const apps = isObject(config.apps) ? config.apps : {};
  const http = isObject(apps.http) ? apps.http : {};
  const servers = isObject(http.servers) ? http.servers : {};
  for (const [name, server] of Object.entries(servers)) {
    if (!isObject(server)) continue;
    const root: Mount = { matched: { type: "any" }, strips: [] };
    adapter.routes(server.routes, `apps.http.servers.${name}.routes`, root);
    if (isObject(server.errors)) {
      adapter.routes(server.errors.routes, `apps.http.servers.${name}.errors.routes`, root);
    }
  }
  return {
    caddy: { format: "json", json: config },
    sidecar: adapter.collected.sidecar,
    routes: adapter.collected.routes,
    listen: adapter.listen.listen,
  };
}

function takeNutsApp(config: JsonObject, defaultListen: string, file: string): ListenAddress {
  const fallback = parseListenAddress(defaultListen, process.cwd());
  if (fallback === undefined) {
    throw new AdaptError(
      `the sidecar listen address "${defaultListen}" is not like ${LISTEN_EXAMPLES}`,
    );
  }
  const apps = config.apps;
  if (!isObject(apps) || apps.nuts === undefined) return fallback;
  const nuts = apps.nuts;
  delete apps.nuts;
  if (!isObject(nuts))
    throw new CaddyJsonError(
      file,
      "apps.nuts",
      'must be an object like {"sidecar_listen": "127.0.0.1:9000"}',
    );
  for (const key of Object.keys(nuts)) {
    if (key !== "sidecar_listen")
      throw new CaddyJsonError(
        file,
        "apps.nuts",
        `unknown option "${key}"; the only one is sidecar_listen`,
      );
  }
  if (nuts.sidecar_listen === undefined) return fallback;
  const listen =
    typeof nuts.sidecar_listen === "string"
      ? parseListenAddress(nuts.sidecar_listen, dirname(file))
      : undefined;
  if (listen === undefined) {
    throw new CaddyJsonError(
      file,
      "apps.nuts.sidecar_listen",
      `must be an address like ${LISTEN_EXAMPLES}, got ${JSON.stringify(nuts.sidecar_listen)}`,
    );
  }
  return listen;
}

class JsonAdapter {
  readonly collected = new SidecarRoutes();

  constructor(
    private readonly file: string,
    readonly listen: ListenAddress,
  ) {}

  routes(routes: unknown, location: string, mount: Mount): void {
    if (!Array.isArray(routes)) return;
    let current = mount;
    routes.forEach((route, index) => {
      if (!isObject(route)) return;
      const scope = pathScopeOf(pathPatterns(route.match));
      const routeMount: Mount =
        scope.type === "any"
          ? { ...current, strips: [...current.strips] }
          : { matched: scope, strips: [] };
      this.handlers(route.handle, `${location}[${index}].handle`, routeMount);
      // A route without a matcher applies to every later route, as handle_path's rewrite does.
      if (route.match === undefined) current = { ...current, strips: routeMount.strips };
    });
  }

  private handlers(handlers: unknown, location: string, mount: Mount): void {
    if (!Array.isArray(handlers)) return;
    handlers.forEach((handler, index) => {
      if (!isObject(handler)) return;
      const here = `${location}[${index}]`;
      if (handler.handler === "nuts") {
        handlers[index] = this.translate(handler, here, mount);
      } else if (handler.handler === "subroute") {
        this.routes(handler.routes, `${here}.routes`, { ...mount, strips: [...mount.strips] });
      } else if (handler.handler === "rewrite" && typeof handler.strip_path_prefix === "string") {
        mount.strips.push(handler.strip_path_prefix);
      }
    });
  }

  private translate(handler: JsonObject, location: string, mount: Mount): JsonObject {
    const { handler: _nuts, ...options } = handler;
    const routeOptions = options as RouteOptions;
    const explicit = options.path_prefix;
    if (explicit === undefined && mount.matched.type === "unclear") {
      throw new CaddyJsonError(
        this.file,
        location,
        `cannot tell which path this nuts handler is mounted at: ${mount.matched.reason}; set "path_prefix": "/events" (the path before the topic)`,
      );
    }
    const matched = mount.matched.type === "prefix" ? mount.matched.prefix : undefined;
    if (explicit === "") delete routeOptions.path_prefix;
    if (explicit === undefined) {
      const prefix = stripPrefixes(matched ?? "", mount.strips);
      if (prefix !== "") routeOptions.path_prefix = prefix;
    }
    const namePath = typeof explicit === "string" && explicit !== "" ? explicit : matched;
    try {
      const route = this.collected.add(namePath, routeOptions, this.file, 0);
      // As in the Caddyfile output: the guard (see oversized-guard.ts), then the proxy.
      return {
        handler: "subroute",
        routes: [
          guardRoute(),
          {
            handle: [
              {
                handler: "reverse_proxy",
                upstreams: [{ dial: this.listen.dial }],
                flush_interval: -1,
                // Streams share a few HTTP/2 connections to the sidecar.
                transport: { protocol: "http", versions: ["h2c"] },
                headers: {
                  request: { set: { "X-Nuts-Route": [route.name], Host: [SIDECAR_HOST] } },
                },
                // Hold reconnecting browsers while the sidecar restarts.
                load_balancing: { try_duration: "10s", try_interval: "100ms" },
              },
            ],
          },
        ],
      };
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      throw new CaddyJsonError(this.file, location, error.message, { cause: error });
    }
  }
}

/** Every `path` pattern in a route's matcher sets; none when it does not match on path. */
function pathPatterns(match: unknown): string[] {
  if (!Array.isArray(match)) return [];
  const patterns: string[] = [];
  let setsWithoutPath = 0;
  for (const set of match) {
    const paths = isObject(set) ? set.path : undefined;
    if (Array.isArray(paths))
      patterns.push(...paths.filter((path): path is string => typeof path === "string"));
    else setsWithoutPath++;
  }
  if (patterns.length === 0) return [];
  // A matcher set without a path lets any path through.
  return setsWithoutPath > 0 ? [...patterns, "*"] : patterns;
}

function stripPrefixes(path: string, strips: string[]): string {
  let stripped = path;
  for (const strip of strips) {
    if (stripped === strip || stripped.startsWith(`${strip.replace(/\/+$/, "")}/`)) {
      stripped = stripped.slice(strip.replace(/\/+$/, "").length);
    }
  }
  return stripped;
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
