/**
 * The Mercure hub against a real nats-server: publish through one sidecar, subscribe on it and
 * on another, resume by any issued id after a restart, and every authorization rule.
 */
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, startHarness, type TestSidecar } from "../testing/sidecar-harness.js";
import { fetchAll, openSse, type SseClient } from "../testing/sse-client.js";

const PUBLISHER_KEY = "publisher-secret-publisher-secret-0123456789";
const SUBSCRIBER_KEY = "subscriber-secret-subscriber-secret-0123456789";
const HUB = "/.well-known/mercure";
const STREAM = { name: "MERCURE", subjects: ["mercure.>"] };

let harness: Harness;
let first: TestSidecar;
let second: TestSidecar;

function hubOptions(harness: Harness) {
  return {
    mercure: {
      hub: {
        nats_url: harness.nats.url,
        stream: "MERCURE",
        publisher_jwt: { key: PUBLISHER_KEY },
        subscriber_jwt: { key: SUBSCRIBER_KEY },
        anonymous: true,
        heartbeat: 0,
      },
    },
    routes: {},
  };
}

async function token(key: string, mercure: unknown, options: { alg?: string; exp?: number } = {}) {
  const jwt = new SignJWT({ mercure }).setProtectedHeader({ alg: options.alg ?? "HS256" });
  if (options.exp !== undefined) jwt.setExpirationTime(options.exp);
  return jwt.sign(new TextEncoder().encode(key));
}

const publisherToken = () => token(PUBLISHER_KEY, { publish: ["*"] });

async function publish(
  sidecar: TestSidecar,
  fields: [string, string][],
  authorization?: string,
): Promise<{ status: number; body: string }> {
  const body = new URLSearchParams(fields).toString();
  const result = await fetchAll({
    port: sidecar.port,
    path: HUB,
    method: "POST",
    body,
    headers: {
      "X-Nuts-Mercure": "hub",
      "Content-Type": "application/x-www-form-urlencoded",
      "Content-Length": String(Buffer.byteLength(body)),
      Authorization: authorization ?? `Bearer ${await publisherToken()}`,
    },
  });
  return { status: result.status, body: result.body };
}

function subscribe(
  sidecar: TestSidecar,
  query: string,
  headers: Record<string, string> = {},
): Promise<SseClient> {
  return openSse({
    port: sidecar.port,
    path: `${HUB}?${query}`,
    headers: { "X-Nuts-Mercure": "hub", ...headers },
  });
}

const topic = (value: string) => `topic=${encodeURIComponent(value)}`;

beforeAll(async () => {
  harness = await startHarness({ streams: [STREAM] });
  first = await harness.startSidecar(hubOptions(harness));
  second = await harness.startSidecar(hubOptions(harness));
});

afterAll(() => harness?.stop());

describe("publish and subscribe", () => {
  it("delivers an update with its id, type, retry and multi-line data as exact SSE bytes", async () => {
    const client = await subscribe(first, topic("https://example.com/books/1"));
    expect(client.status).toBe(200);
    expect(client.headers["content-type"]).toBe("text/event-stream");
    await client.waitFor(() => client.text === ":\n", "the opening comment");
    const published = await publish(first, [
      ["topic", "https://example.com/books/1"],
      ["data", "line one\nline two"],
      ["id", "book-1-v1"],
      ["type", "book"],
      ["retry", "1500"],
    ]);
    expect(published).toEqual({ status: 200, body: "book-1-v1" });
    await client.waitFor(() => client.text.includes("line two\n\n"), "the update");
    expect(client.text).toBe(
      ":\nid: book-1-v1\nevent: book\nretry: 1500\ndata: line one\ndata: line two\n\n",
    );
    client.abort();
  });

  it("generates a urn:uuid id, and delivers through another node", async () => {
    const client = await subscribe(second, topic("https://example.com/books/2"));
    await client.waitFor(() => client.text === ":\n", "the opening comment");
    const published = await publish(first, [
      ["topic", "https://example.com/books/2"],
      ["data", "{}"],
    ]);
    expect(published.status).toBe(200);
    expect(published.body).toMatch(/^urn:uuid:[0-9a-f-]{36}$/);
    await client.waitForEvents(1);
    expect(client.events[0]?.id).toBe(published.body);
    expect(client.events[0]?.data).toBe("{}");
    client.abort();
  });

  it("matches several topics and selectors once each, URI templates, *, and nothing else", async () => {
    const both = await subscribe(
      first,
      `${topic("https://example.com/a")}&${topic("https://example.com/b")}`,
    );
    const template = await subscribe(first, topic("https://example.com/users/{id}"));
    const all = await subscribe(first, topic("*"));
    const other = await subscribe(
      first,
      `${topic("https://example.com/c")}&match=${encodeURIComponent("https://example.com/users/{id}")}`,
    );
    for (const client of [both, template, all, other]) {
      await client.waitFor(() => client.text === ":\n", "the opening comment");
    }
    await publish(first, [
      ["topic", "https://example.com/a"],
      ["topic", "https://example.com/b"],
      ["data", "ab"],
      ["id", "ab-1"],
    ]);
    await publish(first, [
      ["topic", "https://example.com/users/42"],
      ["data", "user"],
      ["id", "user-42"],
    ]);
    await publish(first, [
      ["topic", "https://example.com/users/42/orders"],
      ["data", "orders"],
      ["id", "orders-42"],
    ]);
    await all.waitForEvents(3);
    expect(all.events.map((event) => event.id)).toEqual(["ab-1", "user-42", "orders-42"]);
    await template.waitForEvents(1);
    expect(both.events.map((event) => event.id)).toEqual(["ab-1"]);
    expect(template.events.map((event) => event.id)).toEqual(["user-42"]);
    // The exact matcher takes the template text literally.
    expect(other.events).toEqual([]);
    for (const client of [both, template, all, other]) client.abort();
  });
});

describe("private updates", () => {
  it("reach only subscribers whose token's mercure.subscribe matches one of their topics", async () => {
    const allowed = await token(SUBSCRIBER_KEY, { subscribe: ["https://example.com/secret/{id}"] });
    const other = await token(SUBSCRIBER_KEY, { subscribe: ["https://example.com/other"] });
    const authorized = await subscribe(first, topic("https://example.com/secret/1"), {
      Authorization: `Bearer ${allowed}`,
    });
    const wrongClaim = await subscribe(first, topic("https://example.com/secret/1"), {
      Authorization: `Bearer ${other}`,
    });
    const anonymous = await subscribe(first, topic("https://example.com/secret/1"));
    const cookie = await subscribe(first, topic("https://example.com/secret/1"), {
      Cookie: `mercureAuthorization=${allowed}`,
    });
    for (const client of [authorized, wrongClaim, anonymous, cookie]) {
      expect(client.status).toBe(200);
      await client.waitFor(() => client.text === ":\n", "the opening comment");
    }
    await publish(first, [
      ["topic", "https://example.com/secret/1"],
      ["data", "private"],
      ["private", "on"],
      ["id", "secret-1"],
    ]);
    await publish(first, [
      ["topic", "https://example.com/secret/1"],
      ["data", "public"],
      ["id", "public-1"],
    ]);
    await authorized.waitForEvents(2);
    await cookie.waitForEvents(2);
    await anonymous.waitForEvents(1);
    await wrongClaim.waitForEvents(1);
    expect(authorized.events.map((e) => e.id)).toEqual(["secret-1", "public-1"]);
    expect(cookie.events.map((e) => e.id)).toEqual(["secret-1", "public-1"]);
    expect(anonymous.events.map((e) => e.id)).toEqual(["public-1"]);
    expect(wrongClaim.events.map((e) => e.id)).toEqual(["public-1"]);
    expect(anonymous.text).not.toContain("private");
    for (const client of [authorized, wrongClaim, anonymous, cookie]) client.abort();
  });
});

describe("resuming", () => {
  it("resumes after a publisher-chosen id on another node, and after a restart", async () => {
    const t = "https://example.com/resume";
    for (const n of [1, 2, 3]) {
      await publish(first, [
        ["topic", t],
        ["data", `r${n}`],
        ["id", `resume-${n}`],
      ]);
    }
    const other = await subscribe(second, topic(t), { "Last-Event-ID": "resume-1" });
    await other.waitForEvents(2);
    expect(other.headers["last-event-id"]).toBe("resume-1");
    expect(other.headers["mercure-last-event-id"]).toBe("resume-1");
    expect(other.events.map((e) => e.data)).toEqual(["r2", "r3"]);
    other.abort();
    const restarted = await harness.startSidecar(hubOptions(harness));
    const query = await subscribe(restarted, `${topic(t)}&lastEventID=resume-2`);
    await query.waitForEvents(1);
    expect(query.events.map((e) => e.data)).toEqual(["r3"]);
    query.abort();
  });

  it("replays everything for earliest and for an unknown id, and says so", async () => {
    const t = "https://example.com/history";
    await publish(first, [
      ["topic", t],
      ["data", "h1"],
      ["id", "history-1"],
    ]);
    await publish(first, [
      ["topic", t],
      ["data", "h2"],
      ["id", "history-2"],
    ]);
    for (const cursor of ["earliest", "never-issued"]) {
      const client = await subscribe(first, `${topic(t)}&last_event_id=${cursor}`);
      await client.waitForEvents(2);
      expect(client.headers["last-event-id"]).toBe("earliest");
      expect(client.events.map((e) => e.data)).toEqual(["h1", "h2"]);
      client.abort();
    }
  });
});

describe("refusals", () => {
  const h = { "X-Nuts-Mercure": "hub" };

  it("refuses bad subscriber tokens with 401", async () => {
    const expired = await token(
      SUBSCRIBER_KEY,
      { subscribe: ["*"] },
      { exp: Math.floor(Date.now() / 1000) - 60 },
    );
    const forged = await token("not-the-key-not-the-key-not-the-key-0000", { subscribe: ["*"] });
    const header = Buffer.from(JSON.stringify({ alg: "none", typ: "JWT" })).toString("base64url");
    const payload = Buffer.from(JSON.stringify({ mercure: { subscribe: ["*"] } })).toString(
      "base64url",
    );
    for (const bad of [expired, forged, `${header}.${payload}.`, "garbage", "x".repeat(20_000)]) {
      const result = await fetchAll({
        port: first.port,
        path: `${HUB}?topic=a`,
        headers: { ...h, Authorization: `Bearer ${bad}` },
      });
      expect(result.status).toBe(401);
      expect(JSON.parse(result.body).error).toBe("unauthorized");
    }
  });

  it("refuses publishers without a valid token or with topics outside their claim", async () => {
    expect((await publish(first, [["topic", "a"]], "Bearer nope")).status).toBe(401);
    const subscriberToken = await token(SUBSCRIBER_KEY, { publish: ["*"] });
    expect((await publish(first, [["topic", "a"]], `Bearer ${subscriberToken}`)).status).toBe(401);
    const narrow = await token(PUBLISHER_KEY, { publish: ["https://example.com/mine/{id}"] });
    expect(
      (await publish(first, [["topic", "https://example.com/mine/1"]], `Bearer ${narrow}`)).status,
    ).toBe(200);
    const refused = await publish(
      first,
      [
        ["topic", "https://example.com/mine/1"],
        ["topic", "https://example.com/theirs"],
      ],
      `Bearer ${narrow}`,
    );
    expect(refused.status).toBe(403);
    const noClaim = await token(PUBLISHER_KEY, { subscribe: ["*"] });
    expect((await publish(first, [["topic", "a"]], `Bearer ${noClaim}`)).status).toBe(403);
  });

  it("answers bad fields with 400, a reused id with 409, oversized input with 413", async () => {
    const cases: [[string, string][], number, string][] = [
      [[["data", "x"]], 400, "missing_topic"],
      [[["topic", "a\nb"]], 400, "invalid_topic"],
      [
        [
          ["topic", "a"],
          ["id", "#frag"],
        ],
        400,
        "invalid_id",
      ],
      [
        [
          ["topic", "a"],
          ["id", "earliest"],
        ],
        400,
        "invalid_id",
      ],
      [
        [
          ["topic", "a"],
          ["id", "a\u0000b"],
        ],
        400,
        "invalid_id",
      ],
      [
        [
          ["topic", "a"],
          ["type", "mercure"],
        ],
        400,
        "invalid_type",
      ],
      [
        [
          ["topic", "a"],
          ["type", "a\r\nb"],
        ],
        400,
        "invalid_type",
      ],
      [
        [
          ["topic", "a"],
          ["retry", "-1"],
        ],
        400,
        "invalid_retry",
      ],
      [
        [
          ["topic", "a"],
          ["retry", "1e3"],
        ],
        400,
        "invalid_retry",
      ],
      [[["topic", "x".repeat(3000)]], 413, "too_large"],
      [
        Array.from({ length: 65 }, (_, i) => ["topic", `t${i}`] as [string, string]),
        413,
        "too_large",
      ],
      [
        [
          ["topic", "a"],
          ["data", "x".repeat(1_100_000)],
        ],
        413,
        "too_large",
      ],
    ];
    for (const [fields, status, error] of cases) {
      const result = await publish(first, fields);
      expect({ status: result.status, error: JSON.parse(result.body).error }).toEqual({
        status,
        error,
      });
    }
    expect(
      (
        await publish(first, [
          ["topic", "a"],
          ["id", "unique-once"],
        ])
      ).status,
    ).toBe(200);
    const again = await publish(first, [
      ["topic", "b"],
      ["id", "unique-once"],
    ]);
    expect({ status: again.status, error: JSON.parse(again.body).error }).toEqual({
      status: 409,
      error: "id_in_use",
    });
  });

  it("refuses bad selectors with 400 and survives selector bombs", async () => {
    const bad = [
      "",
      "match_urlpattern=x",
      `topic=${encodeURIComponent("{unclosed")}`,
      `topic=${encodeURIComponent("a\u0001b")}`,
      Array.from({ length: 65 }, (_, i) => `topic=t${i}`).join("&"),
      `topic=${encodeURIComponent("{a}".repeat(33))}`,
    ];
    for (const query of bad) {
      const result = await fetchAll({ port: first.port, path: `${HUB}?${query}`, headers: h });
      expect(result.status).toBe(400);
    }
    // The worst template we accept against a long topic: answered at once.
    const bomb = `${"{+a}/".repeat(8)}!`;
    const client = await subscribe(first, topic(bomb));
    await client.waitFor(() => client.text === ":\n", "the opening comment");
    const started = Date.now();
    const published = await publish(first, [
      ["topic", `https://example.com/${"a/".repeat(1000)}`],
      ["data", "bomb"],
    ]);
    expect(published.status).toBe(200);
    const probe = await subscribe(first, topic("*"), { "Last-Event-ID": published.body });
    expect(probe.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(2_000);
    client.abort();
    probe.abort();
  });
});
