/**
 * A Mercure hub's options, as sidecar.json's `mercure` section holds them (the Caddyfile's
 * `mercure { ... }` block is read into these by caddy/mercure-block.ts), and `resolveHub`, which
 * checks them once and fills every default.
 */
import {
  ConfigError,
  type NatsSettings,
  parseDurationSeconds,
  resolveRoute,
} from "../sidecar/config.js";

/** A JWT key: the HMAC secret or the PEM public key itself, as Mercure's `publisher_jwt` takes it. */
export interface JwtKeyOptions {
  key: string;
  /** @default "HS256" */
  alg?: string;
}

export interface MercureHubOptions {
  /** NATS server(s) of the transport. @default "nats://localhost:4222" */
  nats_url?: string;
  /** The JetStream stream holding the hub's updates (required). */
  stream?: string;
  /** The subjects of the hub's updates start with this. @default "mercure." */
  subject_prefix?: string;
  nats_token?: string;
  nats_user?: string;
  nats_password?: string;
  nats_credentials?: string;
  nats_tls_ca?: string;
  nats_tls_cert?: string;
  nats_tls_key?: string;
  /** The hub's URL path. @default "/.well-known/mercure" */
  path?: string;
  /** Verifies publishers' tokens (required: nobody may publish without one). */
  publisher_jwt?: JwtKeyOptions;
  /** Verifies subscribers' tokens; without it, only anonymous subscribers. */
  subscriber_jwt?: JwtKeyOptions;
  /** Verifies publishers' tokens with the keys of this JWKS (instead of publisher_jwt). */
  publisher_jwks_url?: string;
  /** Verifies subscribers' tokens with the keys of this JWKS (instead of subscriber_jwt). */
  subscriber_jwks_url?: string;
  /** Subscribers without a token receive public updates. @default false */
  anonymous?: boolean;
  /** Origins allowed to subscribe from a browser (CORS); "*" for any. @default [] */
  cors_origins?: string[];
  /** Origins allowed to publish with the cookie. @default [] */
  publish_origins?: string[];
  /** Seconds of silence before a heartbeat comment; 0: none. @default 40 */
  heartbeat?: number;
  /** Seconds a subscriber may leave written bytes untaken before it is cut. @default 600 */
  write_timeout?: number;
  /** The cookie that may carry a token. @default "mercureAuthorization" */
  cookie_name?: string;
  /** Serve the debugging page at `<path>/ui/`. @default false */
  ui?: boolean;
  /** Largest publish request body, in bytes. @default 1048576 */
  max_request_body_size?: number;
  /** Recent updates kept in memory for reconnecting subscribers. @default 1024 */
  ring_size?: number;
  /** Bytes waiting for one subscriber before it is cut. @default 1048576 */
  max_buffered_bytes?: number;
  /** Subscription events and the subscriptions API. @default false */
  subscriptions?: boolean;
  /** Seconds a node's subscription records outlive it (it refreshes them every third). @default 30 */
  subscriptions_ttl?: number;
}

export const HUB_OPTION_NAMES = [
  "nats_url",
  "stream",
  "subject_prefix",
  "nats_token",
  "nats_user",
  "nats_password",
  "nats_credentials",
  "nats_tls_ca",
  "nats_tls_cert",
  "nats_tls_key",
  "path",
  "publisher_jwt",
  "subscriber_jwt",
  "publisher_jwks_url",
  "subscriber_jwks_url",
  "anonymous",
  "cors_origins",
  "publish_origins",
  "heartbeat",
  "write_timeout",
  "cookie_name",
  "ui",
  "max_request_body_size",
  "ring_size",
  "max_buffered_bytes",
  "subscriptions",
  "subscriptions_ttl",
] as const satisfies readonly (keyof MercureHubOptions)[];

export const HMAC_ALGORITHMS = ["HS256", "HS384", "HS512"] as const;
export const PUBLIC_KEY_ALGORITHMS = [
  "RS256",
  "RS384",
  "RS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
] as const;

/** A key and its algorithm, or a JWKS whose keys (asymmetric) verify tokens. */
export type JwtKey =
  | {
      alg: string;
      /** HMAC secret, or the PEM public key. Never logged. */
      key: string;
    }
  | { jwksUrl: string };

export interface MercureHubConfig {
  name: string;
  nats: NatsSettings;
  streamName: string;
  subjectPrefix: string;
  path: string;
  publisherKey: JwtKey;
  subscriberKey: JwtKey | null;
  anonymous: boolean;
  /** null: any origin. */
  corsOrigins: string[] | null;
  publishOrigins: string[];
  heartbeatMs: number | null;
  writeTimeoutMs: number;
  cookieName: string;
  ui: boolean;
  maxBodyBytes: number;
  ringSize: number;
  maxBufferedBytes: number;
  subscriptions: boolean;
  subscriptionsTtlMs: number;
}

export const DEFAULT_HUB_PATH = "/.well-known/mercure";
export const DEFAULT_COOKIE = "mercureAuthorization";

/** Checks one hub's options; throws ConfigError naming the option and the fix. */
export function resolveHub(name: string, input: unknown): MercureHubConfig {
  const fail = (message: string): never => {
    throw new ConfigError(`mercure hub "${name}": ${message}`, name, undefined);
  };
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    return fail('must be an object like {"stream": "MERCURE", "publisher_jwt": {"key": "..."}}');
  }
  const options = input as Record<string, unknown>;
  for (const key of Object.keys(options)) {
    if (!(HUB_OPTION_NAMES as readonly string[]).includes(key)) {
      fail(`unknown option "${key}"; the options are ${HUB_OPTION_NAMES.join(", ")}`);
    }
  }
  if (options.stream === undefined) {
    fail("the NATS transport needs a stream: transport nats { stream MERCURE }");
  }
  // The NATS side is a route's: the same checks, the same messages.
  const nats: Record<string, unknown> = {
    stream_name: options.stream,
    topic_prefix: options.subject_prefix ?? "mercure.",
  };
  for (const key of [
    "nats_url",
    "nats_token",
    "nats_user",
    "nats_password",
    "nats_credentials",
    "nats_tls_ca",
    "nats_tls_cert",
    "nats_tls_key",
  ]) {
    if (options[key] !== undefined) nats[key] = options[key];
  }
  let route: ReturnType<typeof resolveRoute>;
  try {
    route = resolveRoute(name, nats);
  } catch (error) {
    if (error instanceof ConfigError) {
      return fail(
        error.message
          .replace(/^route "[^"]*": /, "")
          .replace("stream_name", "stream")
          .replace("topic_prefix", "subject_prefix"),
      );
    }
    throw error;
  }
  if (route.topicPrefix === "") fail('subject_prefix may not be empty; use e.g. "mercure."');

  const path = (stringOf(options, "path", fail) ?? DEFAULT_HUB_PATH).replace(/\/+$/, "");
  if (!/^\/[A-Za-z0-9._~\-/]*$/.test(path))
    fail(`path "${path}" must be a URL path like /.well-known/mercure`);

  const publisherKey = keyOrJwksOf(options, "publisher", fail);
  if (publisherKey === null) {
    fail(
      "publisher_jwt is required: publisher_jwt <key> [alg], the key your backend signs publish tokens with (or publisher_jwks_url <url>)",
    );
  }
  const subscriberKey = keyOrJwksOf(options, "subscriber", fail);
  const anonymous = booleanOf(options, "anonymous", fail) ?? false;
  if (subscriberKey === null && !anonymous) {
    fail(
      "subscribers need either subscriber_jwt <key> [alg], subscriber_jwks_url <url> or anonymous",
    );
  }
  const corsOrigins = originsOf(options, "cors_origins", fail) ?? [];
  const heartbeat = secondsOf(options, "heartbeat", fail) ?? 40;
  return {
    name,
    nats: route.nats,
    streamName: route.streamName,
    subjectPrefix: route.topicPrefix,
    path,
    publisherKey: publisherKey as JwtKey,
    subscriberKey,
    anonymous,
    corsOrigins: corsOrigins.includes("*") ? null : corsOrigins,
    publishOrigins: originsOf(options, "publish_origins", fail) ?? [],
    heartbeatMs: heartbeat === 0 ? null : heartbeat * 1000,
    writeTimeoutMs: Math.max(1000, (secondsOf(options, "write_timeout", fail) ?? 600) * 1000),
    cookieName: stringOf(options, "cookie_name", fail) ?? DEFAULT_COOKIE,
    ui: booleanOf(options, "ui", fail) ?? false,
    maxBodyBytes: integerOf(options, "max_request_body_size", 1024, 64 << 20, fail) ?? 1 << 20,
    ringSize: integerOf(options, "ring_size", 16, 1_000_000, fail) ?? 1024,
    maxBufferedBytes: integerOf(options, "max_buffered_bytes", 1024, 1 << 30, fail) ?? 1 << 20,
    subscriptions: booleanOf(options, "subscriptions", fail) ?? false,
    subscriptionsTtlMs: Math.max(
      1000,
      (secondsOf(options, "subscriptions_ttl", fail) ?? 30) * 1000,
    ),
  };
}

/** Every hub of sidecar.json's `mercure` section. */
export function resolveHubs(input: unknown): Map<string, MercureHubConfig> {
  const hubs = new Map<string, MercureHubConfig>();
  if (input === undefined) return hubs;
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    throw new ConfigError('"mercure" must be an object of hubs by name', undefined, undefined);
  }
  for (const [name, options] of Object.entries(input)) hubs.set(name, resolveHub(name, options));
  return hubs;
}

/** `<role>_jwt` or `<role>_jwks_url`, at most one of them. */
function keyOrJwksOf(
  options: Record<string, unknown>,
  role: "publisher" | "subscriber",
  fail: (message: string) => never,
): JwtKey | null {
  const key = keyOf(options[`${role}_jwt`], `${role}_jwt`, fail);
  const url = stringOf(options, `${role}_jwks_url`, fail);
  if (url === undefined) return key;
  if (key !== null) fail(`set ${role}_jwt or ${role}_jwks_url, not both`);
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (parsed === undefined || (parsed.protocol !== "https:" && parsed.protocol !== "http:")) {
    fail(`${role}_jwks_url "${url}" must be an http(s) URL`);
  }
  return { jwksUrl: url };
}

function keyOf(value: unknown, option: string, fail: (message: string) => never): JwtKey | null {
  if (value === undefined) return null;
  if (
    typeof value !== "object" ||
    value === null ||
    typeof (value as JwtKeyOptions).key !== "string"
  ) {
    return fail(`${option} must be {"key": "...", "alg": "HS256"}`);
  }
  const { key, alg = "HS256" } = value as JwtKeyOptions;
  if ((HMAC_ALGORITHMS as readonly string[]).includes(alg)) {
    if (Buffer.byteLength(key) < 32) {
      fail(
        `${option}: an ${alg} key must be at least 32 bytes (256 bits); generate one with \`openssl rand -base64 32\``,
      );
    }
  } else if ((PUBLIC_KEY_ALGORITHMS as readonly string[]).includes(alg)) {
    if (!key.includes("-----BEGIN PUBLIC KEY-----")) {
      fail(`${option}: an ${alg} key is the PEM public key itself (-----BEGIN PUBLIC KEY-----...)`);
    }
  } else {
    fail(
      `${option}: algorithm "${alg}" is not supported; use one of ${[...HMAC_ALGORITHMS, ...PUBLIC_KEY_ALGORITHMS].join(", ")}`,
    );
  }
  return { key, alg };
}

function stringOf(
  options: Record<string, unknown>,
  key: string,
  fail: (message: string) => never,
): string | undefined {
  const value = options[key];
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value === "") return fail(`${key} must be a non-empty string`);
  return value;
}

function booleanOf(
  options: Record<string, unknown>,
  key: string,
  fail: (message: string) => never,
): boolean | undefined {
  const value = options[key];
  if (value === undefined || typeof value === "boolean") return value;
  return fail(`${key} must be true or false`);
}

function secondsOf(
  options: Record<string, unknown>,
  key: string,
  fail: (message: string) => never,
): number | undefined {
  const value = options[key];
  if (value === undefined) return undefined;
  const seconds = typeof value === "number" ? value : parseDurationSeconds(String(value));
  if (seconds === undefined || !Number.isFinite(seconds) || seconds < 0 || seconds > 86_400) {
    return fail(`${key} takes a duration like 40s or 500ms, got ${JSON.stringify(value)}`);
  }
  return seconds;
}

function integerOf(
  options: Record<string, unknown>,
  key: string,
  min: number,
  max: number,
  fail: (message: string) => never,
): number | undefined {
  const value = options[key];
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || (value as number) < min || (value as number) > max) {
    return fail(`${key} must be a whole number from ${min} to ${max}`);
  }
  return value as number;
}

function originsOf(
  options: Record<string, unknown>,
  key: string,
  fail: (message: string) => never,
): string[] | undefined {
  const value = options[key];
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || !value.every((each) => typeof each === "string")) {
    return fail(`${key} must be a list of origins`);
  }
  for (const origin of value as string[]) {
    if (origin !== "*" && !/^https?:\/\/[^\s/]+$/.test(origin)) {
      fail(
        `${key}: "${origin}" is not an origin like "https://example.com" (scheme and host, no path)`,
      );
    }
  }
  return value as string[];
}
