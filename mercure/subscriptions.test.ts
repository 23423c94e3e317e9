/**
 * Subscription events and the subscriptions API against a real nats-server, with two sidecars
 * of one hub: a subscriber on one node is listed on the other, its events reach watchers on
 * either, it is gone when it leaves, and a dead node's records age out.
 */
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, startHarness, type TestSidecar } from "../testing/sidecar-harness.js";
import { eventually, fetchAll, openSse } from "../testing/sse-client.js";

const PUBLISHER_KEY = "publisher-secret-publisher-secret-0123456789";
const SUBSCRIBER_KEY = "subscriber-secret-subscriber-secret-0123456789";
const HUB = "/.well-known/mercure";
const BOOK = "https://example.com/books/1";
const ESCAPED_BOOK = "https%3A%2F%2Fexample.com%2Fbooks%2F1";

let harness: Harness;
let first: TestSidecar;
let second: TestSidecar;

async function token(mercure: unknown, key = SUBSCRIBER_KEY): Promise<string> {
  return new SignJWT({ mercure })
    .setProtectedHeader({ alg: "HS256" })
    .sign(new TextEncoder().encode(key));
}

/** A token that may read every subscription (and its events). */
const adminToken = () => token({ subscribe: [`${HUB}/subscriptions{/topic}{/subscriber}`] });

async function get(sidecar: TestSidecar, path: string, bearer?: string) {
  const result = await fetchAll({
    port: sidecar.port,
    path,
    headers: {
      "X-Nuts-Mercure": "hub",
      ...(bearer === undefined ? {} : { Authorization: `Bearer ${bearer}` }),
    },
  });
  return { ...result, json: () => JSON.parse(result.body) as Record<string, unknown> };
}

async function publish(sidecar: TestSidecar, topic: string): Promise<string> {
  const body = new URLSearchParams({ topic, data: "x" }).toString();
  const result = await fetchAll({
    port: sidecar.port,
    path: HUB,
    method: "POST",
    body,
    headers: {
      "X-Nuts-Mercure": "hub",
      "Content-Type": "application/x-www-form-urlencoded",
      "Content-Length": String(Buffer.byteLength(body)),
      Authorization: `Bearer ${await token({ publish: ["*"] }, PUBLISHER_KEY)}`,
    },
  });
  expect(result.status).toBe(200);
  return result.body;
}

/** The subscriptions listed by a node, of one topic (escaped in the path). */
async function listed(sidecar: TestSidecar, topic: string): Promise<Record<string, unknown>[]> {
  const path = `${HUB}/subscriptions/${encodeURIComponent(topic)}`;
  const response = await get(sidecar, path, await adminToken());
  return response.json().subscriptions as Record<string, unknown>[];
}

beforeAll(async () => {
  harness = await startHarness({ streams: [{ name: "MERCURE", subjects: ["mercure.>"] }] });
  const options = {
    routes: {},
    mercure: {
      hub: {
        nats_url: harness.nats.url,
        stream: "MERCURE",
        publisher_jwt: { key: PUBLISHER_KEY },
        subscriber_jwt: { key: SUBSCRIBER_KEY },
        anonymous: true,
        heartbeat: 0,
        subscriptions: true,
        subscriptions_ttl: 1,
      },
    },
  };
  first = await harness.startSidecar(options);
  second = await harness.startSidecar(options);
});

afterAll(() => harness?.stop());

describe("subscriptions across nodes", () => {
  it("lists a subscriber of node A on node B, sends its events to watchers, and drops it when it leaves", async () => {
    const watcher = await openSse({
      port: second.port,
      path: `${HUB}?topic=${encodeURIComponent(`${HUB}/subscriptions/${ESCAPED_BOOK}/{subscriber}`)}`,
      headers: {
        "X-Nuts-Mercure": "hub",
        Authorization: `Bearer ${await token({ subscribe: [`${HUB}/subscriptions/{topic}/{subscriber}`] })}`,
      },
    });
    await watcher.waitFor(() => watcher.text === ":\n", "the watcher's opening comment");
    const subscriber = await openSse({
      port: first.port,
      path: `${HUB}?topic=${encodeURIComponent(BOOK)}`,
      headers: {
        "X-Nuts-Mercure": "hub",
        Authorization: `Bearer ${await token({ subscribe: [], payload: { user: "alice" } })}`,
      },
    });
    await watcher.waitForEvents(1);
    const joined = JSON.parse(watcher.events[0]?.data ?? "") as Record<string, unknown>;
    const id = joined.subscriber as string;
    expect(id).toMatch(/^urn:uuid:[0-9a-f-]{36}$/);
    const subscription = {
      id: `${HUB}/subscriptions/${ESCAPED_BOOK}/${encodeURIComponent(id)}`,
      type: "Subscription",
      subscriber: id,
      topic: BOOK,
      active: true,
      payload: { user: "alice" },
    };
    expect(joined).toEqual({ "@context": "https://mercure.rocks/", ...subscription });

    await eventually(async () => (await listed(second, BOOK)).length === 1, "B to list A's one");
    const ofTopic = await get(second, `${HUB}/subscriptions/${ESCAPED_BOOK}`, await adminToken());
    expect(ofTopic.status).toBe(200);
    expect(ofTopic.headers["content-type"]).toBe("application/ld+json");
    const lastEventID = ofTopic.json().lastEventID as string;
    expect(ofTopic.json()).toEqual({
      "@context": "https://mercure.rocks/",
      id: `${HUB}/subscriptions/${ESCAPED_BOOK}`,
      type: "Subscriptions",
      lastEventID,
      subscriptions: [subscription],
    });
    expect(ofTopic.headers.etag).toBe(`"${lastEventID}"`);
    // The last update in the hub's stream is a subscription event the watcher gets: the
    // subscriber's join, or the watcher's own when the hub published that one later.
    await watcher.waitFor(
      () => watcher.events.some((event) => event.id === lastEventID),
      `the watcher to have the event ${lastEventID}`,
    );
    // The whole list has the watcher's own subscription too.
    const all = (await get(second, `${HUB}/subscriptions`, await adminToken())).json();
    expect(all.id).toBe(`${HUB}/subscriptions`);
    expect((all.subscriptions as { topic: string }[]).map((each) => each.topic).sort()).toEqual([
      `${HUB}/subscriptions/${ESCAPED_BOOK}/{subscriber}`,
      BOOK,
    ]);
    const other = await get(second, `${HUB}/subscriptions/other`, await adminToken());
    expect(other.json().subscriptions).toEqual([]);
    const one = await get(second, subscription.id, await adminToken());
    expect(one.json()).toEqual({
      "@context": "https://mercure.rocks/",
      ...subscription,
      lastEventID,
    });

    subscriber.abort();
    await watcher.waitForEvents(2);
    expect(JSON.parse(watcher.events[1]?.data ?? "")).toEqual({
      "@context": "https://mercure.rocks/",
      ...subscription,
      active: false,
    });
    await eventually(async () => (await listed(second, BOOK)).length === 0, "B to drop it");
    expect((await get(second, subscription.id, await adminToken())).status).toBe(404);
    watcher.abort();
  });

  it("drops a dead node's subscribers once their records age out (subscriptions_ttl)", async () => {
    // A record as a node writes it, from a node that then dies and never refreshes it.
    const record = {
      id: `${HUB}/subscriptions/dead/urn%3Auuid%3Adead`,
      type: "Subscription",
      subscriber: "urn:uuid:dead",
      topic: "dead",
      active: true,
    };
    const subject = `nuts_mercure_subscriptions.MERCURE.${Buffer.from("dead").toString("base64url")}.${Buffer.from("urn:uuid:dead").toString("base64url")}`;
    expect(await listed(first, "dead")).toEqual([]); // makes the records' stream
    await harness.js.publish(subject, JSON.stringify(record));
    const published = Date.now();
    expect(await listed(first, "dead")).toEqual([record]);
    await eventually(
      async () => (await listed(first, "dead")).length === 0,
      "the record to age out",
      5_000,
    );
    expect(Date.now() - published).toBeGreaterThanOrEqual(500);
  });

  it("keeps a live subscriber listed past the TTL: its node refreshes the record", async () => {
    const subscriber = await openSse({
      port: first.port,
      path: `${HUB}?topic=live`,
      headers: { "X-Nuts-Mercure": "hub" },
    });
    await eventually(async () => (await listed(second, "live")).length === 1, "the subscriber");
    const since = Date.now();
    await eventually(() => Date.now() - since > 1_500, "one and a half TTLs", 5_000);
    expect((await listed(second, "live")).map((each) => each.topic)).toEqual(["live"]);
    subscriber.abort();
    await eventually(async () => (await listed(second, "live")).length === 0, "it to leave");
  });
});

describe("the subscriptions API's authorization", () => {
  it("needs a subscriber token whose mercure.subscribe matches the path", async () => {
    const none = await get(first, `${HUB}/subscriptions`);
    expect(none.status).toBe(401);
    expect(none.json().error).toBe("unauthorized");
    const narrow = await token({ subscribe: [`${HUB}/subscriptions/${ESCAPED_BOOK}`] });
    const forbidden = await get(first, `${HUB}/subscriptions`, narrow);
    expect(forbidden.status).toBe(403);
    expect(forbidden.json()).toEqual({
      error: "forbidden",
      message: `the token's mercure.subscribe does not match ${HUB}/subscriptions`,
    });
    expect((await get(first, `${HUB}/subscriptions/${ESCAPED_BOOK}`, narrow)).status).toBe(200);
    const forged = await token({ subscribe: ["*"] }, PUBLISHER_KEY);
    expect((await get(first, `${HUB}/subscriptions`, forged)).status).toBe(401);
  });

  it("is not there without the subscriptions option's hub path", async () => {
    expect((await get(first, `${HUB}/subscriptions/a/b/c`, await adminToken())).status).toBe(404);
  });

  it("names the hub's last update in lastEventID", async () => {
    const id = await publish(first, "https://example.com/last");
    const response = await get(second, `${HUB}/subscriptions`, await adminToken());
    expect(response.json().lastEventID).toBe(id);
  });
});
