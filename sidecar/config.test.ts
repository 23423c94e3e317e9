import { describe, expect, it } from "vitest";
import {
  ConfigError,
  nearestOptionName,
  parseDurationSeconds,
  resolveConfig,
  resolveRoute,
} from "./config.js";

/** The error resolveConfig throws for a config, or fails the test when it throws none. */
function configError(input: unknown): ConfigError {
  try {
    resolveConfig(input);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify(input)}`);
}

function routeError(options: Record<string, unknown>): ConfigError {
  return configError({ routes: { events: options } });
}

describe("resolveConfig", () => {
  it("fills every default for a route that names only its stream", () => {
    const config = resolveConfig({ routes: { events: { stream_name: "EVENTS" } } });
    expect([...config.routes.keys()]).toEqual(["events"]);
    expect(config.routes.get("events")).toEqual({
      name: "events",
      nats: {
        servers: ["nats://localhost:4222"],
        tls: null,
        auth: { type: "none" },
        reconnectWaitMs: 2000,
        maxReconnects: -1,
      },
      streamName: "EVENTS",
      topicPrefix: "",
      allowedOrigins: null,
      heartbeatIntervalMs: 30_000,
      maxTopics: 32,
      retryMs: null,
      writeTimeoutMs: 10_000,
      pathPrefix: "",
      ringSize: 1024,
      maxBufferedBytes: 1_048_576,
      publish: false,
      subscriberAuth: null,
      maxConnections: null,
      maxConnectionsPerIp: null,
      maxEventSize: null,
      replayMaxMessages: null,
    });
  });

  it("takes every option as written", () => {
    const route = resolveRoute("chat", {
      nats_url: "nats://a:4222, nats://b:4222",
      stream_name: "CHAT",
      nats_user: "alice",
      nats_password: "secret",
      topic_prefix: "chat.rooms.",
      allowed_origins: ["https://example.com", "http://localhost:8080"],
      heartbeat_interval: "500ms",
      reconnect_wait: 0.25,
      max_reconnects: 10,
      max_topics: 4,
      retry: 3000,
      write_timeout: "2s",
      path_prefix: "/chat/",
      ring_size: 16,
      max_buffered_bytes: 4096,
      publish: true,
    });
    expect(route).toEqual({
      name: "chat",
      nats: {
        servers: ["nats://a:4222", "nats://b:4222"],
        tls: null,
        auth: { type: "user_password", user: "alice", password: "secret" },
        reconnectWaitMs: 250,
        maxReconnects: 10,
      },
      streamName: "CHAT",
      topicPrefix: "chat.rooms.",
      allowedOrigins: ["https://example.com", "http://localhost:8080"],
      heartbeatIntervalMs: 500,
      maxTopics: 4,
      retryMs: 3000,
      writeTimeoutMs: 2000,
      pathPrefix: "/chat",
      ringSize: 16,
      maxBufferedBytes: 4096,
      publish: true,
      subscriberAuth: null,
      maxConnections: null,
      maxConnectionsPerIp: null,
      maxEventSize: null,
      replayMaxMessages: null,
    });
  });

  it("switches heartbeats off with 0 and the retry field off with null", () => {
    const route = resolveRoute("r", { stream_name: "S", heartbeat_interval: 0, retry: null });
    expect(route.heartbeatIntervalMs).toBeNull();
    expect(route.retryMs).toBeNull();
  });

  it("reads a token and a credentials file as their auth modes", () => {
    expect(resolveRoute("r", { stream_name: "S", nats_token: "t0k" }).nats.auth).toEqual({
      type: "token",
      token: "t0k",
    });
    expect(
      resolveRoute("r", { stream_name: "S", nats_credentials: "/etc/nuts/app.creds" }).nats.auth,
    ).toEqual({
      type: "credentials",
      file: "/etc/nuts/app.creds",
    });
  });

  it('accepts an empty topic_prefix, as its own error message ("must be empty or ...") promises', () => {
    // The Caddyfile adapter passes `topic_prefix ""` through as written.
    expect(resolveRoute("r", { stream_name: "S", topic_prefix: "" }).topicPrefix).toBe("");
  });

  it('mounts a route at the root with path_prefix "/"', () => {
    expect(resolveRoute("r", { stream_name: "S", path_prefix: "/" }).pathPrefix).toBe("");
    expect(resolveRoute("r", { stream_name: "S", path_prefix: "/events///" }).pathPrefix).toBe(
      "/events",
    );
  });

  it('treats "*" anywhere in allowed_origins as any origin', () => {
    expect(
      resolveRoute("r", { stream_name: "S", allowed_origins: ["https://a.example", "*"] })
        .allowedOrigins,
    ).toBeNull();
  });

  it("keeps several routes apart", () => {
    const config = resolveConfig({
      routes: { a: { stream_name: "A" }, b: { stream_name: "B", topic_prefix: "b." } },
    });
    expect(config.routes.get("a")?.streamName).toBe("A");
    expect(config.routes.get("b")?.topicPrefix).toBe("b.");
  });

  it.each([
    [null, 'the sidecar config must be a JSON object like {"routes": {...}}'],
    [[], 'the sidecar config must be a JSON object like {"routes": {...}}'],
    [
      { routes: {}, extra: 1 },
      'unknown top-level key "extra"; the keys are "routes", "header_routes" and "mercure"',
    ],
    [
      {},
      'the sidecar config needs at least one route: {"routes": {"events": {"stream_name": "EVENTS"}}}, or header routes: {"header_routes": {"nats_url": "nats://localhost:4222"}}',
    ],
    [
      { routes: {} },
      'the sidecar config needs at least one route: {"routes": {"events": {"stream_name": "EVENTS"}}}, or header routes: {"header_routes": {"nats_url": "nats://localhost:4222"}}',
    ],
    [
      { routes: [] },
      'the sidecar config needs at least one route: {"routes": {"events": {"stream_name": "EVENTS"}}}, or header routes: {"header_routes": {"nats_url": "nats://localhost:4222"}}',
    ],
    [
      { routes: { "a b": { stream_name: "S" } } },
      `route "a b": route names are 1 to 64 letters, digits, '_', '-' or '.'`,
    ],
    [
      { routes: { events: "EVENTS" } },
      'route "events": a route must be an object like {"stream_name": "EVENTS"}',
    ],
  ])("refuses %j: %s", (input, message) => {
    const error = configError(input);
    expect(error.message).toBe(message);
    expect(error.name).toBe("ConfigError");
  });

  it.each<[Record<string, unknown>, string, string | undefined]>([
    [{}, 'stream_name is required: name the JetStream stream, e.g. "EVENTS"', "stream_name"],
    [{ stream_name: "" }, 'stream_name must be a non-empty string, got ""', "stream_name"],
    [{ stream_name: 7 }, "stream_name must be a non-empty string, got 7", "stream_name"],
    [
      { stream_name: "MY.EVENTS" },
      'stream_name "MY.EVENTS" is not a valid JetStream stream name (no spaces, ".", "*", ">", "/")',
      "stream_name",
    ],
    [
      { stream_name: "MY EVENTS" },
      'stream_name "MY EVENTS" is not a valid JetStream stream name (no spaces, ".", "*", ">", "/")',
      "stream_name",
    ],
    [
      { stream_name: "S", strem_name: "S" },
      'unknown option "strem_name"; did you mean "stream_name"?',
      undefined,
    ],
    [{ stream_name: "S", colour: "blue" }, 'unknown option "colour"', undefined],
    [
      { stream_name: "S", topic_prefix: "events" },
      'topic_prefix "events" must be empty or NATS tokens ending in a dot, e.g. "events."',
      "topic_prefix",
    ],
    [
      { stream_name: "S", topic_prefix: "ev.*." },
      'topic_prefix "ev.*." must be empty or NATS tokens ending in a dot, e.g. "events."',
      "topic_prefix",
    ],
    [
      { stream_name: "S", path_prefix: "events" },
      'path_prefix "events" must start with "/", e.g. "/events"',
      "path_prefix",
    ],
    [
      { stream_name: "S", allowed_origins: [] },
      'allowed_origins needs at least one origin, or "*"',
      "allowed_origins",
    ],
    [
      { stream_name: "S", allowed_origins: "*" },
      'allowed_origins must be a list of strings, got "*"',
      "allowed_origins",
    ],
    [
      { stream_name: "S", allowed_origins: ["https://example.com/app"] },
      'allowed_origins: "https://example.com/app" is not an origin like "https://example.com" (scheme and host, no path)',
      "allowed_origins",
    ],
    [
      { stream_name: "S", heartbeat_interval: "ten" },
      'heartbeat_interval takes seconds (like 30, 0.5 or "500ms") up to one day, got "ten"',
      "heartbeat_interval",
    ],
    [
      { stream_name: "S", heartbeat_interval: -1 },
      'heartbeat_interval takes seconds (like 30, 0.5 or "500ms") up to one day, got -1',
      "heartbeat_interval",
    ],
    [
      { stream_name: "S", write_timeout: 86_401 },
      'write_timeout takes seconds (like 30, 0.5 or "500ms") up to one day, got 86401',
      "write_timeout",
    ],
    [
      { stream_name: "S", reconnect_wait: true },
      'reconnect_wait takes seconds (like 30, 0.5 or "500ms") up to one day, got true',
      "reconnect_wait",
    ],
    [
      { stream_name: "S", max_reconnects: -2 },
      "max_reconnects takes a whole number from -1 to 1000000, got -2",
      "max_reconnects",
    ],
    [
      { stream_name: "S", max_topics: 0 },
      "max_topics takes a whole number from 1 to 1024, got 0",
      "max_topics",
    ],
    [
      { stream_name: "S", max_topics: 2.5 },
      "max_topics takes a whole number from 1 to 1024, got 2.5",
      "max_topics",
    ],
    [
      { stream_name: "S", retry: "3s" },
      'retry takes a whole number from 0 to 86400000, got "3s"',
      "retry",
    ],
    [
      { stream_name: "S", ring_size: 15 },
      "ring_size takes a whole number from 16 to 1000000, got 15",
      "ring_size",
    ],
    [
      { stream_name: "S", max_buffered_bytes: 1023 },
      "max_buffered_bytes takes a whole number from 1024 to 1073741824, got 1023",
      "max_buffered_bytes",
    ],
    [{ stream_name: "S", publish: "yes" }, 'publish must be true or false, got "yes"', "publish"],
    [{ stream_name: "S", nats_url: " , " }, "nats_url is empty", "nats_url"],
    [
      { stream_name: "S", nats_url: "http://localhost:4222" },
      'nats_url "http://localhost:4222" is not a NATS URL like "nats://localhost:4222"',
      "nats_url",
    ],
    [
      { stream_name: "S", nats_token: "t", nats_user: "u", nats_password: "p" },
      "choose one NATS auth mode, not nats_token and nats_user/nats_password",
      "nats_token",
    ],
    [
      { stream_name: "S", nats_token: "t", nats_credentials: "/a.creds" },
      "choose one NATS auth mode, not nats_token and nats_credentials",
      "nats_credentials",
    ],
    [{ stream_name: "S", nats_password: "p" }, "nats_password needs nats_user", "nats_password"],
    [{ stream_name: "S", nats_user: "u" }, "nats_user needs nats_password", "nats_user"],
  ])("refuses route options %j: %s", (options, message, key) => {
    const error = routeError(options);
    expect(error.message).toBe(`route "events": ${message}`);
    expect(error.route).toBe("events");
    expect(error.key).toBe(key);
  });
});

describe("parseDurationSeconds", () => {
  it.each([
    ["30", 30],
    ["0.5", 0.5],
    ["500ms", 0.5],
    ["30s", 30],
    ["5m", 300],
    ["1h", 3600],
    [" 2s ", 2],
  ])("reads %j as %d seconds", (text, seconds) => {
    expect(parseDurationSeconds(text)).toBe(seconds);
  });

  it.each(["", "ten", "-1", "1d", "1.s", "s"])("refuses %j", (text) => {
    expect(parseDurationSeconds(text)).toBeUndefined();
  });
});

describe("nearestOptionName", () => {
  it("suggests a close option name and nothing for a far one", () => {
    expect(nearestOptionName("strem_name")).toBe("stream_name");
    expect(nearestOptionName("natsurl")).toBe("nats_url");
    expect(nearestOptionName("publsh")).toBe("publish");
    expect(nearestOptionName("foo")).toBeUndefined();
  });
});
