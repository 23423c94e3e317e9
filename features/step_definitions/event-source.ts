import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { type DataTable, Given, Then, When } from "@cucumber/cucumber";
import { eventually } from "../support/wait.js";
import type { NutsWorld } from "../support/world.js";

type ResumeMethod = "the last-id query parameter" | "the Last-Event-ID header";

Given(
  "an EventSource {string} is connected to {string}",
  async function (this: NutsWorld, name: string, path: string) {
    await this.openEventSource(name, path).connected();
  },
);

Given(
  "an EventSource {string} is connected to {string} over a network that can fail",
  async function (this: NutsWorld, name: string, path: string) {
    await (await this.openEventSourceOverLink(name, path)).connected();
  },
);

When("the network drops the connection", function (this: NutsWorld) {
  if (!this.networkLink) throw new Error("no client is connected over a network that can fail");
  this.networkLink.dropAll();
});

When(
  "an EventSource {string} opens {string}",
  function (this: NutsWorld, name: string, path: string) {
    this.openEventSource(name, path);
  },
);

When(
  "an EventSource {string} resumes {string} after id {int} with {resumeMethod}",
  function (this: NutsWorld, name: string, path: string, id: number, method: ResumeMethod) {
    if (method === "the Last-Event-ID header") {
      this.openEventSource(name, path, { "Last-Event-ID": String(id) });
    } else {
      this.openEventSource(name, `${path}${path.includes("?") ? "&" : "?"}last-id=${id}`);
    }
  },
);

Then(
  "{string} first receives a connected event with id {int} and data {string}",
  async function (this: NutsWorld, name: string, id: number, data: string) {
    const client = this.client(name);
    await client.connected();
    deepStrictEqual(client.events[0], { type: "connected", id: String(id), data });
  },
);

Then(
  "{string} receives exactly these messages:",
  async function (this: NutsWorld, name: string, table: DataTable) {
    const expected = (table.hashes() as { id: string; topic: string; payload: string }[]).map(
      (row) => ({ id: Number(row.id), topic: row.topic, payload: JSON.parse(row.payload) }),
    );
    const client = this.client(name);
    await client.receivedMessages(expected.length);
    const received = client
      .messages()
      .map(({ id, data }) => ({ id, topic: data.topic, payload: data.payload }));
    deepStrictEqual(received, expected);
  },
);

Then(
  "{string} receives exactly the messages {ids}",
  async function (this: NutsWorld, name: string, ids: number[]) {
    const client = this.client(name);
    await client.receivedMessages(ids.length);
    deepStrictEqual(client.messageIds(), ids, client.summary());
  },
);

Then(
  "each message {string} received carries the time {string} stored it at",
  async function (this: NutsWorld, name: string, stream: string) {
    for (const { id, data } of this.client(name).messages()) {
      const stored = await this.nats.jsm.streams.getMessage(stream, { seq: id });
      strictEqual(data.time, stored?.time.toISOString(), `time of message ${id}`);
    }
  },
);

Then(
  "{string} reconnects on its own, sending Last-Event-ID {string}",
  async function (this: NutsWorld, name: string, lastEventId: string) {
    const client = this.client(name);
    await eventually(
      `a reconnect with Last-Event-ID ${lastEventId} that gets a connected event`,
      () => {
        const index = client.attempts.findIndex(
          (attempt) => attempt.lastEventId === lastEventId && attempt.status === 200,
        );
        return index > 0 && client.ofType("connected").length >= 2;
      },
      { describe: () => client.summary() },
    );
  },
);

Then("{string} has made {int} request(s)", function (this: NutsWorld, name: string, count: number) {
  const client = this.client(name);
  strictEqual(client.attempts.length, count, client.summary());
});

Then(
  "{string} is told the source is unavailable with error {string}",
  async function (this: NutsWorld, name: string, code: string) {
    const client = this.client(name);
    const event = await eventually(
      `an unavailable event on ${client.url}`,
      () => client.ofType("unavailable")[0],
      { describe: () => client.summary() },
    );
    strictEqual((JSON.parse(event.data) as { error: string }).error, code);
  },
);

Then("{string} connects once the stream exists", async function (this: NutsWorld, name: string) {
  const client = this.client(name);
  await client.connected(1, 20_000);
  strictEqual(client.closed, false, "the client gave up instead of retrying");
});
