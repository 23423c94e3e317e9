/**
 * The hub's browser-facing options against a real nats-server: CORS (`cors_origins`),
 * publishing with the cookie only from `publish_origins`, and `heartbeat` comments.
 */
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, startHarness, type TestSidecar } from "../testing/sidecar-harness.js";
import { fetchAll, openSse } from "../testing/sse-client.js";

const PUBLISHER_KEY = "publisher-secret-publisher-secret-0123456789";
const HUB = "/.well-known/mercure";
const APP = "https://app.example";
const ADMIN = "https://admin.example";

let harness: Harness;
let sidecar: TestSidecar;
let publisherToken: string;

beforeAll(async () => {
  harness = await startHarness({ streams: [{ name: "MERCURE", subjects: ["mercure.>"] }] });
  const base = {
    nats_url: harness.nats.url,
    stream: "MERCURE",
    publisher_jwt: { key: PUBLISHER_KEY },
    anonymous: true,
  };
  sidecar = await harness.startSidecar({
    routes: {},
    mercure: {
      hub: { ...base, cors_origins: [APP], publish_origins: [ADMIN], heartbeat: 0.2 },
      quiet: { ...base, heartbeat: 0 },
    },
  });
  publisherToken = await new SignJWT({ mercure: { publish: ["*"] } })
    .setProtectedHeader({ alg: "HS256" })
    .sign(new TextEncoder().encode(PUBLISHER_KEY));
});

afterAll(() => harness?.stop());

function request(method: string, path: string, headers: Record<string, string>, body = "") {
  return fetchAll({
    port: sidecar.port,
    path,
    method,
    ...(body === "" ? {} : { body }),
    headers: {
      "X-Nuts-Mercure": "hub",
      ...(body === ""
        ? {}
        : {
            "Content-Type": "application/x-www-form-urlencoded",
            "Content-Length": String(Buffer.byteLength(body)),
          }),
      ...headers,
    },
  });
}

describe("cors_origins", () => {
  it("echoes a listed origin with credentials on the stream, and nothing for another", async () => {
    const allowed = await openSse({
      port: sidecar.port,
      path: `${HUB}?topic=a`,
      headers: { "X-Nuts-Mercure": "hub", Origin: APP },
    });
    expect(allowed.status).toBe(200);
    expect(allowed.headers["access-control-allow-origin"]).toBe(APP);
    expect(allowed.headers["access-control-allow-credentials"]).toBe("true");
    expect(allowed.headers.vary).toBe("Origin");
    allowed.abort();
    const other = await openSse({
      port: sidecar.port,
      path: `${HUB}?topic=a`,
      headers: { "X-Nuts-Mercure": "hub", Origin: "https://evil.example" },
    });
    expect(other.status).toBe(200);
    expect(other.headers["access-control-allow-origin"]).toBeUndefined();
    expect(other.headers.vary).toBe("Origin");
    other.abort();
  });

  it("answers a preflight, and puts the headers on errors too", async () => {
    const preflight = await request("OPTIONS", HUB, {
      Origin: APP,
      "Access-Control-Request-Method": "GET",
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers["access-control-allow-origin"]).toBe(APP);
    expect(preflight.headers["access-control-allow-methods"]).toBe("GET, POST, OPTIONS");
    expect(preflight.headers["access-control-allow-headers"]).toBe(
      "Authorization, Last-Event-ID, Cache-Control, Content-Type",
    );
    const error = await request("GET", HUB, { Origin: APP });
    expect(error.status).toBe(400);
    expect(JSON.parse(error.body).error).toBe("missing_topic");
    expect(error.headers["access-control-allow-origin"]).toBe(APP);
  });
});

describe("publish_origins", () => {
  const form = new URLSearchParams({ topic: "https://example.com/p", data: "x" }).toString();
  const cookie = () => `mercureAuthorization=${publisherToken}`;

  it("takes the cookie from a listed origin (Origin, or the Referer's origin)", async () => {
    const fromAdmin = await request("POST", HUB, { Cookie: cookie(), Origin: ADMIN }, form);
    expect(fromAdmin.status).toBe(200);
    expect(fromAdmin.body).toMatch(/^urn:uuid:/);
    const byReferer = await request(
      "POST",
      HUB,
      { Cookie: cookie(), Referer: `${ADMIN}/page?x=1` },
      form,
    );
    expect(byReferer.status).toBe(200);
  });

  it("refuses the cookie from any other origin or none, and takes the header from anywhere", async () => {
    const elsewhere: Record<string, string>[] = [
      { Origin: APP },
      { Referer: "https://evil.example/" },
      {},
    ];
    for (const headers of elsewhere) {
      const refused = await request("POST", HUB, { Cookie: cookie(), ...headers }, form);
      expect({ status: refused.status, body: JSON.parse(refused.body) }).toEqual({
        status: 403,
        body: {
          error: "forbidden_origin",
          message: "publishing with the cookie is allowed only from the hub's publish_origins",
        },
      });
    }
    const bearer = await request(
      "POST",
      HUB,
      { Authorization: `Bearer ${publisherToken}`, Origin: "https://evil.example" },
      form,
    );
    expect(bearer.status).toBe(200);
  });
});

describe("heartbeat", () => {
  it("writes a comment after each interval of silence; a hub with heartbeat 0 writes none", async () => {
    const quiet = await openSse({
      port: sidecar.port,
      path: `${HUB}?topic=h`,
      headers: { "X-Nuts-Mercure": "quiet" },
    });
    const beating = await openSse({
      port: sidecar.port,
      path: `${HUB}?topic=h`,
      headers: { "X-Nuts-Mercure": "hub" },
    });
    await beating.waitFor(
      () => beating.text.startsWith(":\n: heartbeat\n\n: heartbeat\n\n"),
      "two heartbeats",
    );
    expect(beating.text).toMatch(/^:\n(: heartbeat\n\n)+$/);
    expect(quiet.text).toBe(":\n");
    quiet.abort();
    beating.abort();
  });
});
