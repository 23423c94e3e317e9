import { describe, expect, it } from "vitest";
import { createSidecar } from "./app.js";
import { ConfigError, resolveConfig, resolveRoute } from "./config.js";
import { RequestError } from "./errors.js";
import {
  HeaderOptionsError,
  HeaderRoutes,
  MAX_HEADER_ROUTES,
  parseHeaderOptions,
  type RouteHeaders,
  UNQUOTED_OPTIONS_SENTINEL,
} from "./header-routes.js";
import { silentLogger } from "./log.js";

const FIX = "fix the route's import line in the Caddyfile, then run caddy reload";

function optionsError(text: string): HeaderOptionsError {
  try {
    parseHeaderOptions(text);
  } catch (error) {
    if (error instanceof HeaderOptionsError) return error;
    throw error;
  }
  throw new Error(`expected a HeaderOptionsError for ${JSON.stringify(text)}`);
}

function refusal(routes: HeaderRoutes, headers: RouteHeaders): RequestError {
  try {
    routes.resolve(headers);
  } catch (error) {
    if (error instanceof RequestError) return error;
    throw error;
  }
  throw new Error(`expected a RequestError for ${JSON.stringify(headers)}`);
}

const events = (options?: string): RouteHeaders => ({
  stream: "EVENTS",
  topicPrefix: "events.",
  options,
});

describe("parseHeaderOptions", () => {
  it("reads no options from an empty or blank value", () => {
    expect(parseHeaderOptions("")).toEqual({});
    expect(parseHeaderOptions("   ")).toEqual({});
  });

  it("reads every option an import line may set, with Caddyfile values", () => {
    expect(
      parseHeaderOptions(
        [
          "path_prefix=/events",
          "allowed_origins=https://a.example,https://b.example",
          "heartbeat_interval=15s",
          "max_topics=8",
          "retry=3000",
          "write_timeout=500ms",
          "ring_size=64",
          "max_buffered_bytes=65536",
          "publish=on",
          "subscriber_jwt_cookie=session",
          "subscriber_jwt_query=off",
          "max_connections=100",
          "max_connections_per_ip=off",
          "max_event_size=4096",
          "replay_max_messages=1000",
        ].join(" "),
      ),
    ).toEqual({
      path_prefix: "/events",
      allowed_origins: ["https://a.example", "https://b.example"],
      heartbeat_interval: 15,
      max_topics: 8,
      retry: 3000,
      write_timeout: 0.5,
      ring_size: 64,
      max_buffered_bytes: 65536,
      publish: true,
      subscriber_jwt_cookie: "session",
      subscriber_jwt_query: false,
      max_connections: 100,
      max_connections_per_ip: null,
      max_event_size: 4096,
      replay_max_messages: 1000,
    });
  });

  it.each([
    [
      "nats_token=s3cret",
      'nats_token is a secret: set it under "header_routes" in the sidecar\'s config, never in the Caddyfile',
      "nats_token",
    ],
    [
      "subscriber_jwt_key=abc",
      'subscriber_jwt_key is a secret: set it under "header_routes" in the sidecar\'s config, never in the Caddyfile',
      "subscriber_jwt_key",
    ],
    [
      "nats_url=nats://evil:4222",
      'nats_url is set for all header routes, under "header_routes" in the sidecar\'s config; the import line takes path_prefix, allowed_origins, heartbeat_interval, max_topics, retry, write_timeout, ring_size, max_buffered_bytes, publish, subscriber_jwt_cookie, subscriber_jwt_query, max_connections, max_connections_per_ip, max_event_size, replay_max_messages',
      "nats_url",
    ],
    [
      "stream_name=OTHER",
      'stream_name is set for all header routes, under "header_routes" in the sidecar\'s config; the import line takes path_prefix, allowed_origins, heartbeat_interval, max_topics, retry, write_timeout, ring_size, max_buffered_bytes, publish, subscriber_jwt_cookie, subscriber_jwt_query, max_connections, max_connections_per_ip, max_event_size, replay_max_messages',
      "stream_name",
    ],
    ["max_topic=8", 'unknown option "max_topic"; did you mean "max_topics"?', undefined],
    ["max_topics", '"max_topics" is not name=value; write options like max_topics=8', undefined],
    ["=8", '"=8" is not name=value; write options like max_topics=8', undefined],
    ["max_topics=8 max_topics=9", "max_topics is set twice; keep one", "max_topics"],
    ["max_topics=eight", 'max_topics takes a whole number, got "eight"', "max_topics"],
    ["max_topics=-1", 'max_topics takes a whole number, got "-1"', "max_topics"],
    [
      "heartbeat_interval=ten",
      'heartbeat_interval takes a duration like 30, 0.5, 500ms, 30s or 5m, got "ten"',
      "heartbeat_interval",
    ],
    ["retry=soon", 'retry takes a whole number, or off, got "soon"', "retry"],
    ["publish=yes", 'publish takes on or off, got "yes"', "publish"],
    [
      "subscriber_jwt_cookie=",
      'subscriber_jwt_cookie takes a cookie name, got ""',
      "subscriber_jwt_cookie",
    ],
    [
      UNQUOTED_OPTIONS_SENTINEL,
      'the options after the topic prefix must be one quoted argument: import nuts EVENTS events. "max_topics=8 publish=on"',
      undefined,
    ],
  ])("refuses %j: %s", (text, message, option) => {
    const error = optionsError(text);
    expect(error.message).toBe(message);
    expect(error.option).toBe(option);
  });

  it("never repeats a secret's value", () => {
    expect(optionsError("nats_password=hunter2-hunter2").message).not.toContain("hunter2");
  });
});

describe("HeaderRoutes", () => {
  const base = { nats_url: "nats://127.0.0.1:4999", nats_token: "t0ken", heartbeat_interval: 5 };

  it("resolves the import line's stream, prefix and options over the sidecar's header_routes", () => {
    const routes = new HeaderRoutes(base, silentLogger);
    const route = routes.resolve(events("max_topics=8 path_prefix=/events"));
    expect(route).toEqual({
      ...resolveRoute("x", {
        ...base,
        stream_name: "EVENTS",
        topic_prefix: "events.",
        max_topics: 8,
        path_prefix: "/events",
      }),
      name: "EVENTS/events.",
    });
    expect(route.nats.auth).toEqual({ type: "token", token: "t0ken" });
    expect(route.heartbeatIntervalMs).toBe(5000);
  });

  it("resolves each distinct header set once: the same headers give the same route", () => {
    const added: string[] = [];
    const routes = new HeaderRoutes(base, silentLogger, (route) => added.push(route.name));
    const first = routes.resolve(events());
    expect(routes.resolve(events())).toBe(first);
    const other = routes.resolve(events("max_topics=4"));
    const prefix = routes.resolve({ stream: "EVENTS", topicPrefix: "news.", options: undefined });
    expect([first.name, other.name, prefix.name]).toEqual([
      "EVENTS/events.",
      "EVENTS/events.#2",
      "EVENTS/news.",
    ]);
    expect(added).toEqual(["EVENTS/events.", "EVENTS/events.#2", "EVENTS/news."]);
    expect(routes.size).toBe(3);
  });

  it("takes an empty topic prefix (the whole stream)", () => {
    const routes = new HeaderRoutes(base, silentLogger);
    expect(routes.resolve({ stream: "EVENTS", topicPrefix: "", options: "" }).topicPrefix).toBe("");
  });

  it.each<[RouteHeaders, string]>([
    [
      { stream: undefined, topicPrefix: "events.", options: "" },
      `X-Nuts-Stream is missing: the import line names the stream first, e.g. import nuts EVENTS events.; ${FIX}`,
    ],
    [
      { stream: "{args[0]}", topicPrefix: "{args[1]}", options: "" },
      `X-Nuts-Stream is missing: the import line names the stream first, e.g. import nuts EVENTS events.; ${FIX}`,
    ],
    [
      { stream: "EVENTS", topicPrefix: "{args[1]}", options: "" },
      `X-Nuts-Topic-Prefix is missing: the import line gives the topic prefix second, e.g. import nuts EVENTS events. ("" for none); ${FIX}`,
    ],
    [
      { stream: "EVENTS", topicPrefix: "events", options: "" },
      `X-Nuts-Topic-Prefix: topic_prefix "events" must be empty or NATS tokens ending in a dot, e.g. "events."; ${FIX}`,
    ],
    [
      { stream: "EV.ENTS", topicPrefix: "events.", options: "" },
      `X-Nuts-Stream: stream_name "EV.ENTS" is not a valid JetStream stream name (no spaces, ".", "*", ">", "/"); ${FIX}`,
    ],
    [
      events("max_topics=0"),
      `X-Nuts-Options: max_topics takes a whole number from 1 to 1024, got 0; ${FIX}`,
    ],
    [
      events("nats_token=other"),
      `X-Nuts-Options: nats_token is a secret: set it under "header_routes" in the sidecar's config, never in the Caddyfile; ${FIX}`,
    ],
    [
      events("subscriber_jwt_query=on"),
      `X-Nuts-Options: subscriber_jwt_query needs a key: set subscriber_jwt_key, subscriber_jwt_public_key or subscriber_jwks_url; ${FIX}`,
    ],
  ])("refuses %j with a 400 that says what to fix", (headers, message) => {
    const routes = new HeaderRoutes(base, silentLogger);
    const error = refusal(routes, headers);
    expect(error.status).toBe(400);
    expect(error.toJSON()).toEqual({ error: "invalid_route_header", message });
    // Refused once, remembered: the same headers get the same answer without a second parse.
    expect(refusal(routes, headers)).toBe(error);
  });

  it("keeps the route's secrets from the sidecar's config whatever the options say", () => {
    const routes = new HeaderRoutes(base, silentLogger);
    refusal(routes, events("nats_token=other"));
    expect(routes.resolve(events()).nats.auth).toEqual({ type: "token", token: "t0ken" });
  });

  it(`keeps at most ${MAX_HEADER_ROUTES} header sets`, () => {
    const routes = new HeaderRoutes(base, silentLogger);
    for (let n = 1; n <= MAX_HEADER_ROUTES; n++) routes.resolve(events(`max_topics=${n}`));
    expect(refusal(routes, events("max_topics=999")).message).toBe(
      `this sidecar has already seen ${MAX_HEADER_ROUTES} different header routes; restart it to forget the old ones`,
    );
    expect(routes.resolve(events("max_topics=1")).maxTopics).toBe(1);
  });
});

describe("resolveConfig with header_routes", () => {
  function configError(input: unknown): ConfigError {
    try {
      resolveConfig(input);
    } catch (error) {
      if (error instanceof ConfigError) return error;
      throw error;
    }
    throw new Error(`expected a ConfigError for ${JSON.stringify(input)}`);
  }

  it("needs no named routes", () => {
    const config = resolveConfig({ header_routes: { nats_url: "nats://127.0.0.1:4222" } });
    expect(config.routes.size).toBe(0);
    expect(config.headerRoutes).toEqual({ nats_url: "nats://127.0.0.1:4222" });
  });

  it("is off when absent", () => {
    expect(resolveConfig({ routes: { r: { stream_name: "E" } } }).headerRoutes).toBeNull();
  });

  it.each([
    [
      { header_routes: { stream_name: "EVENTS" } },
      "header_routes: stream_name comes from each route's import line in the Caddyfile; remove it here",
      "stream_name",
    ],
    [
      { header_routes: { topic_prefix: "events." } },
      "header_routes: topic_prefix comes from each route's import line in the Caddyfile; remove it here",
      "topic_prefix",
    ],
    [
      { header_routes: { nats_url: "http://x" } },
      'header_routes: nats_url "http://x" is not a NATS URL like "nats://localhost:4222"',
      "nats_url",
    ],
    [
      { header_routes: { nats_token: "a", nats_user: "u", nats_password: "p" } },
      "header_routes: choose one NATS auth mode, not nats_token and nats_user/nats_password",
      "nats_token",
    ],
    [
      { header_routes: [] },
      'header_routes: must be an object like {"nats_url": "nats://localhost:4222"}',
      undefined,
    ],
  ])("refuses %j", (input, message, key) => {
    const error = configError(input);
    expect(error.message).toBe(message);
    expect(error.key).toBe(key);
  });
});

describe("route selection in the sidecar app", () => {
  // Every request here is refused before any NATS work, so no NATS server is needed.
  async function answer(sidecarJson: unknown, headers: Record<string, string>) {
    const sidecar = createSidecar(resolveConfig(sidecarJson), silentLogger);
    try {
      const response = await sidecar.app.request("/events?topic=orders", { headers });
      return { status: response.status, body: await response.json() };
    } finally {
      await sidecar.close();
    }
  }

  it("refuses a request that both names a route and defines one", async () => {
    const config = { routes: { events: { stream_name: "EVENTS" } }, header_routes: {} };
    expect(await answer(config, { "X-Nuts-Route": "events", "X-Nuts-Stream": "OTHER" })).toEqual({
      status: 400,
      body: {
        error: "invalid_route_header",
        message:
          "X-Nuts-Route and X-Nuts-Stream are both set; name a route or define one, not both",
      },
    });
  });

  it("refuses route headers when header routes are off, even with one named route", async () => {
    const config = { routes: { events: { stream_name: "EVENTS" } } };
    expect(await answer(config, { "X-Nuts-Stream": "OTHER", "X-Nuts-Topic-Prefix": "" })).toEqual({
      status: 404,
      body: {
        error: "no_route",
        message:
          'this sidecar has no header routes: add "header_routes" to its config (see docs/drop-in.md)',
      },
    });
  });

  it("answers a bad import line with a 400 naming the option", async () => {
    const headers = {
      "X-Nuts-Stream": "EVENTS",
      "X-Nuts-Topic-Prefix": "events.",
      "X-Nuts-Options": "max_topics=0",
    };
    expect(await answer({ header_routes: {} }, headers)).toEqual({
      status: 400,
      body: {
        error: "invalid_route_header",
        message: `X-Nuts-Options: max_topics takes a whole number from 1 to 1024, got 0; ${FIX}`,
      },
    });
  });
});
