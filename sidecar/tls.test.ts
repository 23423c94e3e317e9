/**
 * TLS to NATS, against a nats-server that requires TLS and a client certificate signed by its
 * CA (certificates made with openssl for the test): a route with `nats_tls_ca`, `nats_tls_cert`
 * and `nats_tls_key` streams messages; one without a client certificate, with a certificate
 * from another CA, or without the CA to trust the server is refused with nats_unavailable.
 */
import { connect } from "@nats-io/transport-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { NatsServer } from "../testing/nats-server.js";
import { type Harness, startHarness, type TestSidecar } from "../testing/sidecar-harness.js";
import { eventually, fetchAll, openSse, type SseClient } from "../testing/sse-client.js";
import { makeTlsCertificates, type TlsCertificates } from "../testing/tls-certs.js";
import { type Config, ConfigError, type RouteOptions, resolveConfig } from "./config.js";
import { createLogger } from "./log.js";

const NATS_UNAVAILABLE =
  '{"error":"nats_unavailable","message":"NATS is not reachable right now; retry shortly"}';

let certs: TlsCertificates;
let harness: Harness;
let nats: NatsServer;
let sidecar: TestSidecar;
let config: Config;
let port: number;
const open: SseClient[] = [];
const logLines: string[] = [];

/** Routes that differ only in their TLS settings; each gets its own NATS connection. */
function routes(): Record<string, RouteOptions> {
  const common: RouteOptions = {
    nats_url: `tls://127.0.0.1:${nats.port}`,
    stream_name: "EVENTS",
    topic_prefix: "events.",
    reconnect_wait: 0.5,
    heartbeat_interval: 0,
  };
  return {
    good: {
      ...common,
      nats_tls_ca: certs.ca,
      nats_tls_cert: certs.clientCert,
      nats_tls_key: certs.clientKey,
    },
    "no-client-cert": { ...common, nats_tls_ca: certs.ca },
    "stranger-cert": {
      ...common,
      nats_tls_ca: certs.ca,
      nats_tls_cert: certs.strangerCert,
      nats_tls_key: certs.strangerKey,
    },
    // The client certificate is right, but the server's certificate is not trusted.
    "no-ca": { ...common, nats_tls_cert: certs.clientCert, nats_tls_key: certs.clientKey },
    // A key file that is not there; its path must not reach the log (nats_tls_key is secret).
    "missing-key": {
      ...common,
      nats_tls_ca: certs.ca,
      nats_tls_cert: certs.clientCert,
      nats_tls_key: `${certs.dir}/keyPATHzq89.pem`,
    },
    "plain-url": {
      ...common,
      nats_url: nats.url,
      nats_tls_ca: certs.ca,
      nats_tls_cert: certs.clientCert,
      nats_tls_key: certs.clientKey,
    },
  };
}

beforeAll(async () => {
  certs = await makeTlsCertificates();
  harness = await startHarness({
    server: { tls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.ca, verify: true } },
    connect: { tls: { caFile: certs.ca, certFile: certs.clientCert, keyFile: certs.clientKey } },
  });
  nats = harness.nats;
  sidecar = await harness.startSidecar(
    { routes: routes() },
    createLogger("debug", (line) => logLines.push(line)),
  );
  ({ config, port } = sidecar);
});

afterEach(() => {
  for (const client of open.splice(0)) client.abort();
});

afterAll(async () => {
  await harness?.stop();
  await certs?.remove();
});

describe("the test nats-server with TLS and verify", () => {
  it("refuses a client without a certificate", async () => {
    const refused = await connect({
      servers: nats.url,
      tls: { caFile: certs.ca },
      reconnect: false,
      timeout: 5_000,
    }).then(
      async (connection) => {
        await connection.close();
        return false;
      },
      () => true,
    );
    expect(refused).toBe(true);
  });
});

describe("a route with nats_tls_ca, nats_tls_cert and nats_tls_key", () => {
  it.for(["good", "plain-url"])(
    "streams messages over TLS (route %s)",
    async (route, { expect }) => {
      const routeConfig = config.routes.get(route);
      if (!routeConfig) throw new Error(`no route ${route}`);
      const source = sidecar.hub.source(routeConfig);
      await eventually(() => source.isAvailable(), `route ${route} to connect`);
      const client = await openSse({
        port,
        path: `/tls-${route}`,
        headers: { "X-Nuts-Route": route },
      });
      open.push(client);
      expect(client.status).toBe(200);
      await client.waitForEvents(1);
      expect(client.events[0]?.raw).toMatch(
        new RegExp(
          `^id: \\d+\\nevent: connected\\ndata: \\{"topics":\\["tls-${route}"\\]\\}\\n\\n$`,
        ),
      );

      const seq = (await harness.js.publish(`events.tls-${route}`, '{"over":"tls"}')).seq;
      const [message] = await client.waitForMessages(1);
      expect(message?.raw).toMatch(
        new RegExp(
          `^id: ${seq}\\nevent: message\\ndata: \\{"topic":"tls-${route}","payload":\\{"over":"tls"\\},"time":"[^"]+"\\}\\n\\n$`,
        ),
      );
    },
  );
});

// Each refusal may wait out the sidecar's start-up grace, so they run at once.
describe.concurrent("routes the TLS server refuses", () => {
  it.for(["no-client-cert", "stranger-cert", "no-ca", "missing-key"])(
    "refuses requests on route %s with nats_unavailable",
    async (route, { expect }) => {
      const [eventSource, other] = await Promise.all([
        fetchAll({
          port,
          path: "/tls",
          headers: { "X-Nuts-Route": route, Accept: "text/event-stream" },
        }),
        fetchAll({ port, path: "/tls", headers: { "X-Nuts-Route": route } }),
      ]);
      expect(eventSource.status).toBe(200);
      expect(eventSource.body).toBe(
        `event: unavailable\nretry: 1000\ndata: ${NATS_UNAVAILABLE}\n\n`,
      );
      expect(other.status).toBe(503);
      expect(other.headers["retry-after"]).toBe("1");
      expect(other.body).toBe(NATS_UNAVAILABLE);
    },
  );
});

describe("a missing TLS key file", () => {
  // nats.js quotes a missing key file's path in its reason; the log shows a label instead.
  it("is logged without its path", async () => {
    await eventually(
      () => logLines.some((line) => line.includes("cannot connect to NATS")),
      "a failed connection to be logged",
    );
    expect(logLines.join("")).not.toContain("keyPATHzq89");
  });
});

describe("TLS configuration mistakes", () => {
  const base = { stream_name: "EVENTS" };

  it.each<[string, RouteOptions, string, string]>([
    [
      "nats_tls_cert without nats_tls_key",
      { nats_tls_cert: "/etc/nats/client.pem" },
      'route "r": nats_tls_cert and nats_tls_key go together: give both files, or neither',
      "nats_tls_cert",
    ],
    [
      "nats_tls_key without nats_tls_cert",
      { nats_tls_key: "/etc/nats/client-key.pem" },
      'route "r": nats_tls_cert and nats_tls_key go together: give both files, or neither',
      "nats_tls_key",
    ],
    [
      "an empty nats_tls_ca",
      { nats_tls_ca: "" },
      'route "r": nats_tls_ca must be a non-empty string, got ""',
      "nats_tls_ca",
    ],
  ])("%s is a ConfigError", (_, options, message, key) => {
    let caught: unknown;
    try {
      resolveConfig({ routes: { r: { ...base, ...options } } });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).message).toBe(message);
    expect((caught as ConfigError).key).toBe(key);
  });

  it("resolves the three files into the route's NATS settings", () => {
    const route = resolveConfig({
      routes: {
        r: { ...base, nats_tls_ca: "/ca.pem", nats_tls_cert: "/c.pem", nats_tls_key: "/k.pem" },
      },
    }).routes.get("r");
    expect(route?.nats.tls).toEqual({ caFile: "/ca.pem", certFile: "/c.pem", keyFile: "/k.pem" });
    expect(resolveConfig({ routes: { r: base } }).routes.get("r")?.nats.tls).toBeNull();
  });
});
