/**
 * Reads a Caddyfile `mercure { ... }` block, as written for Mercure's own hub, into the options
 * of a NUTS Mercure hub; the one addition is where the updates live:
 *
 *     mercure {
 *         publisher_jwt {env.MERCURE_PUBLISHER_JWT_KEY}
 *         subscriber_jwt {env.MERCURE_SUBSCRIBER_JWT_KEY}
 *         anonymous
 *         transport nats {
 *             url nats://localhost:4222
 *             stream MERCURE
 *         }
 *     }
 *
 * Each sub-directive is read in one `case`. Caddy's runtime placeholders `{env.X}` are resolved
 * here, like `{$X}`: the values go to the sidecar, never into Caddy's config.
 */
import type { MercureHubOptions } from "../mercure/config.js";
import { parseDurationSeconds } from "../sidecar/config.js";
import { type Env, expandEnv } from "./env.js";
import { CaddyfileError } from "./errors.js";
import type { Token } from "./lexer.js";
import type { Directive } from "./parser.js";

const OPTIONS = [
  "publisher_jwt",
  "subscriber_jwt",
  "publisher_jwks_url",
  "subscriber_jwks_url",
  "anonymous",
  "subscriptions",
  "cors_origins",
  "publish_origins",
  "heartbeat",
  "write_timeout",
  "cookie_name",
  "ui",
  "demo",
  "max_request_body_size",
  "transport",
  "path",
] as const;

const TRANSPORT_OPTIONS = [
  "url",
  "stream",
  "subject_prefix",
  "token",
  "user",
  "password",
  "credentials",
];

export function readMercureBlock(block: Directive[] | undefined, env: Env): MercureHubOptions {
  const options: MercureHubOptions = {};
  const seen = new Map<string, number>();
  for (const directive of block ?? []) {
    const nameToken = directive.tokens[0] as Token;
    const name = nameToken.text;
    const fail = (reason: string): never => {
      throw new CaddyfileError(nameToken.file, nameToken.line, reason);
    };
    const earlier = seen.get(name);
    if (earlier !== undefined) fail(`${name} is set twice (also on line ${earlier}); keep one`);
    seen.set(name, nameToken.line);
    const args = directive.tokens.slice(1).map((token) => expand(name, token.text, env, fail));
    const one = (): string => {
      if (args.length !== 1) fail(`${name} takes one value, got ${args.length}`);
      return args[0] as string;
    };
    if (directive.block !== undefined && name !== "transport") fail(`${name} takes no block`);
    switch (name) {
      case "publisher_jwt":
      case "subscriber_jwt": {
        const [key, alg] = args;
        if (key === undefined || key === "" || args.length > 2) {
          fail(
            `${name} takes a key and an optional algorithm: ${name} {env.MERCURE_${name.toUpperCase()}_KEY} HS256`,
          );
        }
        options[name] = { key: key as string, ...(alg ? { alg } : {}) };
        break;
      }
      case "anonymous":
      case "ui":
      case "demo":
        if (args.length > 0) fail(`${name} takes no value`);
        if (name === "anonymous") options.anonymous = true;
        else options.ui = true;
        break;
      case "cors_origins":
      case "publish_origins":
        if (args.length === 0) fail(`${name} needs one or more origins, or *`);
        options[name] = args;
        break;
      case "heartbeat":
      case "write_timeout": {
        const text = one();
        const seconds = parseDurationSeconds(text);
        if (seconds === undefined)
          fail(`${name} takes a duration like 40s or 500ms, got "${text}"`);
        options[name] = seconds as number;
        break;
      }
      case "cookie_name":
      case "path":
      case "publisher_jwks_url":
      case "subscriber_jwks_url":
        options[name] = one();
        break;
      case "max_request_body_size": {
        const text = one();
        if (!/^\d+$/.test(text)) fail(`${name} takes bytes as a whole number, got "${text}"`);
        options.max_request_body_size = Number(text);
        break;
      }
      case "transport":
        readTransport(directive, args, options, env, fail);
        break;
      case "transport_url":
        fail(
          "NUTS keeps a hub's updates in NATS JetStream, not in a transport URL; replace transport_url with: transport nats { url nats://localhost:4222 stream MERCURE }",
        );
        break;
      case "subscriptions":
        if (args.length > 0) fail(`${name} takes no value`);
        options.subscriptions = true;
        break;
      default:
        fail(`unknown mercure option "${name}"; the options are ${OPTIONS.join(", ")}`);
    }
  }
  if (options.stream === undefined) {
    throw new CaddyfileError(
      block?.[0]?.tokens[0]?.file ?? "Caddyfile",
      block?.[0]?.tokens[0]?.line ?? 0,
      "the mercure block needs a NATS transport: transport nats { url nats://localhost:4222 stream MERCURE }",
    );
  }
  return options;
}

function readTransport(
  directive: Directive,
  args: string[],
  options: MercureHubOptions,
  env: Env,
  fail: (reason: string) => never,
): void {
  if (args[0] !== "nats" || args.length !== 1 || directive.block === undefined) {
    fail("NUTS's transport is NATS: transport nats { url nats://localhost:4222 stream MERCURE }");
  }
  for (const line of directive.block ?? []) {
    const head = line.tokens[0] as Token;
    const lineFail = (reason: string): never => {
      throw new CaddyfileError(head.file, head.line, reason);
    };
    const values = line.tokens
      .slice(1)
      .map((token) => expand(head.text, token.text, env, lineFail));
    if (values.length !== 1 || line.block !== undefined) lineFail(`${head.text} takes one value`);
    const value = values[0] as string;
    switch (head.text) {
      case "url":
        options.nats_url = value;
        break;
      case "stream":
        options.stream = value;
        break;
      case "subject_prefix":
        options.subject_prefix = value;
        break;
      case "token":
        options.nats_token = value;
        break;
      case "user":
        options.nats_user = value;
        break;
      case "password":
        options.nats_password = value;
        break;
      case "credentials":
        options.nats_credentials = value;
        break;
      default:
        lineFail(
          `unknown transport nats option "${head.text}"; the options are ${TRANSPORT_OPTIONS.join(", ")}`,
        );
    }
  }
}

const RUNTIME_ENV = /\{env\.([A-Za-z_][A-Za-z0-9_]*)\}/g;

function expand(name: string, text: string, env: Env, fail: (reason: string) => never): string {
  const { text: expanded, unset } = expandEnv(text, env);
  if (unset.length > 0) {
    fail(
      `${name} uses {$${unset[0]}}, which is not set; set the environment variable or give a default like {$${unset[0]}:value}`,
    );
  }
  return expanded.replace(RUNTIME_ENV, (_match, variable: string) => env[variable] ?? "");
}

/** Drops `order mercure ...` from the global options: Caddy knows no mercure directive. */
export function isMercureOrder(directive: Directive): boolean {
  return directive.tokens[0]?.text === "order" && directive.tokens[1]?.text === "mercure";
}
