/**
 * Header routes: routes that a Caddyfile defines per request, for people who run Caddy
 * themselves. NUTS's snippet (`caddy/nuts.caddy`) turns `import nuts EVENTS events. "max_topics=8"`
 * into a `reverse_proxy` that strips every X-Nuts-* header a client sent and sets these:
 *
 * - `X-Nuts-Stream`: the stream (the import's first argument)
 * - `X-Nuts-Topic-Prefix`: the topic prefix (the second)
 * - `X-Nuts-Options`: the other options, `name=value` separated by spaces (the optional third)
 *
 * A route's options are the sidecar config's `header_routes` (NATS settings, secrets, defaults)
 * with these on top, resolved by the same `resolveRoute` as sidecar.json's routes. Headers carry
 * only the non-secret per-route options below: a secret or a NATS setting in a header is refused.
 * Each distinct header set is resolved once and kept, so a request costs one map lookup.
 */
import {
  ConfigError,
  nearestOptionName,
  parseDurationSeconds,
  ROUTE_OPTION_NAMES,
  type RouteConfig,
  type RouteOptionName,
  type RouteOptions,
  resolveRoute,
  SECRET_OPTION_NAMES,
} from "./config.js";
import { ErrorCode, RequestError } from "./errors.js";
import type { Logger } from "./log.js";

export const STREAM_HEADER = "x-nuts-stream";
export const TOPIC_PREFIX_HEADER = "x-nuts-topic-prefix";
export const OPTIONS_HEADER = "x-nuts-options";

/**
 * What the snippet sets `X-Nuts-Options` to before the import's options replace it. It stays
 * only when Caddy read several unquoted options as `header_up`'s find-and-replace form.
 */
export const UNQUOTED_OPTIONS_SENTINEL = "(options-not-quoted)";

/** The options an import line may set: per route, and never secret. */
export const HEADER_OPTION_NAMES = [
  "path_prefix",
  "allowed_origins",
  "heartbeat_interval",
  "max_topics",
  "retry",
  "write_timeout",
  "ring_size",
  "max_buffered_bytes",
  "publish",
  "subscriber_jwt_cookie",
  "subscriber_jwt_query",
  "max_connections",
  "max_connections_per_ip",
  "max_event_size",
  "replay_max_messages",
] as const satisfies readonly RouteOptionName[];

export type HeaderOptionName = (typeof HEADER_OPTION_NAMES)[number];

/** Distinct header sets kept; only Caddy's config sets them, so this is a safety bound. */
export const MAX_HEADER_ROUTES = 256;

const FIX = "fix the route's import line in the Caddyfile, then run caddy reload";

/** A bad `X-Nuts-Options` value: `option` names the option at fault, if one is. */
export class HeaderOptionsError extends Error {
  override name = "HeaderOptionsError";
  constructor(
    message: string,
    readonly option: RouteOptionName | undefined,
  ) {
    super(message);
  }
}

/**
 * Reads `X-Nuts-Options` (`max_topics=8 heartbeat_interval=15s publish=on`) into RouteOptions,
 * with the values a Caddyfile `nuts` block takes: durations (`15s`), whole numbers, `on`/`off`,
 * `off` for "no limit", and comma-separated origins. Throws HeaderOptionsError.
 */
export function parseHeaderOptions(text: string): RouteOptions {
  const options: Record<string, unknown> = {};
  if (text.trim() === UNQUOTED_OPTIONS_SENTINEL) {
    throw new HeaderOptionsError(
      'the options after the topic prefix must be one quoted argument: import nuts EVENTS events. "max_topics=8 publish=on"',
      undefined,
    );
  }
  for (const item of text.split(/\s+/).filter((part) => part !== "")) {
    const equals = item.indexOf("=");
    if (equals <= 0) {
      throw new HeaderOptionsError(
        `"${item.slice(0, 64)}" is not name=value; write options like max_topics=8`,
        undefined,
      );
    }
    const name = checkedName(item.slice(0, equals));
    if (name in options) {
      throw new HeaderOptionsError(`${name} is set twice; keep one`, name);
    }
    options[name] = optionValue(name, item.slice(equals + 1));
  }
  return options as RouteOptions;
}

function checkedName(text: string): HeaderOptionName {
  if ((HEADER_OPTION_NAMES as readonly string[]).includes(text)) return text as HeaderOptionName;
  if ((SECRET_OPTION_NAMES as readonly string[]).includes(text)) {
    throw new HeaderOptionsError(
      `${text} is a secret: set it under "header_routes" in the sidecar's config, never in the Caddyfile`,
      text as RouteOptionName,
    );
  }
  if ((ROUTE_OPTION_NAMES as readonly string[]).includes(text)) {
    throw new HeaderOptionsError(
      `${text} is set for all header routes, under "header_routes" in the sidecar's config; the import line takes ${HEADER_OPTION_NAMES.join(", ")}`,
      text as RouteOptionName,
    );
  }
  const hint = nearestOptionName(text);
  throw new HeaderOptionsError(
    `unknown option "${text.slice(0, 64)}"${hint ? `; did you mean "${hint}"?` : ""}`,
    undefined,
  );
}

function optionValue(name: HeaderOptionName, text: string): unknown {
  const fail = (expected: string): never => {
    throw new HeaderOptionsError(`${name} takes ${expected}, got "${text.slice(0, 64)}"`, name);
  };
  switch (name) {
    case "path_prefix":
      return text;
    case "subscriber_jwt_cookie":
      return text === "" ? fail("a cookie name") : text;
    case "allowed_origins":
      return text.split(",").filter((origin) => origin !== "");
    case "heartbeat_interval":
    case "write_timeout":
      return parseDurationSeconds(text) ?? fail("a duration like 30, 0.5, 500ms, 30s or 5m");
    case "max_topics":
    case "ring_size":
    case "max_buffered_bytes":
      return /^\d+$/.test(text) ? Number(text) : fail("a whole number");
    case "retry":
    case "max_connections":
    case "max_connections_per_ip":
    case "max_event_size":
    case "replay_max_messages":
      if (text === "off") return null;
      return /^\d+$/.test(text) ? Number(text) : fail("a whole number, or off");
    case "publish":
    case "subscriber_jwt_query":
      if (text === "on" || text === "true") return true;
      if (text === "off" || text === "false") return false;
      return fail("on or off");
  }
}

/** The route headers of one request, as the sidecar received them. */
export interface RouteHeaders {
  stream: string | undefined;
  topicPrefix: string | undefined;
  options: string | undefined;
}

/**
 * Resolves header routes and keeps each one: the same headers give the same RouteConfig object,
 * so limits, authorizers and the hub's one source per stream and prefix see one route.
 */
export class HeaderRoutes {
  private readonly resolved = new Map<string, RouteConfig | RequestError>();
  private readonly names = new Set<string>();

  constructor(
    private readonly base: RouteOptions,
    private readonly log: Logger,
    /** Called once for each new route, before its first request is served. */
    private readonly onNewRoute: (route: RouteConfig) => void = () => {},
  ) {}

  /** The route these headers define; throws a 400 RequestError that says what to fix. */
  resolve(headers: RouteHeaders): RouteConfig {
    const key = `${headers.stream}\n${headers.topicPrefix}\n${headers.options ?? ""}`;
    let route = this.resolved.get(key);
    if (route === undefined) {
      if (this.resolved.size >= MAX_HEADER_ROUTES) {
        throw invalid(
          `this sidecar has already seen ${MAX_HEADER_ROUTES} different header routes; restart it to forget the old ones`,
        );
      }
      route = this.build(headers);
      this.resolved.set(key, route);
      if (route instanceof RequestError) {
        this.log.warn("header route refused", { reason: route.message });
      } else {
        this.onNewRoute(route);
      }
    }
    if (route instanceof RequestError) throw route;
    return route;
  }

  /** Routes resolved so far (tests, leak checks). */
  get size(): number {
    return this.resolved.size;
  }

  private build(headers: RouteHeaders): RouteConfig | RequestError {
    const { stream, topicPrefix } = headers;
    if (stream === undefined || stream === "" || stream.startsWith("{args[")) {
      return invalid(
        `X-Nuts-Stream is missing: the import line names the stream first, e.g. import nuts EVENTS events.; ${FIX}`,
      );
    }
    if (topicPrefix === undefined || topicPrefix.startsWith("{args[")) {
      return invalid(
        `X-Nuts-Topic-Prefix is missing: the import line gives the topic prefix second, e.g. import nuts EVENTS events. ("" for none); ${FIX}`,
      );
    }
    let options: RouteOptions;
    try {
      options = parseHeaderOptions(headers.options ?? "");
    } catch (error) {
      if (error instanceof HeaderOptionsError) {
        return invalid(`X-Nuts-Options: ${error.message}; ${FIX}`);
      }
      throw error;
    }
    const name = this.nameFor(stream, topicPrefix);
    try {
      // resolveRoute checks names meant for the X-Nuts-Route header; this one is ours.
      const route = resolveRoute("header-route", {
        ...this.base,
        ...options,
        stream_name: stream,
        topic_prefix: topicPrefix,
      });
      this.names.add(name);
      return { ...route, name };
    } catch (error) {
      if (error instanceof ConfigError) {
        const where =
          error.key === "stream_name"
            ? "X-Nuts-Stream"
            : error.key === "topic_prefix"
              ? "X-Nuts-Topic-Prefix"
              : "X-Nuts-Options";
        return invalid(`${where}: ${error.message.replace(/^route "[^"]*": /, "")}; ${FIX}`);
      }
      throw error;
    }
  }

  /**
   * `STREAM/prefix.` names the route in logs and keys its limits; header routes that differ
   * only in other options get `#2`, `#3`. The `/` keeps them apart from sidecar.json's names.
   */
  private nameFor(stream: string, topicPrefix: string): string {
    const base = `${stream}/${topicPrefix}`;
    let name = base;
    for (let count = 2; this.names.has(name); count++) name = `${base}#${count}`;
    return name;
  }
}

function invalid(message: string): RequestError {
  return new RequestError(400, ErrorCode.InvalidRouteHeader, message);
}
