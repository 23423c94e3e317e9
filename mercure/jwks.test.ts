/**
 * `publisher_jwks_url` and `subscriber_jwks_url` against a real nats-server and a JWKS served
 * on loopback: tokens signed with a key of the set publish and read private updates; tokens of
 * another key, HMAC tokens and `alg: none` are refused; an unreachable JWKS is a 503.
 */
import { createServer, type Server } from "node:http";
import { exportJWK, generateKeyPair, type JWTPayload, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, startHarness, type TestSidecar } from "../testing/sidecar-harness.js";
import { fetchAll, openSse } from "../testing/sse-client.js";

const HUB = "/.well-known/mercure";

let harness: Harness;
let sidecar: TestSidecar;
let jwksServer: Server;
type PrivateKey = Awaited<ReturnType<typeof generateKeyPair>>["privateKey"];
let signingKey: PrivateKey;
let strangerKey: PrivateKey;

function sign(claims: JWTPayload, key = signingKey, alg = "ES256"): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg, kid: "hub-key" })
    .setExpirationTime("5m")
    .sign(key);
}

async function publish(bearer: string, fields: Record<string, string>, hub = "hub") {
  const body = new URLSearchParams(fields).toString();
  const result = await fetchAll({
    port: sidecar.port,
    path: HUB,
    method: "POST",
    body,
    headers: {
      "X-Nuts-Mercure": hub,
      "Content-Type": "application/x-www-form-urlencoded",
      "Content-Length": String(Buffer.byteLength(body)),
      Authorization: `Bearer ${bearer}`,
    },
  });
  return { status: result.status, body: result.body };
}

beforeAll(async () => {
  const pair = await generateKeyPair("ES256");
  signingKey = pair.privateKey;
  strangerKey = (await generateKeyPair("ES256")).privateKey;
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: "hub-key", alg: "ES256" };
  jwksServer = createServer((_req, res) => {
    res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((resolve) => jwksServer.listen(0, "127.0.0.1", resolve));
  const address = jwksServer.address();
  if (!address || typeof address !== "object") throw new Error("no JWKS port");
  const url = `http://127.0.0.1:${address.port}/jwks.json`;
  harness = await startHarness({ streams: [{ name: "MERCURE", subjects: ["mercure.>"] }] });
  // A port nothing listens on: the JWKS of the "unreachable" hub.
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
  const closedPort = (closed.address() as { port: number }).port;
  await new Promise((resolve) => closed.close(resolve));
  const base = { nats_url: harness.nats.url, stream: "MERCURE", heartbeat: 0 };
  sidecar = await harness.startSidecar({
    routes: {},
    mercure: {
      hub: { ...base, publisher_jwks_url: url, subscriber_jwks_url: url },
      unreachable: {
        ...base,
        publisher_jwks_url: `http://127.0.0.1:${closedPort}/jwks.json`,
        anonymous: true,
      },
    },
  });
});

afterAll(async () => {
  await harness?.stop();
  await new Promise((resolve) => jwksServer?.close(resolve));
});

describe("JWKS keys", () => {
  it("verify publishers and subscribers: a private update reaches the subscriber its token allows", async () => {
    const subscriber = await openSse({
      port: sidecar.port,
      path: `${HUB}?topic=${encodeURIComponent("https://example.com/secret")}`,
      headers: {
        "X-Nuts-Mercure": "hub",
        Authorization: `Bearer ${await sign({ mercure: { subscribe: ["https://example.com/{x}"] } })}`,
      },
    });
    expect(subscriber.status).toBe(200);
    await subscriber.waitFor(() => subscriber.text === ":\n", "the opening comment");
    const published = await publish(await sign({ mercure: { publish: ["*"] } }), {
      topic: "https://example.com/secret",
      data: "for your eyes",
      id: "jwks-1",
      private: "on",
    });
    expect(published).toEqual({ status: 200, body: "jwks-1" });
    await subscriber.waitForEvents(1);
    expect(subscriber.events.map((event) => [event.id, event.data])).toEqual([
      ["jwks-1", "for your eyes"],
    ]);
    subscriber.abort();
  });

  it("refuse a token of another key (with the set's key id), an HMAC token and alg none with 401", async () => {
    const stranger = await publish(await sign({ mercure: { publish: ["*"] } }, strangerKey), {
      topic: "t",
    });
    expect({ status: stranger.status, body: JSON.parse(stranger.body) }).toEqual({
      status: 401,
      body: { error: "unauthorized", message: "the token's signature does not verify" },
    });
    const hmac = await new SignJWT({ mercure: { publish: ["*"] } })
      .setProtectedHeader({ alg: "HS256", kid: "hub-key" })
      .sign(new TextEncoder().encode("an-hmac-secret-an-hmac-secret-0123456"));
    expect((await publish(hmac, { topic: "t" })).status).toBe(401);
    const part = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
    const none = `${part({ alg: "none", kid: "hub-key" })}.${part({ mercure: { publish: ["*"] } })}.`;
    expect((await publish(none, { topic: "t" })).status).toBe(401);
  });

  it("answer 503 when the JWKS cannot be fetched", async () => {
    const result = await publish(
      await sign({ mercure: { publish: ["*"] } }),
      { topic: "t" },
      "unreachable",
    );
    expect({ status: result.status, body: JSON.parse(result.body) }).toEqual({
      status: 503,
      body: {
        error: "unavailable",
        message: "tokens cannot be verified right now (the JWKS is not reachable); retry shortly",
      },
    });
  });
});
