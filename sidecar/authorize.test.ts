/**
 * Subscriber JWT authorization against a real nats-server: tokens signed with an HMAC secret,
 * with RSA, P-256 and Ed25519 keys read from PEM files, and with keys served as a JWKS by a
 * local HTTP server. The token comes from `Authorization: Bearer`, else the cookie, else (when
 * allowed) the `authorization` query parameter; its `subscribe` (or `mercure.subscribe`) claim
 * must cover every topic. Every refusal is decided before any NATS work.
 */
import { generateKeyPairSync } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import {
  type CryptoKey,
  exportJWK,
  exportSPKI,
  generateKeyPair,
  type JWK,
  type JWTPayload,
  SignJWT,
} from "jose";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { type Harness, startHarness, type TestSidecar } from "../testing/sidecar-harness.js";
import { eventually, type HttpResult, openSse, type SseClient } from "../testing/sse-client.js";
import { createSidecar } from "./app.js";
import { type Config, ConfigError, type RouteOptions, resolveConfig } from "./config.js";
import { silentLogger } from "./log.js";

const HMAC_SECRET = "an-hmac-secret-of-at-least-32-bytes-for-tests";
const OTHER_SECRET = "another-hmac-secret-of-32-bytes-or-more-!!";
const MISSING_TOKEN_BODY =
  '{"error":"unauthorized","message":"this route needs a subscriber token: send it in an Authorization: Bearer header, or the nutsAuthorization cookie"}';
const BEARER = 'Bearer realm="nuts"';

type Asymmetric = "RS256" | "ES256" | "EdDSA";
interface KeyPair {
  publicKey: CryptoKey;
  privateKey: CryptoKey;
}

let harness: Harness;
let js: JetStreamClient;
let jsm: JetStreamManager;
let sidecar: TestSidecar;
let config: Config;
let port: number;
let keyDir: string;
let jwksServer: Server;
let jwksRequests = 0;
/** Signing keys by algorithm; `stranger` keys are of the same types but known to no route. */
const keys = new Map<Asymmetric, KeyPair>();
const strangers = new Map<Asymmetric, KeyPair>();
const open: SseClient[] = [];

/** A port where nothing listens: a route pointed at it can never reach NATS. */
async function deadPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const address = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  if (!address || typeof address !== "object") throw new Error("no port");
  return address.port;
}

async function serveJwks(jwks: { keys: JWK[] }): Promise<string> {
  jwksServer = createServer((req, res) => {
    jwksRequests++;
    if (req.url !== "/.well-known/jwks.json") {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(jwks));
  });
  await new Promise<void>((resolve) => jwksServer.listen(0, "127.0.0.1", resolve));
  const address = jwksServer.address();
  if (!address || typeof address !== "object") throw new Error("no JWKS port");
  return `http://127.0.0.1:${address.port}/.well-known/jwks.json`;
}

/** A token signed with the route's HMAC secret (or `secret`), valid for five minutes. */
function hmacToken(
  claims: JWTPayload,
  { alg = "HS256", secret = HMAC_SECRET }: { alg?: string; secret?: string } = {},
): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg })
    .setIssuedAt()
    .setExpirationTime("5m")
    .sign(new TextEncoder().encode(secret));
}

function signedToken(
  claims: JWTPayload,
  alg: Asymmetric,
  { stranger = false, kid }: { stranger?: boolean; kid?: string } = {},
): Promise<string> {
  const pair = (stranger ? strangers : keys).get(alg);
  if (!pair) throw new Error(`no ${alg} key`);
  return new SignJWT(claims)
    .setProtectedHeader({ alg, ...(kid === undefined ? {} : { kid }) })
    .setIssuedAt()
    .setExpirationTime("5m")
    .sign(pair.privateKey);
}

/** An unsigned token (`alg: none`), which jose will not make for us. */
function unsignedToken(claims: JWTPayload): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
  return `${part({ alg: "none", typ: "JWT" })}.${part({ ...claims, exp: now() + 300 })}.`;
}

function now(): number {
  return Math.floor(Date.now() / 1000);
}

/**
 * One request. A 200 stream is read up to its `connected` event and closed; anything else is
 * read to its end.
 */
async function attempt(
  route: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<HttpResult> {
  const client = await openSse({ port, path, headers: { "X-Nuts-Route": route, ...headers } });
  open.push(client);
  if (client.status === 200 && client.headers["content-type"] === "text/event-stream") {
    await client.waitForEvents(1);
    client.abort();
    return { status: 200, headers: client.headers, body: client.events[0]?.raw ?? "" };
  }
  await client.waitForEnd();
  return { status: client.status, headers: client.headers, body: client.text };
}

function bearer(token: string): Record<string, string> {
  return { Authorization: `Bearer ${token}` };
}

function connected(...topics: string[]): RegExp {
  const list = topics.map((topic) => JSON.stringify(topic)).join(",");
  return new RegExp(
    `^id: \\d+\\nevent: connected\\ndata: ${escapeRegExp(`{"topics":[${list}]}`)}\\n\\n$`,
  );
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Expects a 401 for a token that was sent but is not good, with the reason in both places. */
function expectInvalidToken(result: HttpResult, reason: string): void {
  expect(result.status).toBe(401);
  expect(result.headers["www-authenticate"]).toBe(
    `Bearer realm="nuts", error="invalid_token", error_description="${reason}"`,
  );
  expect(result.body).toBe(JSON.stringify({ error: "unauthorized", message: reason }));
}

function expectForbidden(result: HttpResult, topic: string): void {
  expect(result.status).toBe(403);
  expect(result.headers["www-authenticate"]).toBeUndefined();
  expect(result.body).toBe(
    JSON.stringify({
      error: "forbidden_topic",
      message: `the token does not allow topic ${JSON.stringify(topic)}`,
    }),
  );
}

beforeAll(async () => {
  harness = await startHarness();
  ({ js, jsm } = harness);

  keyDir = await mkdtemp(join(tmpdir(), "nuts-jwt-keys-"));
  const jwks: JWK[] = [];
  for (const alg of ["RS256", "ES256", "EdDSA"] as const) {
    const pair = await generateKeyPair(alg, { extractable: true });
    keys.set(alg, pair);
    strangers.set(alg, await generateKeyPair(alg, { extractable: true }));
    await writeFile(join(keyDir, `${alg}.pem`), await exportSPKI(pair.publicKey));
    jwks.push({ ...(await exportJWK(pair.publicKey)), kid: `kid-${alg}`, alg, use: "sig" });
  }
  await writeFile(join(keyDir, "not-a-key.pem"), "-----BEGIN PUBLIC KEY-----\nnope\n");
  const p384 = generateKeyPairSync("ec", { namedCurve: "secp384r1" }).publicKey;
  await writeFile(join(keyDir, "p384.pem"), p384.export({ type: "spki", format: "pem" }));
  const jwksUrl = await serveJwks({ keys: jwks });

  const common: RouteOptions = {
    nats_url: harness.nats.url,
    stream_name: "EVENTS",
    topic_prefix: "events.",
    heartbeat_interval: 0,
  };
  const hmac: RouteOptions = { ...common, subscriber_jwt_key: HMAC_SECRET };
  sidecar = await harness.startSidecar({
    routes: {
      hmac,
      "hmac-query": { ...hmac, subscriber_jwt_query: true, subscriber_jwt_cookie: "custom" },
      rsa: { ...common, subscriber_jwt_public_key: join(keyDir, "RS256.pem") },
      ec: { ...common, subscriber_jwt_public_key: join(keyDir, "ES256.pem") },
      ed: { ...common, subscriber_jwt_public_key: join(keyDir, "EdDSA.pem") },
      jwks: { ...common, subscriber_jwks_url: jwksUrl },
      "jwks-down": {
        ...common,
        subscriber_jwks_url: `http://127.0.0.1:${await deadPort()}/.well-known/jwks.json`,
      },
      open: common,
      "dead-nats": { ...hmac, nats_url: `nats://127.0.0.1:${await deadPort()}` },
      "missing-stream": { ...hmac, stream_name: "MISSING" },
    },
  });
  ({ config, port } = sidecar);
  const events = config.routes.get("hmac");
  if (!events) throw new Error("no hmac route");
  await eventually(() => sidecar.hub.source(events).isAvailable(), "the EVENTS source");
});

afterEach(() => {
  for (const client of open.splice(0)) client.abort();
  vi.restoreAllMocks();
});

afterAll(async () => {
  await harness?.stop();
  await new Promise((resolve) => jwksServer?.close(resolve));
  if (keyDir) await rm(keyDir, { recursive: true, force: true });
});

describe("a request without a token", () => {
  it("is a 401 that says where to send one, with WWW-Authenticate", async () => {
    const result = await attempt("hmac", "/orders");
    expect(result.status).toBe(401);
    expect(result.headers["www-authenticate"]).toBe(BEARER);
    expect(result.headers["content-type"]).toMatch(/^application\/json/);
    expect(result.headers["access-control-allow-origin"]).toBe("*");
    expect(result.body).toBe(MISSING_TOKEN_BODY);
  });

  it("is a 401 for an EventSource too (retrying will not help)", async () => {
    const result = await attempt("hmac", "/orders", { Accept: "text/event-stream" });
    expect(result.status).toBe(401);
    expect(result.body).toBe(MISSING_TOKEN_BODY);
  });

  it("names the custom cookie and the query parameter where the route takes them", async () => {
    const result = await attempt("hmac-query", "/orders");
    expect(result.status).toBe(401);
    expect(result.headers["www-authenticate"]).toBe(BEARER);
    expect(result.body).toBe(
      JSON.stringify({
        error: "unauthorized",
        message:
          "this route needs a subscriber token: send it in an Authorization: Bearer header, or the custom cookie, or the authorization query parameter",
      }),
    );
  });

  it("is not needed on a route without subscriber authorization", async () => {
    const result = await attempt("open", "/orders");
    expect(result.status).toBe(200);
    expect(result.body).toMatch(connected("orders"));
  });
});

describe("where the token is read from", () => {
  it("takes it from Authorization: Bearer and streams the topic's messages", async () => {
    const token = await hmacToken({ subscribe: ["orders"] });
    const client = await openSse({
      port,
      path: "/orders",
      headers: { "X-Nuts-Route": "hmac", ...bearer(token) },
    });
    open.push(client);
    expect(client.status).toBe(200);
    await client.waitForEvents(1);
    const seq = (await js.publish("events.orders", '{"n":1}')).seq;
    const [message] = await client.waitForMessages(1);
    expect(message?.raw).toMatch(
      new RegExp(
        `^id: ${seq}\\nevent: message\\ndata: \\{"topic":"orders","payload":\\{"n":1\\},"time":"[^"]+"\\}\\n\\n$`,
      ),
    );
  });

  it("accepts the bearer scheme in any case", async () => {
    const token = await hmacToken({ subscribe: ["orders"] });
    const result = await attempt("hmac", "/orders", { Authorization: `bearer ${token}` });
    expect(result.status).toBe(200);
  });

  it("takes it from the nutsAuthorization cookie", async () => {
    const token = await hmacToken({ subscribe: ["orders"] });
    const result = await attempt("hmac", "/orders", {
      Cookie: `theme=dark; nutsAuthorization=${token}`,
    });
    expect(result.status).toBe(200);
    expect(result.body).toMatch(connected("orders"));
  });

  it("takes it from a custom cookie, and then not from nutsAuthorization", async () => {
    const token = await hmacToken({ subscribe: ["orders"] });
    expect((await attempt("hmac-query", "/orders", { Cookie: `custom=${token}` })).status).toBe(
      200,
    );
    const wrongCookie = await attempt("hmac-query", "/orders", {
      Cookie: `nutsAuthorization=${token}`,
    });
    expect(wrongCookie.status).toBe(401);
    expect(wrongCookie.headers["www-authenticate"]).toBe(BEARER);
  });

  it("takes ?authorization= only where subscriber_jwt_query is on", async () => {
    const token = await hmacToken({ subscribe: ["orders"] });
    const allowed = await attempt("hmac-query", `/orders?authorization=${token}`);
    expect(allowed.status).toBe(200);
    expect(allowed.body).toMatch(connected("orders"));
    const refused = await attempt("hmac", `/orders?authorization=${token}`);
    expect(refused.status).toBe(401);
    expect(refused.headers["www-authenticate"]).toBe(BEARER);
    expect(refused.body).toBe(MISSING_TOKEN_BODY);
  });

  it("lets the Authorization header win over a good cookie", async () => {
    const good = await hmacToken({ subscribe: ["orders"] });
    const forged = await hmacToken({ subscribe: ["orders"] }, { secret: OTHER_SECRET });
    const result = await attempt("hmac", "/orders", {
      ...bearer(forged),
      Cookie: `nutsAuthorization=${good}`,
    });
    expectInvalidToken(result, "the token's signature does not verify");
  });

  it("lets the cookie win over the query parameter", async () => {
    const good = await hmacToken({ subscribe: ["orders"] });
    const forged = await hmacToken({ subscribe: ["orders"] }, { secret: OTHER_SECRET });
    const result = await attempt("hmac-query", `/orders?authorization=${good}`, {
      Cookie: `custom=${forged}`,
    });
    expectInvalidToken(result, "the token's signature does not verify");
  });
});

describe("HMAC tokens (subscriber_jwt_key)", () => {
  it.for(["HS256", "HS384", "HS512"])("accepts %s", async (alg, { expect }) => {
    const token = await hmacToken({ subscribe: ["orders"] }, { alg });
    const result = await attempt("hmac", "/orders", bearer(token));
    expect(result.status).toBe(200);
    expect(result.body).toMatch(connected("orders"));
  });

  it("refuses a token signed with another secret", async () => {
    const token = await hmacToken({ subscribe: ["orders"] }, { secret: OTHER_SECRET });
    expectInvalidToken(
      await attempt("hmac", "/orders", bearer(token)),
      "the token's signature does not verify",
    );
  });

  it("refuses alg: none", async () => {
    expectInvalidToken(
      await attempt("hmac", "/orders", bearer(unsignedToken({ subscribe: ["orders"] }))),
      "the token's algorithm is not accepted on this route",
    );
  });

  it.for(["RS256", "ES256", "EdDSA"] as const)("refuses an %s token", async (alg) => {
    const token = await signedToken({ subscribe: ["orders"] }, alg);
    expectInvalidToken(
      await attempt("hmac", "/orders", bearer(token)),
      "the token's algorithm is not accepted on this route",
    );
  });

  it.for(["not-a-jwt", "a.b.c", "e30.e30.e30"])("calls %j malformed", async (token) => {
    expectInvalidToken(await attempt("hmac", "/orders", bearer(token)), "the token is malformed");
  });

  it("calls an empty bearer token malformed", async () => {
    expectInvalidToken(
      await attempt("hmac", "/orders", { Authorization: "Bearer " }),
      "the token is malformed",
    );
  });
});

describe("exp and nbf, with 5 seconds of tolerance", () => {
  const sign = (claims: JWTPayload) =>
    new SignJWT({ subscribe: ["orders"], ...claims })
      .setProtectedHeader({ alg: "HS256" })
      .sign(new TextEncoder().encode(HMAC_SECRET));

  it("refuses a token that expired a minute ago", async () => {
    expectInvalidToken(
      await attempt("hmac", "/orders", bearer(await sign({ exp: now() - 60 }))),
      "the token has expired",
    );
  });

  it("accepts a token that expired within the tolerance", async () => {
    const result = await attempt("hmac", "/orders", bearer(await sign({ exp: now() - 2 })));
    expect(result.status).toBe(200);
  });

  it("refuses a token that is valid only from a minute on", async () => {
    expectInvalidToken(
      await attempt("hmac", "/orders", bearer(await sign({ nbf: now() + 60 }))),
      "the token is not valid yet",
    );
  });

  it("accepts a token whose nbf is within the tolerance", async () => {
    const result = await attempt("hmac", "/orders", bearer(await sign({ nbf: now() + 2 })));
    expect(result.status).toBe(200);
  });

  it("accepts a token without exp", async () => {
    const result = await attempt("hmac", "/orders", bearer(await sign({})));
    expect(result.status).toBe(200);
  });
});

describe("public key files (subscriber_jwt_public_key)", () => {
  const routeOf: Record<Asymmetric, string> = { RS256: "rsa", ES256: "ec", EdDSA: "ed" };
  const algorithms = ["RS256", "ES256", "EdDSA"] as const;

  it.for(algorithms)("accepts %s signed with the route's key", async (alg, { expect }) => {
    const token = await signedToken({ subscribe: ["orders"] }, alg);
    const result = await attempt(routeOf[alg], "/orders", bearer(token));
    expect(result.status).toBe(200);
    expect(result.body).toMatch(connected("orders"));
  });

  it.for(algorithms)("refuses %s signed with another key of that type", async (alg) => {
    const token = await signedToken({ subscribe: ["orders"] }, alg, { stranger: true });
    expectInvalidToken(
      await attempt(routeOf[alg], "/orders", bearer(token)),
      "the token's signature does not verify",
    );
  });

  it.for(algorithms)("accepts nothing but %s on its route", async (alg) => {
    const others = algorithms.filter((other) => other !== alg);
    for (const other of others) {
      const token = await signedToken({ subscribe: ["orders"] }, other);
      expectInvalidToken(
        await attempt(routeOf[alg], "/orders", bearer(token)),
        "the token's algorithm is not accepted on this route",
      );
    }
    for (const hmac of [
      await hmacToken({ subscribe: ["orders"] }),
      unsignedToken({ subscribe: ["orders"] }),
    ]) {
      expectInvalidToken(
        await attempt(routeOf[alg], "/orders", bearer(hmac)),
        "the token's algorithm is not accepted on this route",
      );
    }
  });

  it("refuses an HS256 token whose secret is the RSA public key PEM (key confusion)", async () => {
    const pair = keys.get("RS256");
    if (!pair) throw new Error("no RSA key");
    const token = await hmacToken(
      { subscribe: ["orders"] },
      { secret: await exportSPKI(pair.publicKey) },
    );
    expectInvalidToken(
      await attempt("rsa", "/orders", bearer(token)),
      "the token's algorithm is not accepted on this route",
    );
  });
});

describe("a JWKS (subscriber_jwks_url)", () => {
  it.for(["RS256", "ES256", "EdDSA"] as const)(
    "accepts %s with a kid the JWKS holds",
    async (alg, { expect }) => {
      const token = await signedToken({ subscribe: ["orders"] }, alg, { kid: `kid-${alg}` });
      const result = await attempt("jwks", "/orders", bearer(token));
      expect(result.status).toBe(200);
      expect(result.body).toMatch(connected("orders"));
    },
  );

  it("fetched the JWKS from the URL", () => {
    expect(jwksRequests).toBeGreaterThan(0);
  });

  it("refuses a kid the JWKS does not hold", async () => {
    const token = await signedToken({ subscribe: ["orders"] }, "RS256", { kid: "kid-unknown" });
    expectInvalidToken(
      await attempt("jwks", "/orders", bearer(token)),
      "no key of the JWKS matches the token",
    );
  });

  it("refuses a token signed by another key under a known kid", async () => {
    const token = await signedToken({ subscribe: ["orders"] }, "ES256", {
      stranger: true,
      kid: "kid-ES256",
    });
    expectInvalidToken(
      await attempt("jwks", "/orders", bearer(token)),
      "the token's signature does not verify",
    );
  });

  // Not the token's fault: a retryable 503 (an EventSource gets its `unavailable` event and
  // tries again), not a 401 that blames the token.
  it("refuses a good token with a retryable 503 when the JWKS cannot be fetched", async () => {
    const token = await signedToken({ subscribe: ["orders"] }, "RS256", { kid: "kid-RS256" });
    const body =
      '{"error":"auth_unavailable","message":"tokens cannot be verified right now; retry shortly"}';
    const result = await attempt("jwks-down", "/orders", bearer(token));
    expect(result.status).toBe(503);
    expect(result.headers["retry-after"]).toBe("5");
    expect(result.headers["www-authenticate"]).toBeUndefined();
    expect(result.body).toBe(body);
    const eventSource = await attempt("jwks-down", "/orders", {
      ...bearer(token),
      Accept: "text/event-stream",
    });
    expect(eventSource.status).toBe(200);
    expect(eventSource.body).toBe(`event: unavailable\nretry: 2000\ndata: ${body}\n\n`);
  });

  it("refuses HMAC and unsigned tokens", async () => {
    for (const token of [
      await hmacToken({ subscribe: ["orders"] }),
      unsignedToken({ subscribe: ["orders"] }),
    ]) {
      expectInvalidToken(
        await attempt("jwks", "/orders", bearer(token)),
        "the token's algorithm is not accepted on this route",
      );
    }
  });
});

describe("the topics a token covers", () => {
  const allowed = async (claims: JWTPayload, path: string, ...topics: string[]) => {
    const result = await attempt("hmac", path, bearer(await hmacToken(claims)));
    expect(result.status).toBe(200);
    expect(result.body).toMatch(connected(...topics));
  };
  const forbidden = async (claims: JWTPayload, path: string, topic: string) => {
    expectForbidden(await attempt("hmac", path, bearer(await hmacToken(claims))), topic);
  };

  it("allows listed topics and refuses others with 403 forbidden_topic", async () => {
    await allowed(
      { subscribe: ["orders", "invoices"] },
      "/?topic=orders&topic=invoices",
      "orders",
      "invoices",
    );
    await forbidden({ subscribe: ["orders"] }, "/invoices", "invoices");
    await forbidden({ subscribe: ["orders"] }, "/?topic=orders&topic=invoices", "invoices");
    await forbidden({ subscribe: ["orders"] }, "/orders/a", "orders.a");
  });

  it("lets orders.* cover one more token, and orders.> one or more", async () => {
    await allowed({ subscribe: ["orders.*"] }, "/orders/a", "orders.a");
    await forbidden({ subscribe: ["orders.*"] }, "/orders/a/b", "orders.a.b");
    await forbidden({ subscribe: ["orders.*"] }, "/orders", "orders");
    await allowed({ subscribe: ["orders.>"] }, "/orders/a/b", "orders.a.b");
    await forbidden({ subscribe: ["orders.>"] }, "/orders", "orders");
  });

  it("lets a client ask for patterns its token covers, and no wider", async () => {
    await allowed({ subscribe: ["orders.>"] }, "/?topic=orders.*", "orders.*");
    await allowed({ subscribe: ["orders.>"] }, "/?topic=orders.>", "orders.>");
    await forbidden({ subscribe: ["orders.*"] }, "/?topic=orders.>", "orders.>");
    await forbidden({ subscribe: ["orders.>"] }, "/?topic=>", ">");
    await forbidden({ subscribe: ["orders.a"] }, "/?topic=orders.*", "orders.*");
  });

  it("reads Mercure's mercure.subscribe, where * means every topic", async () => {
    await allowed({ mercure: { subscribe: ["orders"] } }, "/orders", "orders");
    await forbidden({ mercure: { subscribe: ["orders"] } }, "/invoices", "invoices");
    await allowed({ mercure: { subscribe: ["*"] } }, "/?topic=a.b.c&topic=>", "a.b.c", ">");
  });

  it("grants nothing for a missing, non-list or non-topic claim", async () => {
    await forbidden({}, "/orders", "orders");
    await forbidden({ subscribe: "orders" }, "/orders", "orders");
    await forbidden({ subscribe: [42, { topic: "orders" }] }, "/orders", "orders");
    await forbidden(
      { mercure: { subscribe: ["https://example.com/orders/{id}"] } },
      "/orders",
      "orders",
    );
  });

  // Only Mercure's `mercure.subscribe: ["*"]` means everything; in `subscribe`, `*` is the
  // one-token pattern, as in `orders.*`.
  it("reads * in the subscribe claim as a one-token pattern, not as everything", async () => {
    await allowed({ subscribe: ["*"] }, "/orders", "orders");
    await forbidden({ subscribe: ["*"] }, "/orders/a", "orders.a");
  });

  it("still checks topic syntax first: a bad topic is a 400 before the token is read", async () => {
    const result = await attempt("hmac", "/?topic=a%20b");
    expect(result.status).toBe(400);
    expect(result.body).toBe(
      '{"error":"invalid_topic","message":"topic \\"a b\\" may not contain spaces"}',
    );
  });
});

describe("refusals come before any NATS work", () => {
  it("answers 401 and 403 on a route whose NATS cannot be reached, where a good token gets 503", async () => {
    const noToken = await attempt("dead-nats", "/orders");
    expect(noToken.status).toBe(401);
    expect(noToken.body).toBe(MISSING_TOKEN_BODY);
    const forbidden = await attempt(
      "dead-nats",
      "/invoices",
      bearer(await hmacToken({ subscribe: ["orders"] })),
    );
    expectForbidden(forbidden, "invoices");
    const good = await attempt(
      "dead-nats",
      "/orders",
      bearer(await hmacToken({ subscribe: ["orders"] })),
    );
    expect(good.status).toBe(503);
    expect(good.body).toBe(
      '{"error":"nats_unavailable","message":"NATS is not reachable right now; retry shortly"}',
    );
  });

  it("answers 401 and 403 on a route whose stream is missing, where a good token gets 503", async () => {
    const route = config.routes.get("missing-stream");
    if (!route) throw new Error("no route");
    await eventually(
      () => sidecar.hub.source(route).state.type === "stream_missing",
      "the source to find its stream missing",
    );
    expectInvalidToken(
      await attempt("missing-stream", "/orders", bearer("not-a-jwt")),
      "the token is malformed",
    );
    expectForbidden(
      await attempt(
        "missing-stream",
        "/invoices",
        bearer(await hmacToken({ subscribe: ["orders"] })),
      ),
      "invoices",
    );
    const good = await attempt(
      "missing-stream",
      "/orders",
      bearer(await hmacToken({ subscribe: ["orders"] })),
    );
    expect(good.status).toBe(503);
    expect(good.body).toBe(
      '{"error":"stream_not_found","message":"stream MISSING does not exist yet; retry shortly"}',
    );
  });

  it("takes no connection slot, waits for no source and starts no replay", async () => {
    const route = config.routes.get("hmac");
    if (!route) throw new Error("no route");
    const source = sidecar.hub.source(route);
    const whenReady = vi.spyOn(source, "whenReady");
    const attach = vi.spyOn(source, "attach");
    const acquire = vi.spyOn(sidecar.limits, "acquire");
    const consumersBefore = (await jsm.consumers.list("EVENTS").next()).length;

    expect((await attempt("hmac", "/orders?last-id=0")).status).toBe(401);
    expect((await attempt("hmac", "/orders?last-id=0", bearer("not-a-jwt"))).status).toBe(401);
    const forbidden = await attempt(
      "hmac",
      "/invoices?last-id=0",
      bearer(await hmacToken({ subscribe: ["orders"] })),
    );
    expectForbidden(forbidden, "invoices");

    expect(acquire).not.toHaveBeenCalled();
    expect(whenReady).not.toHaveBeenCalled();
    expect(attach).not.toHaveBeenCalled();
    expect(sidecar.limits.size).toBe(0);
    expect((await jsm.consumers.list("EVENTS").next()).length).toBe(consumersBefore);

    // The same request with a good token does reach the source.
    expect(
      (
        await attempt(
          "hmac",
          "/orders?last-id=0",
          bearer(await hmacToken({ subscribe: ["orders"] })),
        )
      ).status,
    ).toBe(200);
    expect(whenReady).toHaveBeenCalledTimes(1);
  });
});

describe("configuration of subscriber authorization", () => {
  const base = { stream_name: "EVENTS", nats_url: "nats://127.0.0.1:1" };
  const configError = (options: RouteOptions, build = false): ConfigError => {
    try {
      const resolved = resolveConfig({ routes: { r: { ...base, ...options } } });
      if (build) {
        const built = createSidecar(resolved, silentLogger);
        void built.close();
      }
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return error as ConfigError;
    }
    throw new Error("expected a ConfigError");
  };

  it.each<[string, RouteOptions, string, string]>([
    [
      "two key sources",
      { subscriber_jwt_key: HMAC_SECRET, subscriber_jwks_url: "https://id.example.com/jwks.json" },
      'route "r": choose one way to verify subscriber JWTs, not subscriber_jwt_key and subscriber_jwks_url',
      "subscriber_jwks_url",
    ],
    [
      "three key sources",
      {
        subscriber_jwt_key: HMAC_SECRET,
        subscriber_jwt_public_key: "/etc/nuts/key.pem",
        subscriber_jwks_url: "https://id.example.com/jwks.json",
      },
      'route "r": choose one way to verify subscriber JWTs, not subscriber_jwt_key and subscriber_jwt_public_key and subscriber_jwks_url',
      "subscriber_jwt_public_key",
    ],
    [
      "a cookie without a key",
      { subscriber_jwt_cookie: "token" },
      'route "r": subscriber_jwt_cookie needs a key: set subscriber_jwt_key, subscriber_jwt_public_key or subscriber_jwks_url',
      "subscriber_jwt_cookie",
    ],
    [
      "the query switch without a key",
      { subscriber_jwt_query: true },
      'route "r": subscriber_jwt_query needs a key: set subscriber_jwt_key, subscriber_jwt_public_key or subscriber_jwks_url',
      "subscriber_jwt_query",
    ],
    [
      "an HMAC key of 31 bytes",
      { subscriber_jwt_key: "x".repeat(31) },
      'route "r": subscriber_jwt_key must be at least 32 bytes (256 bits) for HS256',
      "subscriber_jwt_key",
    ],
    [
      "a JWKS URL that is not http(s)",
      { subscriber_jwks_url: "ftp://id.example.com/jwks.json" },
      'route "r": subscriber_jwks_url "ftp://id.example.com/jwks.json" must be an http(s) URL',
      "subscriber_jwks_url",
    ],
    [
      "a cookie name with a space",
      { subscriber_jwt_key: HMAC_SECRET, subscriber_jwt_cookie: "my cookie" },
      'route "r": subscriber_jwt_cookie "my cookie" is not a valid cookie name',
      "subscriber_jwt_cookie",
    ],
    [
      "a query switch that is not a boolean",
      { subscriber_jwt_key: HMAC_SECRET, subscriber_jwt_query: "yes" as unknown as boolean },
      'route "r": subscriber_jwt_query must be true or false, got "yes"',
      "subscriber_jwt_query",
    ],
  ])("%s is a ConfigError", (_, options, message, key) => {
    const error = configError(options);
    expect(error.message).toBe(message);
    expect(error.key).toBe(key);
    expect(error.route).toBe("r");
  });

  it("takes an HMAC key of exactly 32 bytes, counted in bytes", () => {
    const route = resolveConfig({
      routes: { r: { ...base, subscriber_jwt_key: "é".repeat(16) } },
    }).routes.get("r");
    expect(route?.subscriberAuth).toEqual({
      key: { type: "hmac", secret: "é".repeat(16) },
      cookie: "nutsAuthorization",
      allowQuery: false,
    });
    expect(configError({ subscriber_jwt_key: "é".repeat(15) }).key).toBe("subscriber_jwt_key");
  });

  it("leaves authorization off without a key", () => {
    expect(resolveConfig({ routes: { r: base } }).routes.get("r")?.subscriberAuth).toBeNull();
  });

  it("refuses a public key file that cannot be read, when the sidecar is created", () => {
    const missing = join(keyDir, "missing.pem");
    const error = configError({ subscriber_jwt_public_key: missing }, true);
    expect(error.message).toBe(
      `route "r": subscriber_jwt_public_key ${missing} is not a readable PEM public key (ENOENT)`,
    );
    expect(error.key).toBe("subscriber_jwt_public_key");
  });

  it("refuses a file that holds no PEM key, when the sidecar is created", () => {
    const file = join(keyDir, "not-a-key.pem");
    const error = configError({ subscriber_jwt_public_key: file }, true);
    expect(error.message).toMatch(
      new RegExp(
        `^route "r": subscriber_jwt_public_key ${escapeRegExp(file)} is not a readable PEM public key \\(.+\\)$`,
      ),
    );
  });

  it("refuses a key of a curve other than P-256, when the sidecar is created", () => {
    const error = configError({ subscriber_jwt_public_key: join(keyDir, "p384.pem") }, true);
    expect(error.message).toBe(
      'route "r": subscriber_jwt_public_key must be an RSA, P-256 or Ed25519 key, got ec',
    );
  });

  // It passes a bare http(s) check, so it must be parsed too (else `new URL()` would throw a
  // TypeError from createSidecar).
  it("refuses a JWKS URL that does not parse as a ConfigError", () => {
    const error = configError({ subscriber_jwks_url: "http://[::1" }, true);
    expect(error.message).toBe(
      'route "r": subscriber_jwks_url "http://[::1" must be an http(s) URL',
    );
    expect(error.key).toBe("subscriber_jwks_url");
  });
});
