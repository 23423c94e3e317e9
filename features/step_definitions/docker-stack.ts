/**
 * Steps of the @docker scenarios: one EventSource on the compose stack's published port,
 * messages published into the stack's NATS (or with the demo page's POST), and checks of what
 * that EventSource received.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { Given, Then, When } from "@cucumber/cucumber";
import { DOCKER_STACK_URL, publishInStack } from "../support/docker-stack.js";
import { type ReceivedEvent, SseClient } from "../support/sse-client.js";
import { eventually } from "../support/wait.js";
import type { NutsWorld } from "../support/world.js";

/** The name the stack's EventSource has among the world's clients (the After hook closes it). */
const SUBSCRIBER = "docker stack subscriber";

/** What a @docker scenario holds beyond the world's clients and published messages. */
interface DockerScenario {
  pageResponses: Map<string, { status: number; contentType: string; body: string }>;
  received?: ReceivedEvent;
}
const scenarios = new WeakMap<NutsWorld, DockerScenario>();

function scenario(world: NutsWorld): DockerScenario {
  let state = scenarios.get(world);
  if (!state) {
    state = { pageResponses: new Map() };
    scenarios.set(world, state);
  }
  return state;
}

function lastPublished(world: NutsWorld): NutsWorld["published"][number] {
  const message = world.published.at(-1);
  if (!message) throw new Error("no message has been published in this scenario");
  return message;
}

Given("I am connected to SSE endpoint {string}", async function (this: NutsWorld, path: string) {
  const client = new SseClient(`${DOCKER_STACK_URL}${path}`);
  this.clients.set(SUBSCRIBER, client);
  await client.connected();
});

When(
  "I publish message {string} to subject {string}",
  async function (this: NutsWorld, payload: string, subject: string) {
    const seq = await publishInStack(subject, payload);
    this.published.push({ subject, payload, seq });
  },
);

When("a visitor requests the demo page", async function (this: NutsWorld) {
  for (const path of ["/", "/app.js"]) {
    const response = await fetch(`${DOCKER_STACK_URL}${path}`);
    scenario(this).pageResponses.set(path, {
      status: response.status,
      contentType: response.headers.get("content-type") ?? "",
      body: await response.text(),
    });
  }
});

Then("the demo page and its script are served", function (this: NutsWorld) {
  const page = scenario(this).pageResponses.get("/");
  const script = scenario(this).pageResponses.get("/app.js");
  if (!page || !script) throw new Error("the demo page has not been requested");
  strictEqual(page.status, 200);
  strictEqual(page.contentType, "text/html; charset=utf-8");
  ok(page.body.includes('<form id="publish-form"'), `no publish form in:\n${page.body}`);
  strictEqual(script.status, 200);
  ok(script.body.includes("new EventSource("), "app.js does not open an EventSource");
});

When(
  "the page's form publishes {string} to the topic {string}",
  async function (this: NutsWorld, payload: string, topic: string) {
    // What the page's publish() sends: the form's text as the body of a POST.
    const response = await fetch(`${DOCKER_STACK_URL}/events?topic=${encodeURIComponent(topic)}`, {
      method: "POST",
      body: payload,
    });
    const text = await response.text();
    strictEqual(response.status, 200, `POST answered ${response.status}: ${text}`);
    const { seq } = JSON.parse(text) as { seq: number };
    this.published.push({ subject: `events.${topic}`, payload, seq });
  },
);

Then(
  "I should receive an SSE event with topic {string}",
  async function (this: NutsWorld, topic: string) {
    const client = this.client(SUBSCRIBER);
    const published = lastPublished(this);
    const received = await eventually(
      `a message event on topic ${topic}`,
      () =>
        client
          .ofType("message")
          .find((event) => (JSON.parse(event.data) as { topic: string }).topic === topic),
      { describe: () => client.summary() },
    );
    const data = JSON.parse(received.data) as { topic: string; payload: unknown; time: string };
    deepStrictEqual(data.payload, JSON.parse(published.payload));
    ok(!Number.isNaN(Date.parse(data.time)), `time ${JSON.stringify(data.time)} is not a date`);
    scenario(this).received = received;
  },
);

Then("the event should have an ID", function (this: NutsWorld) {
  const received = scenario(this).received;
  if (!received) throw new Error("no SSE event has been received yet");
  // The id is the JetStream sequence the publisher was told.
  strictEqual(received.id, String(lastPublished(this).seq));
});
