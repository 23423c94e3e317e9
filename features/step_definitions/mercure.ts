/**
 * Steps for the Mercure hub through the whole stack: `nuts run` with a Caddyfile written for
 * Mercure's hub, publishers posting forms, EventSource-like clients and a real Chromium.
 */
import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { After, type DataTable, Given, Then, When } from "@cucumber/cucumber";
import { SignJWT } from "jose";
import { launchChromium } from "../support/browser.js";
import { MercureClient } from "../support/mercure-client.js";
import { REPO_ROOT } from "../support/nuts-run.js";
import { DEFAULT_TIMEOUT_MS, eventually } from "../support/wait.js";
import type { NutsWorld } from "../support/world.js";

const PUBLISHER_KEY = "bdd-publisher-key-bdd-publisher-key-0123";
const SUBSCRIBER_KEY = "bdd-subscriber-key-bdd-subscriber-key-01";
export const HUB = "/.well-known/mercure";

interface Published {
  status: number;
  body: string;
}

const publishedBy = new WeakMap<NutsWorld, Published[]>();
const subscribersOf = new WeakMap<NutsWorld, Map<string, MercureClient>>();

function openSubscriber(
  world: NutsWorld,
  name: string,
  query: string,
  headers: Record<string, string> = {},
) {
  const clients = subscribersOf.get(world) ?? new Map<string, MercureClient>();
  subscribersOf.set(world, clients);
  if (clients.has(name)) throw new Error(`there is already a subscriber named ${name}`);
  const client = new MercureClient(world.url(`${HUB}?${query}`), headers);
  clients.set(name, client);
  return client;
}

function subscriber(world: NutsWorld, name: string): MercureClient {
  const client = subscribersOf.get(world)?.get(name);
  if (!client) throw new Error(`no subscriber named ${name}`);
  return client;
}

After(function (this: NutsWorld) {
  for (const client of subscribersOf.get(this)?.values() ?? []) client.close();
});

function sign(key: string, mercure: unknown): Promise<string> {
  return new SignJWT({ mercure })
    .setProtectedHeader({ alg: "HS256" })
    .sign(new TextEncoder().encode(key));
}

Given(
  "nuts run serves the Mercure example {string}",
  async function (this: NutsWorld, example: string) {
    await this.startNuts("Caddyfile", await readFile(join(REPO_ROOT, example), "utf8"), {
      extraEnv: (port) => ({
        NUTS_HTTP_PORT: String(port),
        MERCURE_PUBLISHER_JWT_KEY: PUBLISHER_KEY,
        MERCURE_SUBSCRIBER_JWT_KEY: SUBSCRIBER_KEY,
      }),
    });
  },
);

When(
  "a subscriber {string} subscribes to the hub with {string}",
  async function (this: NutsWorld, name: string, query: string) {
    const client = openSubscriber(this, name, query);
    await client.waitForOpen();
  },
);

When(
  "a subscriber {string} with a token for {string} subscribes to the hub with {string}",
  async function (this: NutsWorld, name: string, claim: string, query: string) {
    const token = await sign(SUBSCRIBER_KEY, { subscribe: [claim] });
    const client = openSubscriber(this, name, query, { Authorization: `Bearer ${token}` });
    await client.waitForOpen();
  },
);

When(
  "a subscriber {string} resumes after {string} with {string}",
  async function (this: NutsWorld, name: string, lastEventId: string, query: string) {
    const client = openSubscriber(this, name, query, { "Last-Event-ID": lastEventId });
    await client.waitForOpen();
  },
);

When("a publisher posts to the hub:", async function (this: NutsWorld, table: DataTable) {
  await post(
    this,
    table.raw() as [string, string][],
    `Bearer ${await sign(PUBLISHER_KEY, { publish: ["*"] })}`,
  );
});

When(
  "a publisher with the token {string} posts to the hub:",
  async function (this: NutsWorld, token: string, table: DataTable) {
    await post(this, table.raw() as [string, string][], `Bearer ${token}`);
  },
);

async function post(world: NutsWorld, fields: [string, string][], authorization: string) {
  const response = await fetch(world.url(HUB), {
    method: "POST",
    headers: { Authorization: authorization },
    body: new URLSearchParams(
      fields.map(([name, value]) => [name, value.replaceAll("\\n", "\n")] as [string, string]),
    ),
    signal: AbortSignal.timeout(DEFAULT_TIMEOUT_MS),
  });
  const results = publishedBy.get(world) ?? [];
  results.push({ status: response.status, body: await response.text() });
  publishedBy.set(world, results);
}

Then(
  "the hub answers {int} with the body {string}",
  function (this: NutsWorld, status: number, body: string) {
    const last = publishedBy.get(this)?.at(-1);
    deepStrictEqual(last, { status, body });
  },
);

Then(
  "the hub answers {int} with the error {string}",
  function (this: NutsWorld, status: number, error: string) {
    const last = publishedBy.get(this)?.at(-1);
    deepStrictEqual(
      { status: last?.status, error: JSON.parse(last?.body ?? "{}").error },
      { status, error },
    );
  },
);

Then(
  "{string} receives exactly these events:",
  async function (this: NutsWorld, name: string, table: DataTable) {
    const expected = table.hashes().map((row) => ({
      id: row.id,
      event: row.event === "" ? undefined : row.event,
      data: row.data?.replaceAll("\\n", "\n"),
    }));
    const client = subscriber(this, name);
    await client.waitForEvents(expected.length);
    const got = client.events.map((event) => ({
      id: event.id,
      event: event.type === "message" ? undefined : event.type,
      data: event.data,
    }));
    deepStrictEqual(got, expected);
  },
);

Then("{string} receives nothing", async function (this: NutsWorld, name: string) {
  // Everything published before was delivered to the subscribers that wanted it; a public
  // update to "*" after it is this subscriber's barrier.
  deepStrictEqual(subscriber(this, name).events, []);
});

Then(
  "the response to {string} says replay started after {string}",
  function (this: NutsWorld, name: string, id: string) {
    strictEqual(subscriber(this, name).headers?.get("mercure-last-event-id"), id);
    strictEqual(subscriber(this, name).headers?.get("last-event-id"), id);
  },
);

When("a visitor opens the hub's page in Chromium", async function (this: NutsWorld) {
  this.browser = await launchChromium();
  this.page = await this.browser.newPage();
  this.page.setDefaultTimeout(DEFAULT_TIMEOUT_MS);
  await this.page.goto(this.url(`${HUB}/ui/`));
  strictEqual(await this.page.textContent("h1"), "Mercure hub on NATS");
});

Then(
  "the browser's EventSources receive exactly what their selectors and tokens allow",
  async function (this: NutsWorld) {
    const page = this.page;
    if (!page) throw new Error("open the hub's page first");
    const subscriberToken = await sign(SUBSCRIBER_KEY, {
      subscribe: ["https://example.com/books/{id}"],
    });
    const publisherToken = await sign(PUBLISHER_KEY, { publish: ["*"] });
    // A string, not a function: tsx's helpers (`__name`) do not exist in the page.
    const args = JSON.stringify({ hub: this.url(HUB), subscriberToken, publisherToken });
    const result = await page.evaluate(`(${BROWSER_SCRIPT})(${args})`);
    deepStrictEqual(result, {
      answers: ["200 book-1-v1", "200 book-2-secret", "200 book-2-public"],
      received: {
        exact: ["book|book-1-v1|line 1\nline 2"],
        template: ["book|book-1-v1|line 1\nline 2", "message|book-2-public|public"],
        several: ["book|book-1-v1|line 1\nline 2"],
        private: [
          "book|book-1-v1|line 1\nline 2",
          "message|book-2-secret|secret",
          "message|book-2-public|public",
        ],
        other: [],
      },
    });
  },
);

Then(
  "{string} receives {int} events, the last with id {string}",
  async function (this: NutsWorld, name: string, count: number, id: string) {
    const client = subscriber(this, name);
    await client.waitForEvents(count);
    strictEqual(client.events.length, count);
    strictEqual(client.events.at(-1)?.id, id);
  },
);

/** What the page runs: five EventSources, three publishes with fetch, then what each received. */
const BROWSER_SCRIPT = `async ({ hub, subscriberToken, publisherToken }) => {
  const received = {};
  const open = (name, selectors, token) => new Promise((resolve) => {
    const url = new URL(hub);
    for (const selector of selectors) url.searchParams.append("topic", selector);
    if (token) url.searchParams.set("authorization", token);
    const source = new EventSource(url);
    received[name] = [];
    const record = (event) => received[name].push(event.type + "|" + event.lastEventId + "|" + event.data);
    source.onmessage = record;
    source.addEventListener("book", record);
    source.onopen = () => resolve(source);
  });
  const sources = [
    await open("exact", ["https://example.com/books/1"]),
    await open("template", ["https://example.com/books/{id}"]),
    await open("several", ["https://example.com/authors/1", "https://example.com/books/1"]),
    await open("private", ["https://example.com/books/{id}"], subscriberToken),
    await open("other", ["https://example.com/movies/{id}"]),
  ];
  const publish = async (fields) => {
    const response = await fetch(hub, {
      method: "POST",
      headers: { Authorization: "Bearer " + publisherToken },
      body: new URLSearchParams(fields),
    });
    return response.status + " " + (await response.text());
  };
  const answers = [
    await publish([["topic", "https://example.com/books/1"], ["topic", "https://example.com/authors/1"], ["data", "line 1\\nline 2"], ["id", "book-1-v1"], ["type", "book"]]),
    await publish([["topic", "https://example.com/books/2"], ["data", "secret"], ["id", "book-2-secret"], ["private", "on"]]),
    await publish([["topic", "https://example.com/books/2"], ["data", "public"], ["id", "book-2-public"]]),
  ];
  const deadline = Date.now() + 10000;
  while ((received.private.length < 3 || received.template.length < 2) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  for (const source of sources) source.close();
  return { answers, received };
}`;

/** The subscription events a watcher received, by topic, in order. */
function subscriptionEvents(world: NutsWorld, name: string, topic: string) {
  return subscriber(world, name)
    .events.map((event) => JSON.parse(event.data) as Record<string, unknown>)
    .filter((event) => event.type === "Subscription" && event.topic === topic);
}

const lastSubscriptionEvent = new WeakMap<NutsWorld, Record<string, unknown>>();

Then(
  "{string} receives the subscription event: a subscriber of {string} is {word}",
  async function (this: NutsWorld, name: string, topic: string, state: string) {
    const active = state === "active";
    await eventually(
      `a subscription event of ${topic} with active ${active}`,
      () => subscriptionEvents(this, name, topic).some((event) => event.active === active),
      { describe: () => JSON.stringify(subscriber(this, name).events) },
    );
    const events = subscriptionEvents(this, name, topic);
    const event = events.find((each) => each.active === active) as Record<string, unknown>;
    const id = event.subscriber as string;
    deepStrictEqual(event, {
      "@context": "https://mercure.rocks/",
      id: `${HUB}/subscriptions/${encodeURIComponent(topic)}/${encodeURIComponent(id)}`,
      type: "Subscription",
      subscriber: id,
      topic,
      active,
    });
    // Exactly one event per change: joined, then (if asked) left.
    strictEqual(events.length, active ? 1 : 2);
    lastSubscriptionEvent.set(this, event);
  },
);

When("{string} leaves", function (this: NutsWorld, name: string) {
  subscriber(this, name).close();
});

async function listSubscriptions(world: NutsWorld, topic: string, token?: string) {
  const response = await fetch(world.url(`${HUB}/subscriptions/${encodeURIComponent(topic)}`), {
    headers: token === undefined ? {} : { Authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(DEFAULT_TIMEOUT_MS),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

const adminToken = () =>
  sign(SUBSCRIBER_KEY, { subscribe: [`${HUB}/subscriptions{/topic}{/subscriber}`] });

Then(
  "the subscriptions API lists {int} subscription(s) to {string}(, the one of that event)",
  async function (this: NutsWorld, count: number, topic: string) {
    const token = await adminToken();
    let listed: Record<string, unknown>[] = [];
    await eventually(
      `${count} subscriptions to ${topic}`,
      async () => {
        const { body } = await listSubscriptions(this, topic, token);
        listed = body.subscriptions as Record<string, unknown>[];
        return listed.length === count;
      },
      { describe: () => JSON.stringify(listed) },
    );
    const event = lastSubscriptionEvent.get(this);
    if (count === 1 && event !== undefined) {
      const { "@context": _context, ...subscription } = event;
      deepStrictEqual(listed, [subscription]);
    }
  },
);

Then(
  "the subscriptions API answers 401 without a token and 403 to a token for {string}",
  async function (this: NutsWorld, claim: string) {
    strictEqual((await listSubscriptions(this, "x")).status, 401);
    const token = await sign(SUBSCRIBER_KEY, { subscribe: [claim] });
    const forbidden = await listSubscriptions(this, "x", token);
    deepStrictEqual(
      { status: forbidden.status, error: forbidden.body.error },
      { status: 403, error: "forbidden" },
    );
  },
);

function page(world: NutsWorld) {
  if (!world.page) throw new Error("open the hub's page first");
  return world.page;
}

// The page's CSP forbids eval, so waits go through selectors, not page functions.

When(
  "the visitor subscribes with the page's form to {string}",
  async function (this: NutsWorld, selector: string) {
    await page(this).fill("#selectors", selector);
    await page(this).click("#subscribe-button");
    await page(this).waitForSelector('#status:text-is("subscribed")');
  },
);

When(
  "the visitor publishes with the page's form to {string} the data {string} with id {string} and type {string}",
  async function (this: NutsWorld, topic: string, data: string, id: string, type: string) {
    const form = page(this);
    await form.fill("#topics", topic);
    await form.fill("#data", data);
    await form.fill("#id", id);
    await form.fill("#type", type);
    await form.fill("#publisher-token", await sign(PUBLISHER_KEY, { publish: ["*"] }));
    await form.click("#publish-button");
  },
);

const shownBefore = new WeakMap<NutsWorld, string>();

When(
  "the visitor publishes with the page's form without a token",
  async function (this: NutsWorld) {
    shownBefore.set(this, (await page(this).textContent("#published")) ?? "");
    await page(this).fill("#publisher-token", "");
    await page(this).click("#publish-button");
  },
);

/** The publish form's answer, once it shows one (a new one, after a second publish). */
async function published(world: NutsWorld): Promise<string> {
  const before = shownBefore.get(world);
  const output = page(world).locator("#published:not(:empty)");
  const fresh = before ? output.filter({ hasNotText: before }) : output;
  await fresh.waitFor();
  return (await fresh.textContent()) ?? "";
}

Then("the page says {string}", async function (this: NutsWorld, text: string) {
  strictEqual(await published(this), text);
});

Then(
  "the page says {string} followed by the hub's error {string}",
  async function (this: NutsWorld, prefix: string, error: string) {
    const text = await published(this);
    strictEqual(text.slice(0, prefix.length), prefix);
    strictEqual(JSON.parse(text.slice(prefix.length)).error, error);
  },
);

Then(
  "the page lists exactly the update {string} of type {string} with the data {string}",
  async function (this: NutsWorld, id: string, type: string, data: string) {
    const items = page(this).locator("#updates li");
    await items.first().waitFor();
    strictEqual(await items.count(), 1);
    deepStrictEqual(
      {
        id: await items.first().getAttribute("data-id"),
        type: await items.first().getAttribute("data-type"),
        text: await items.first().textContent(),
      },
      { id, type, text: `${type} ${id}\n${data}` },
    );
  },
);
