/**
 * The sidecar's configuration: what `sidecar.json` may hold (`SidecarOptions`), and the fully
 * resolved form the rest of the code trusts (`Config`). The Caddy adapter fills in the same
 * `RouteOptions` from a `nuts { ... }` block, so option names match the Caddyfile
 * sub-directives one for one. Durations are seconds (fractions allowed) unless noted.
 */

import type { MercureHubConfig, MercureHubOptions } from "../mercure/config.js";

/** One `nuts` route, as written in sidecar.json or a Caddyfile `nuts` block. */
export interface RouteOptions {
  /** NATS server URL, or a comma-separated list for a cluster. @default "nats://localhost:4222" */
  nats_url?: string;
  /** The JetStream stream that holds the route's messages. Required. */
  stream_name?: string;
  /** Path of a NATS credentials (.creds) file. One auth mode at most. */
  nats_credentials?: string;
  /** NATS token. One auth mode at most. */
  nats_token?: string;
  /** NATS user name; needs `nats_password`. One auth mode at most. */
  nats_user?: string;
  /** NATS password; needs `nats_user`. */
  nats_password?: string;
  /** Prepended to every topic to make the NATS subject; empty or ending in ".". @default "" */
  topic_prefix?: string;
  /** Origins allowed by CORS; ["*"] allows any. @default ["*"] */
  allowed_origins?: string[];
  /** Seconds of silence before a heartbeat comment is sent; 0 switches heartbeats off. @default 30 */
  heartbeat_interval?: number;
  /** Seconds between NATS reconnect attempts. @default 2 */
  reconnect_wait?: number;
  /** NATS reconnect attempts before giving up; -1 retries forever. @default -1 */
  max_reconnects?: number;
  /** Most distinct topics one request may subscribe to. @default 32 */
  max_topics?: number;
  /** The SSE `retry:` field in milliseconds sent on connect; null sends none. @default null */
  retry?: number | null;
  /** Seconds a client may take to accept written bytes before it is cut. @default 10 */
  write_timeout?: number;
  /** The URL path the route is mounted at; what follows it is a path topic. @default "" */
  path_prefix?: string;
  /** Recent messages kept in memory to serve reconnecting clients without NATS. @default 1024 */
  ring_size?: number;
  /** Bytes queued for one client that cannot keep up before it is cut. @default 1048576 */
  max_buffered_bytes?: number;
  /** Allow `POST <path>?topic=t` to publish the request body (the demo page uses it). @default false */
  publish?: boolean;
  /** CA certificate file (PEM) to verify the NATS server; implies TLS. */
  nats_tls_ca?: string;
  /** Client certificate file (PEM) for NATS TLS; needs `nats_tls_key`. */
  nats_tls_cert?: string;
  /** Client key file (PEM) for NATS TLS; needs `nats_tls_cert`. */
  nats_tls_key?: string;
  /** HMAC secret that signs subscriber JWTs (HS256/384/512); turns authorization on. */
  subscriber_jwt_key?: string;
  /** PEM public key file (RSA: RS256, P-256: ES256, Ed25519: EdDSA); turns authorization on. */
  subscriber_jwt_public_key?: string;
  /** URL of a JWKS document (RS256, ES256, EdDSA keys); turns authorization on. */
  subscriber_jwks_url?: string;
  /** Cookie that may carry the subscriber JWT (EventSource cannot send headers). @default "nutsAuthorization" */
  subscriber_jwt_cookie?: string;
  /** Accept the JWT in an `authorization` query parameter too. @default false */
  subscriber_jwt_query?: boolean;
  /** Most concurrent streams on this route in one sidecar; null: no limit. @default null */
  max_connections?: number | null;
  /** Most concurrent streams on this route from one client IP; null: no limit. @default null */
  max_connections_per_ip?: number | null;
  /** Largest event (bytes on the wire) sent; bigger messages become a `skipped` event. @default null */
  max_event_size?: number | null;
  /** Most messages one request replays from NATS before its stream ends (the client resumes). @default null */
  replay_max_messages?: number | null;
}

/** The whole of sidecar.json: named routes, header routes, or both. */
export interface SidecarOptions {
  /**
   * Routes by name; Caddy names the route of each request in the `X-Nuts-Route` header. A
   * sidecar.json with `header_routes` may leave it out.
   */
  routes: Record<string, RouteOptions>;
  /**
   * Turns header routes on: routes a Caddyfile defines per request with NUTS's snippet
   * (`import nuts EVENTS events.`), in X-Nuts-* headers (see header-routes.ts). These options
   * are what every header route gets: the NATS settings, the secrets, and defaults the import
   * line may override. Absent: header routes are off.
   */
  header_routes?: RouteOptions;
  /** Mercure hubs by name (`mercure` blocks); Caddy names a request's hub in X-Nuts-Mercure. */
  mercure?: Record<string, MercureHubOptions>;
}

/** How to authenticate to NATS; `none` when no credentials are configured. */
export type NatsAuth =
  | { type: "none" }
  | { type: "token"; token: string }
  | { type: "user_password"; user: string; password: string }
  | { type: "credentials"; file: string };

/** Everything needed to open one NATS connection. Routes with equal settings share one. */
/** TLS to NATS: null for plain connections (a `tls://` URL still asks for TLS). */
export interface NatsTls {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
}

export interface NatsSettings {
  servers: string[];
  auth: NatsAuth;
  tls: NatsTls | null;
  reconnectWaitMs: number;
  maxReconnects: number;
}

/** Where subscriber JWTs are verified against. */
export type SubscriberKey =
  | { type: "hmac"; secret: string }
  | { type: "public_key"; file: string }
  | { type: "jwks"; url: string };

/** Subscriber authorization for a route; null in RouteConfig when it is off. */
export interface SubscriberAuth {
  key: SubscriberKey;
  cookie: string;
  allowQuery: boolean;
}

/** A route with every default filled in and every value checked. */
export interface RouteConfig {
  name: string;
  nats: NatsSettings;
  streamName: string;
  topicPrefix: string;
  /** null: any origin. */
  allowedOrigins: string[] | null;
  /** null: no heartbeats. */
  heartbeatIntervalMs: number | null;
  maxTopics: number;
  /** null: no `retry:` field. */
  retryMs: number | null;
  writeTimeoutMs: number;
  pathPrefix: string;
  ringSize: number;
  maxBufferedBytes: number;
  publish: boolean;
  /** null: anyone may subscribe to any topic of the route. */
  subscriberAuth: SubscriberAuth | null;
  maxConnections: number | null;
  maxConnectionsPerIp: number | null;
  maxEventSize: number | null;
  replayMaxMessages: number | null;
}

export interface Config {
  routes: Map<string, RouteConfig>;
  /** The options header routes start from (checked); null: header routes are off. */
  headerRoutes: RouteOptions | null;
  /** Mercure hubs by name, checked. */
  mercure: Map<string, MercureHubConfig>;
}

export const ROUTE_OPTION_NAMES = [
  "nats_url",
  "stream_name",
  "nats_credentials",
  "nats_token",
  "nats_user",
  "nats_password",
  "topic_prefix",
  "allowed_origins",
  "heartbeat_interval",
  "reconnect_wait",
  "max_reconnects",
  "max_topics",
  "retry",
  "write_timeout",
  "path_prefix",
  "ring_size",
  "max_buffered_bytes",
  "publish",
  "nats_tls_ca",
  "nats_tls_cert",
  "nats_tls_key",
  "subscriber_jwt_key",
  "subscriber_jwt_public_key",
  "subscriber_jwks_url",
  "subscriber_jwt_cookie",
  "subscriber_jwt_query",
  "max_connections",
  "max_connections_per_ip",
  "max_event_size",
  "replay_max_messages",
] as const satisfies readonly (keyof RouteOptions)[];

export type RouteOptionName = (typeof ROUTE_OPTION_NAMES)[number];

/** Options whose values are secrets: they never reach logs, error bodies or Caddy config. */
export const SECRET_OPTION_NAMES: readonly RouteOptionName[] = [
  "nats_token",
  "nats_password",
  "nats_credentials",
  "nats_tls_key",
  "subscriber_jwt_key",
];

/**
 * A configuration mistake. `key` names the option at fault (for the Caddy adapter to turn into
 * a line number); the message says how to fix it.
 */
export class ConfigError extends Error {
  override name = "ConfigError";
  readonly userFacing = true;
  constructor(
    message: string,
    readonly route: string | undefined,
    readonly key: RouteOptionName | undefined,
  ) {
    super(message);
  }
}

export const DEFAULT_NATS_URL = "nats://localhost:4222";
/** Route names travel in an HTTP header, so they stay simple. */
const ROUTE_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const STREAM_NAME = /^[^\s.*>/\\]{1,255}$/;
const TOPIC_PREFIX = /^([A-Za-z0-9_-]+\.)*$/;

/**
 * Checks sidecar.json's `mercure` section. The Mercure layer passes its own (mercure/config.ts's
 * `resolveHubs`), so this module does not import it: the layer depends on the core, not back.
 */
export type HubsResolver = (input: unknown) => Map<string, MercureHubConfig>;

/** Without a Mercure layer: a `mercure` section is refused. */
function noHubs(input: unknown): Map<string, MercureHubConfig> {
  if (input === undefined) return new Map();
  throw new ConfigError(
    '"mercure" is not served here; resolve the config with mercure/config.js\'s resolveHubs',
    undefined,
    undefined,
  );
}

/** Parses and checks sidecar.json's contents. Throws ConfigError. */
export function resolveConfig(input: unknown, resolveHubs: HubsResolver = noHubs): Config {
  if (!isPlainObject(input)) {
    throw new ConfigError(
      'the sidecar config must be a JSON object like {"routes": {...}}',
      undefined,
      undefined,
    );
  }
  for (const key of Object.keys(input)) {
    if (key !== "routes" && key !== "header_routes" && key !== "mercure") {
      throw new ConfigError(
        `unknown top-level key "${key}"; the keys are "routes", "header_routes" and "mercure"`,
        undefined,
        undefined,
      );
    }
  }
  const routes = input.routes ?? {};
  const headerRoutes =
    input.header_routes === undefined ? null : resolveHeaderRoutesBase(input.header_routes);
  const mercure = resolveHubs(input.mercure);
  if (
    !isPlainObject(routes) ||
    (Object.keys(routes).length === 0 && headerRoutes === null && mercure.size === 0)
  ) {
    throw new ConfigError(
      'the sidecar config needs at least one route: {"routes": {"events": {"stream_name": "EVENTS"}}}, or header routes: {"header_routes": {"nats_url": "nats://localhost:4222"}}',
      undefined,
      undefined,
    );
  }
  const resolved = new Map<string, RouteConfig>();
  for (const [name, options] of Object.entries(routes)) {
    resolved.set(name, resolveRoute(name, options));
  }
  return { routes: resolved, headerRoutes, mercure };
}

/**
 * Checks the options header routes start from. The stream and topic prefix come from each
 * route's import line, so they may not be set here; everything else is checked as a route's.
 */
function resolveHeaderRoutesBase(input: unknown): RouteOptions {
  const fail = (message: string, key?: RouteOptionName): never => {
    throw new ConfigError(`header_routes: ${message}`, undefined, key);
  };
  if (!isPlainObject(input)) {
    return fail('must be an object like {"nats_url": "nats://localhost:4222"}');
  }
  for (const key of ["stream_name", "topic_prefix"] as const) {
    if (key in input) {
      fail(`${key} comes from each route's import line in the Caddyfile; remove it here`, key);
    }
  }
  try {
    resolveRoute("header_routes", { ...input, stream_name: "CHECK" });
  } catch (error) {
    if (error instanceof ConfigError) {
      fail(error.message.replace(/^route "header_routes": /, ""), error.key);
    }
    throw error;
  }
  return input as RouteOptions;
}

/** Checks one route's options and fills in the defaults. Throws ConfigError. */
export function resolveRoute(name: string, input: unknown): RouteConfig {
  const fail = (message: string, key?: RouteOptionName): never => {
    throw new ConfigError(`route "${name}": ${message}`, name, key);
  };
  if (!ROUTE_NAME.test(name)) {
    fail("route names are 1 to 64 letters, digits, '_', '-' or '.'");
  }
  if (!isPlainObject(input)) {
    return fail('a route must be an object like {"stream_name": "EVENTS"}');
  }
  for (const key of Object.keys(input)) {
    if (!(ROUTE_OPTION_NAMES as readonly string[]).includes(key)) {
      const hint = nearestOptionName(key);
      fail(`unknown option "${key}"${hint ? `; did you mean "${hint}"?` : ""}`);
    }
  }
  const options = input as RouteOptions;
  const read = new OptionReader(options, fail);

  const streamName = read.string("stream_name");
  if (streamName === undefined) {
    fail('stream_name is required: name the JetStream stream, e.g. "EVENTS"', "stream_name");
  } else if (!STREAM_NAME.test(streamName)) {
    fail(
      `stream_name "${streamName}" is not a valid JetStream stream name (no spaces, ".", "*", ">", "/")`,
      "stream_name",
    );
  }

  const topicPrefix = read.string("topic_prefix", true) ?? "";
  if (!TOPIC_PREFIX.test(topicPrefix)) {
    fail(
      `topic_prefix "${topicPrefix}" must be empty or NATS tokens ending in a dot, e.g. "events."`,
      "topic_prefix",
    );
  }

  const pathPrefix = (read.string("path_prefix", true) ?? "").replace(/\/+$/, "");
  if (pathPrefix !== "" && !pathPrefix.startsWith("/")) {
    fail(`path_prefix "${pathPrefix}" must start with "/", e.g. "/events"`, "path_prefix");
  }

  const origins = read.stringList("allowed_origins") ?? ["*"];
  if (origins.length === 0)
    fail('allowed_origins needs at least one origin, or "*"', "allowed_origins");
  for (const origin of origins) {
    if (origin !== "*" && !/^https?:\/\/[^\s/]+$/.test(origin)) {
      fail(
        `allowed_origins: "${origin}" is not an origin like "https://example.com" (scheme and host, no path)`,
        "allowed_origins",
      );
    }
  }

  const heartbeat = read.seconds("heartbeat_interval", 30);
  const retry = options.retry === null ? null : read.integer("retry", 0, 86_400_000);

  return {
    name,
    nats: {
      servers: resolveServers(read.string("nats_url") ?? DEFAULT_NATS_URL, fail),
      auth: resolveAuth(read, fail),
      tls: resolveTls(read, fail),
      reconnectWaitMs: read.seconds("reconnect_wait", 2) * 1000,
      maxReconnects: read.integer("max_reconnects", -1, 1_000_000) ?? -1,
    },
    streamName: streamName as string,
    topicPrefix,
    allowedOrigins: origins.includes("*") ? null : origins,
    heartbeatIntervalMs: heartbeat === 0 ? null : heartbeat * 1000,
    maxTopics: read.integer("max_topics", 1, 1024) ?? 32,
    retryMs: retry ?? null,
    writeTimeoutMs: Math.max(1, read.seconds("write_timeout", 10) * 1000),
    pathPrefix,
    ringSize: read.integer("ring_size", 16, 1_000_000) ?? 1024,
    maxBufferedBytes: read.integer("max_buffered_bytes", 1024, 1 << 30) ?? 1 << 20,
    publish: read.boolean("publish") ?? false,
    subscriberAuth: resolveSubscriberAuth(read, fail),
    maxConnections: read.optionalInteger("max_connections", 1, 10_000_000),
    maxConnectionsPerIp: read.optionalInteger("max_connections_per_ip", 1, 10_000_000),
    maxEventSize: read.optionalInteger("max_event_size", 256, 1 << 30),
    replayMaxMessages: read.optionalInteger("replay_max_messages", 1, 100_000_000),
  };
}

/**
 * Reads a duration: a number of seconds ("30", "0.5") or a number with a unit ("500ms", "30s",
 * "5m", "1h"). Returns seconds, or undefined when the text is not a duration.
 */
export function parseDurationSeconds(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!match) return undefined;
  const value = Number(match[1]);
  const unit = match[2] ?? "s";
  const factor = { ms: 0.001, s: 1, m: 60, h: 3600 }[unit] ?? 1;
  return value * factor;
}

/** The valid option name closest to a misspelt one, if any is close. */
export function nearestOptionName(key: string): RouteOptionName | undefined {
  let best: RouteOptionName | undefined;
  let bestDistance = Math.max(2, Math.floor(key.length / 3)) + 1;
  for (const candidate of ROUTE_OPTION_NAMES) {
    const distance = editDistance(key, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

function resolveServers(
  url: string,
  fail: (message: string, key?: RouteOptionName) => never,
): string[] {
  const servers = url
    .split(",")
    .map((server) => server.trim())
    .filter((server) => server !== "");
  if (servers.length === 0) fail("nats_url is empty", "nats_url");
  for (const server of servers) {
    if (!/^(nats|tls):\/\/[^\s]+$|^[^\s:/]+(:\d+)?$/.test(server)) {
      fail(`nats_url "${server}" is not a NATS URL like "nats://localhost:4222"`, "nats_url");
    }
  }
  return servers;
}

function resolveAuth(
  read: OptionReader,
  fail: (message: string, key?: RouteOptionName) => never,
): NatsAuth {
  const token = read.string("nats_token");
  const user = read.string("nats_user");
  const password = read.string("nats_password");
  const credentials = read.string("nats_credentials");
  const modes = [
    token !== undefined && "nats_token",
    (user !== undefined || password !== undefined) && "nats_user/nats_password",
    credentials !== undefined && "nats_credentials",
  ].filter((mode): mode is string => mode !== false);
  if (modes.length > 1) {
    const key: RouteOptionName =
      credentials !== undefined
        ? "nats_credentials"
        : token !== undefined
          ? "nats_token"
          : "nats_user";
    fail(`choose one NATS auth mode, not ${modes.join(" and ")}`, key);
  }
  if (token !== undefined) return { type: "token", token };
  if (credentials !== undefined) return { type: "credentials", file: credentials };
  if (user !== undefined || password !== undefined) {
    if (user === undefined) fail("nats_password needs nats_user", "nats_password");
    if (password === undefined) fail("nats_user needs nats_password", "nats_user");
    return { type: "user_password", user: user as string, password: password as string };
  }
  return { type: "none" };
}

function resolveTls(
  read: OptionReader,
  fail: (message: string, key?: RouteOptionName) => never,
): NatsTls | null {
  const caFile = read.string("nats_tls_ca");
  const certFile = read.string("nats_tls_cert");
  const keyFile = read.string("nats_tls_key");
  if ((certFile === undefined) !== (keyFile === undefined)) {
    fail(
      "nats_tls_cert and nats_tls_key go together: give both files, or neither",
      certFile === undefined ? "nats_tls_key" : "nats_tls_cert",
    );
  }
  if (caFile === undefined && certFile === undefined) return null;
  return {
    ...(caFile === undefined ? {} : { caFile }),
    ...(certFile === undefined ? {} : { certFile }),
    ...(keyFile === undefined ? {} : { keyFile }),
  };
}

function resolveSubscriberAuth(
  read: OptionReader,
  fail: (message: string, key?: RouteOptionName) => never,
): SubscriberAuth | null {
  const secret = read.string("subscriber_jwt_key");
  const file = read.string("subscriber_jwt_public_key");
  const url = read.string("subscriber_jwks_url");
  const cookie = read.string("subscriber_jwt_cookie");
  const allowQuery = read.boolean("subscriber_jwt_query");
  const keys = [
    secret !== undefined && "subscriber_jwt_key",
    file !== undefined && "subscriber_jwt_public_key",
    url !== undefined && "subscriber_jwks_url",
  ].filter((key): key is RouteOptionName => key !== false);
  if (keys.length > 1)
    fail(`choose one way to verify subscriber JWTs, not ${keys.join(" and ")}`, keys[1]);
  const [only] = keys;
  if (only === undefined) {
    if (cookie !== undefined)
      fail(
        "subscriber_jwt_cookie needs a key: set subscriber_jwt_key, subscriber_jwt_public_key or subscriber_jwks_url",
        "subscriber_jwt_cookie",
      );
    if (allowQuery !== undefined)
      fail(
        "subscriber_jwt_query needs a key: set subscriber_jwt_key, subscriber_jwt_public_key or subscriber_jwks_url",
        "subscriber_jwt_query",
      );
    return null;
  }
  if (secret !== undefined && Buffer.byteLength(secret) < 32) {
    fail("subscriber_jwt_key must be at least 32 bytes (256 bits) for HS256", "subscriber_jwt_key");
  }
  if (url !== undefined && (!/^https?:\/\/\S+$/.test(url) || !URL.canParse(url))) {
    fail(`subscriber_jwks_url "${url}" must be an http(s) URL`, "subscriber_jwks_url");
  }
  if (cookie !== undefined && !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(cookie)) {
    fail(`subscriber_jwt_cookie "${cookie}" is not a valid cookie name`, "subscriber_jwt_cookie");
  }
  const key: SubscriberKey =
    secret !== undefined
      ? { type: "hmac", secret }
      : file !== undefined
        ? { type: "public_key", file }
        : { type: "jwks", url: url as string };
  return { key, cookie: cookie ?? "nutsAuthorization", allowQuery: allowQuery ?? false };
}

/** Typed access to one route's raw options; every error names the option. */
class OptionReader {
  constructor(
    private readonly options: RouteOptions,
    private readonly fail: (message: string, key?: RouteOptionName) => never,
  ) {}

  string(key: RouteOptionName, allowEmpty = false): string | undefined {
    const value = this.options[key];
    if (value === undefined) return undefined;
    if (typeof value !== "string" || (value === "" && !allowEmpty)) {
      return this.fail(`${key} must be a non-empty string, got ${shown(key, value)}`, key);
    }
    return value;
  }

  stringList(key: RouteOptionName): string[] | undefined {
    const value = this.options[key];
    if (value === undefined) return undefined;
    if (!Array.isArray(value) || !value.every((item) => typeof item === "string" && item !== "")) {
      return this.fail(`${key} must be a list of strings, got ${JSON.stringify(value)}`, key);
    }
    return value;
  }

  boolean(key: RouteOptionName): boolean | undefined {
    const value = this.options[key];
    if (value === undefined) return undefined;
    if (typeof value !== "boolean")
      return this.fail(`${key} must be true or false, got ${JSON.stringify(value)}`, key);
    return value;
  }

  integer(key: RouteOptionName, min: number, max: number): number | undefined {
    const value = this.options[key];
    if (value === undefined) return undefined;
    if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
      return this.fail(
        `${key} takes a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`,
        key,
      );
    }
    return value;
  }

  /** A whole number, or null (or absent) for "no limit". */
  optionalInteger(key: RouteOptionName, min: number, max: number): number | null {
    if (this.options[key] === null) return null;
    return this.integer(key, min, max) ?? null;
  }

  /** A duration in seconds: a number, or a string such as "30s" or "500ms". */
  seconds(key: RouteOptionName, fallback: number): number {
    const value = this.options[key];
    if (value === undefined) return fallback;
    const seconds = typeof value === "string" ? parseDurationSeconds(value) : value;
    if (
      typeof seconds !== "number" ||
      !Number.isFinite(seconds) ||
      seconds < 0 ||
      seconds > 86_400
    ) {
      return this.fail(
        `${key} takes seconds (like 30, 0.5 or "500ms") up to one day, got ${JSON.stringify(value)}`,
        key,
      );
    }
    return seconds;
  }
}

/** A value for an error message; a secret's value is never shown, only its type. */
function shown(key: RouteOptionName, value: unknown): string {
  if (!SECRET_OPTION_NAMES.includes(key)) return JSON.stringify(value);
  return Array.isArray(value) ? "a list" : value === null ? "null" : `a ${typeof value}`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function editDistance(a: string, b: string): number {
  const previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = previous[0] as number;
    previous[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = previous[j] as number;
      previous[j] = Math.min(
        above + 1,
        (previous[j - 1] as number) + 1,
        diagonal + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
      diagonal = above;
    }
  }
  return previous[b.length] as number;
}
