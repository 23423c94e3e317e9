/**
 * Reads the sub-directives of a Caddyfile `nuts { ... }` block into the sidecar's RouteOptions.
 * Each sub-directive has the name of the option it sets and is read in one `case` below; cross-
 * field checks (auth modes, required stream_name) are left to `resolveRoute`.
 */
import {
  nearestOptionName,
  parseDurationSeconds,
  ROUTE_OPTION_NAMES,
  type RouteOptionName,
  type RouteOptions,
} from "../sidecar/config.js";
import { type Env, expandEnv } from "./env.js";
import { CaddyfileError } from "./errors.js";
import type { Token } from "./lexer.js";
import type { Directive } from "./parser.js";

export interface NutsBlock {
  options: RouteOptions;
  /** Where each option was set, so a ConfigError about it can name the line. */
  lines: Map<RouteOptionName, number>;
}

export function readNutsBlock(block: Directive[] | undefined, env: Env): NutsBlock {
  const options: RouteOptions = {};
  const lines = new Map<RouteOptionName, number>();
  for (const directive of block ?? []) {
    const nameToken = directive.tokens[0] as Token;
    const fail = (reason: string): never => {
      throw new CaddyfileError(nameToken.file, nameToken.line, reason);
    };
    const name = optionName(nameToken.text, fail);
    const earlier = lines.get(name);
    if (earlier !== undefined) fail(`${name} is set twice (also on line ${earlier}); keep one`);
    if (directive.block !== undefined) fail(`${name} takes no block; write ${example(name)}`);
    const args = expandArgs(name, directive.tokens.slice(1), env, fail);
    const one = (): string => {
      if (args.length !== 1) {
        fail(`${name} takes one value, got ${args.length}; write ${example(name)}`);
      }
      return args[0] as string;
    };
    lines.set(name, nameToken.line);

    switch (name) {
      case "nats_url":
      case "stream_name":
      case "nats_credentials":
      case "nats_token":
      case "nats_user":
      case "nats_password":
      case "topic_prefix":
      case "nats_tls_ca":
      case "nats_tls_cert":
      case "nats_tls_key":
      case "subscriber_jwt_key":
      case "subscriber_jwt_public_key":
      case "subscriber_jwks_url":
      case "subscriber_jwt_cookie":
        options[name] = one();
        break;
      case "path_prefix":
        // `path_prefix ""` mounts the route at the root even inside a path matcher.
        options.path_prefix = one();
        break;
      case "allowed_origins":
        if (args.length === 0)
          fail(`allowed_origins needs one or more origins; write ${example(name)}`);
        options.allowed_origins = args;
        break;
      case "heartbeat_interval":
      case "reconnect_wait":
      case "write_timeout": {
        const text = one();
        const seconds = parseDurationSeconds(text);
        if (seconds === undefined) {
          fail(`${name} takes a duration like 30, 0.5, 500ms, 30s or 5m, got "${text}"`);
        }
        options[name] = seconds;
        break;
      }
      case "max_reconnects":
      case "max_topics":
      case "ring_size":
      case "max_buffered_bytes":
        options[name] = wholeNumber(name, one(), fail);
        break;
      case "retry":
      case "max_connections":
      case "max_connections_per_ip":
      case "max_event_size":
      case "replay_max_messages": {
        const text = one();
        options[name] = text === "off" ? null : wholeNumber(name, text, fail);
        break;
      }
      case "publish":
      case "subscriber_jwt_query":
        if (args.length > 1) fail(`${name} takes at most one value, on or off; got ${args.length}`);
        options[name] = onOff(name, args[0] ?? "on", fail);
        break;
    }
  }
  return { options, lines };
}

function optionName(text: string, fail: (reason: string) => never): RouteOptionName {
  if ((ROUTE_OPTION_NAMES as readonly string[]).includes(text)) return text as RouteOptionName;
  const hint = nearestOptionName(text);
  return fail(
    `unknown nuts option "${text}"; ${hint ? `did you mean "${hint}"?` : `the options are ${ROUTE_OPTION_NAMES.join(", ")}`}`,
  );
}

/**
 * Argument texts with `{$VAR}` expanded. As in Caddy, a bare (unquoted) argument whose value
 * holds spaces becomes several arguments; a quoted one stays one.
 */
function expandArgs(
  name: RouteOptionName,
  tokens: Token[],
  env: Env,
  fail: (reason: string) => never,
): string[] {
  const args: string[] = [];
  for (const token of tokens) {
    const { text, unset } = expandEnv(token.text, env);
    if (unset.length > 0) {
      const variable = unset[0] as string;
      fail(
        `${name} uses {$${variable}}, which is not set; set the environment variable or give a default like {$${variable}:value}`,
      );
    }
    if (token.quote === null && text !== token.text) {
      args.push(...text.split(/\s+/).filter((part) => part !== ""));
    } else {
      args.push(text);
    }
  }
  return args;
}

function wholeNumber(name: RouteOptionName, text: string, fail: (reason: string) => never): number {
  if (!/^-?\d+$/.test(text)) fail(`${name} takes a whole number, got "${text}"`);
  return Number(text);
}

function onOff(name: RouteOptionName, text: string, fail: (reason: string) => never): boolean {
  if (text === "on" || text === "true") return true;
  if (text === "off" || text === "false") return false;
  return fail(`${name} takes on or off (or nothing, meaning on), got "${text}"`);
}

const EXAMPLES: Record<RouteOptionName, string> = {
  nats_url: "nats_url nats://localhost:4222",
  stream_name: "stream_name EVENTS",
  nats_credentials: "nats_credentials /etc/nats/user.creds",
  nats_token: "nats_token {$NATS_TOKEN}",
  nats_user: "nats_user alice",
  nats_password: "nats_password {$NATS_PASSWORD}",
  topic_prefix: "topic_prefix events.",
  allowed_origins: "allowed_origins https://example.com https://www.example.com",
  heartbeat_interval: "heartbeat_interval 30s",
  reconnect_wait: "reconnect_wait 2s",
  max_reconnects: "max_reconnects -1",
  max_topics: "max_topics 32",
  retry: "retry 3000",
  write_timeout: "write_timeout 10s",
  path_prefix: "path_prefix /events",
  ring_size: "ring_size 1024",
  max_buffered_bytes: "max_buffered_bytes 1048576",
  publish: "publish on",
  nats_tls_ca: "nats_tls_ca /etc/nats/ca.pem",
  nats_tls_cert: "nats_tls_cert /etc/nats/client.pem",
  nats_tls_key: "nats_tls_key /etc/nats/client-key.pem",
  subscriber_jwt_key: "subscriber_jwt_key {$NUTS_JWT_KEY}",
  subscriber_jwt_public_key: "subscriber_jwt_public_key /etc/nuts/jwt-public.pem",
  subscriber_jwks_url: "subscriber_jwks_url https://auth.example.com/.well-known/jwks.json",
  subscriber_jwt_cookie: "subscriber_jwt_cookie nutsAuthorization",
  subscriber_jwt_query: "subscriber_jwt_query on",
  max_connections: "max_connections 10000",
  max_connections_per_ip: "max_connections_per_ip 20",
  max_event_size: "max_event_size 65536",
  replay_max_messages: "replay_max_messages 10000",
};

function example(name: RouteOptionName): string {
  return `"${EXAMPLES[name]}"`;
}
