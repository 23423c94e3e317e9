import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Given, Then, When } from "@cucumber/cucumber";
import {
  type Delivery,
  differenceFrom,
  expectedDeliveries,
  faults,
  MemoryWatch,
  RawSseClient,
  RecordingClient,
  SteadyPublisher,
} from "../support/faults.js";
import { send } from "../support/http.js";
import { eventually, sleep } from "../support/wait.js";
import type { NutsWorld } from "../support/world.js";

const MEGABYTE = 1024 * 1024;

// --- clients ---------------------------------------------------------------------------------

Given(
  "{int} EventSource client(s) is/are connected to {string}",
  async function (this: NutsWorld, count: number, path: string) {
    const state = faults(this);
    const opened = Array.from({ length: count }, () => new RecordingClient(this.url(path)));
    state.clients.push(...opened);
    await eventually(
      `${count} clients to be connected to ${path}`,
      () => opened.every((client) => client.ofType("connected").length > 0),
      {
        timeoutMs: 20_000,
        describe: () =>
          `${opened.filter((client) => client.ofType("connected").length > 0).length} connected`,
      },
    );
  },
);

Then(
  "every client receives every published message exactly once, in order, under fault {string}",
  async function (this: NutsWorld, fault: string) {
    const state = faults(this);
    const expected = expectedDeliveries(this);
    ok(expected.length > 0, "nothing was published");
    await eventually(
      `every client to have received the ${expected.length} published messages`,
      () => state.clients.every((client) => client.messageCount >= expected.length),
      {
        timeoutMs: 30_000,
        describe: () => {
          const behind = state.clients.filter((client) => client.messageCount < expected.length);
          return `${behind.length} clients behind, e.g. ${behind[0]?.summary()}`;
        },
      },
    );
    for (const client of state.clients) {
      const difference = differenceFrom(expected, client.deliveries());
      ok(difference === undefined, `${difference}\n${client.summary()}`);
    }
    const notes = state.notes.length > 0 ? `; ${state.notes.join("; ")}` : "";
    reportFigures(
      this,
      `fault ${fault}: published ${expected.length}, received ${expected.length} by each of ${state.clients.length} clients${notes}`,
    );
  },
);

When("every client has received {int} messages", async function (this: NutsWorld, count: number) {
  const clients = faults(this).clients;
  await eventually(
    `every client to have received ${count} messages`,
    () => clients.every((client) => client.messageCount >= count),
    { describe: () => clients[0]?.summary() ?? "no clients" },
  );
});

Then("no client has reconnected", function (this: NutsWorld) {
  for (const client of faults(this).clients) {
    strictEqual(client.requests.length, 1, client.summary());
  }
});

Then(
  "every client has reconnected with the last id it saw, and was never refused",
  function (this: NutsWorld) {
    for (const client of faults(this).clients) {
      ok(client.requests.length >= 2, `no reconnect: ${client.summary()}`);
      for (const [index, each] of client.requests.entries()) {
        strictEqual(each.status, 200, `request ${index + 1}: ${client.summary()}`);
        if (index > 0) strictEqual(each.lastEventId, each.lastSeenId, client.summary());
      }
      deepStrictEqual(client.ofType("unavailable"), [], client.summary());
    }
    const reconnects = faults(this).clients.map((client) => client.requests.length - 1);
    faults(this).notes.push(
      `${Math.min(...reconnects)} to ${Math.max(...reconnects)} reconnects per client`,
    );
  },
);

Then(
  "every client gets a reset event with id {int} and data {string}",
  async function (this: NutsWorld, id: number, data: string) {
    const clients = faults(this).clients;
    await eventually(
      "a reset event on every client",
      () => clients.every((client) => client.ofType("reset").length > 0),
      { describe: () => clients[0]?.summary() ?? "no clients" },
    );
    for (const client of clients) {
      deepStrictEqual(
        client.ofType("reset"),
        [{ type: "reset", lastEventId: String(id), data }],
        client.summary(),
      );
    }
  },
);

Then("no client got a reset event", function (this: NutsWorld) {
  for (const client of faults(this).clients) {
    deepStrictEqual(client.ofType("reset"), [], client.summary());
  }
});

Then(
  "{string} receives exactly the last {int} published messages",
  async function (this: NutsWorld, name: string, count: number) {
    const client = this.client(name);
    const expected = this.published.slice(-count).map((message) => message.seq);
    await client.receivedMessages(count);
    deepStrictEqual(client.messageIds(), expected, client.summary());
  },
);

// --- publishing ------------------------------------------------------------------------------

Given(
  "a publisher sends to {string} at {int} messages a second",
  function (this: NutsWorld, subject: string, perSecond: number) {
    const state = faults(this);
    if (state.publisher) throw new Error("a publisher is already running");
    state.publisher = new SteadyPublisher(this, subject, perSecond);
  },
);

When(
  "{int} messages of {int} KB are published to {string}",
  async function (this: NutsWorld, count: number, kilobytes: number, subject: string) {
    const padding = "x".repeat(kilobytes * 1024);
    for (let index = 0; index < count; index++) {
      const payload = JSON.stringify({ n: this.published.length + 1, padding });
      const seq = await this.nats.publish(subject, payload);
      this.published.push({ subject, payload, seq });
    }
  },
);

When("the publisher has sent {int} messages", async function (this: NutsWorld, count: number) {
  await publisher(this).sentAtLeast(count);
});

When("the publisher has sent {int} more messages", async function (this: NutsWorld, count: number) {
  const steady = publisher(this);
  await steady.sentAtLeast(steady.sent + count);
});

When("the publisher stops", async function (this: NutsWorld) {
  await publisher(this).stop();
});

function publisher(world: NutsWorld): SteadyPublisher {
  const steady = faults(world).publisher;
  if (!steady) throw new Error('no publisher: start one with "a publisher sends to ..."');
  return steady;
}

// --- NATS faults -----------------------------------------------------------------------------

When("the NATS server stops answering", function (this: NutsWorld) {
  this.nats.server.pause();
  faults(this).pausedAt = Date.now();
});

When("the NATS server answers again", function (this: NutsWorld) {
  this.nats.server.resume();
});

Then(
  "within {int} seconds a new EventSource request to {string} is told NATS is unavailable, with a retry hint",
  async function (this: NutsWorld, seconds: number, path: string) {
    const pausedAt = faults(this).pausedAt ?? Date.now();
    const url = this.url(path);
    const refusal = await eventually(
      "a new request to be refused with nats_unavailable",
      async () => {
        const response = await send({
          method: "GET",
          url,
          headers: { Accept: "text/event-stream", "Cache-Control": "no-cache" },
        });
        this.responses.push(response);
        // A request the sidecar still takes gets a `connected` event: NATS not noticed yet.
        await response
          .bodyMatching("a first event", (body) => body.includes("\n\n"), 1_000)
          .catch(() => {});
        response.close();
        if (response.body.startsWith("event: unavailable\n")) return response;
        // Not yet: ask again in a moment rather than flooding Caddy's log with aborted streams.
        await sleep(250);
        return undefined;
      },
      { timeoutMs: seconds * 1000 },
    );
    strictEqual(refusal.status, 200);
    const match = /^event: unavailable\nretry: (\d+)\ndata: (.*)\n\n$/.exec(refusal.body);
    ok(match, `not an unavailable event with a retry hint: ${JSON.stringify(refusal.body)}`);
    strictEqual((JSON.parse(match[2] as string) as { error: string }).error, "nats_unavailable");
    const noticedAfter = ((Date.now() - pausedAt) / 1000).toFixed(1);
    faults(this).notes.push(`the stopped server was noticed within ${noticedAfter} s`);
  },
);

When("the sidecar's live consumer is deleted from outside", async function (this: NutsWorld) {
  const names: string[] = [];
  for await (const info of this.nats.jsm.consumers.list("EVENTS")) names.push(info.name);
  const live = names.filter((name) => name.startsWith("nuts_"));
  strictEqual(live.length, 1, `consumers on EVENTS: ${names.join(", ")}`);
  await this.nats.jsm.consumers.delete("EVENTS", live[0] as string);
});

When("the stream {string} is purged", async function (this: NutsWorld, stream: string) {
  await this.nats.jsm.streams.purge(stream);
});

When("the stream {string} is deleted", async function (this: NutsWorld, stream: string) {
  await this.nats.jsm.streams.delete(stream);
});

// --- nuts run --------------------------------------------------------------------------------

When(
  "the Caddyfile is changed to this and nuts run gets SIGHUP:",
  async function (this: NutsWorld, caddyfile: string) {
    const file = join(this.stack.dir, "Caddyfile");
    strictEqual((await readFile(file, "utf8")) === caddyfile, false, "the Caddyfile is the same");
    await writeFile(file, caddyfile);
    faults(this).logMark = this.stack.log.length;
    this.stack.child.kill("SIGHUP");
  },
);

Then("nuts run reports the reload: {string}", async function (this: NutsWorld, text: string) {
  const from = faults(this).logMark ?? 0;
  const line = (): string | undefined =>
    /^nuts: (reloaded|reload failed).*$/m.exec(this.stack.log.slice(from))?.[0];
  const reported = await eventually("nuts run to report the reload", line, {
    describe: () => JSON.stringify(this.stack.log.slice(from).slice(-2000)),
  });
  ok(reported.startsWith("nuts: reloaded ") && reported.endsWith(`: ${text}`), reported);
});

// --- a client that stops reading -------------------------------------------------------------

Given(
  "a client that stops reading is connected to {string}",
  async function (this: NutsWorld, path: string) {
    const client = await RawSseClient.open(this.url(path));
    faults(this).rawClients.push(client);
    strictEqual(client.status, 200);
    await eventually("the connected event", () => client.frames()[0]?.event === "connected", {
      describe: () => JSON.stringify(client.body),
    });
    client.pause();
  },
);

When(
  "{int} KB messages are published to {string} at {int} a second until the sidecar cuts the slow client",
  async function (this: NutsWorld, kilobytes: number, subject: string, perSecond: number) {
    const state = faults(this);
    const [sidecar] = this.stack.sidecarPids();
    if (sidecar === undefined) throw new Error("no sidecar process");
    state.memory = new MemoryWatch(sidecar);
    const padding = "x".repeat(kilobytes * 1024);
    const cut = () => /"msg":"subscriber cut"/.test(this.stack.log);
    // At a pace a reading client keeps up with: only the one that stops reading falls behind.
    const startedAt = Date.now();
    for (let count = 1; !cut(); count++) {
      if (count > 2_000) throw new Error("2000 messages published and nobody was cut");
      const payload = JSON.stringify({ n: this.published.length + 1, padding });
      const seq = await this.nats.publish(subject, payload);
      this.published.push({ subject, payload, seq });
      await sleep(Math.max(0, startedAt + (count * 1000) / perSecond - Date.now()));
    }
    const reason = /"msg":"subscriber cut"[^\n]*"reason":"(\w+)"/.exec(this.stack.log)?.[1];
    state.notes.push(`the slow client was cut (${reason}) after ${this.published.length} messages`);
  },
);

Then(
  "the slow client's connection turns out closed when it reads again",
  async function (this: NutsWorld) {
    const client = slowClient(this);
    client.resume();
    await eventually("the slow client's connection to close", () => client.ending !== "open", {
      describe: () => `${client.deliveries().length} messages read`,
    });
    const received = client.deliveries();
    const published = expectedDeliveries(this);
    ok(received.length < published.length, "the slow client got everything: it was not cut");
    strictEqual(differenceFrom(published.slice(0, received.length), received), undefined);
    faults(this).notes.push(`it had read ${received.length} when its connection closed`);
  },
);

When("the slow client reconnects with the last id it saw", async function (this: NutsWorld) {
  const first = slowClient(this);
  const client = await RawSseClient.open(first.url, first.lastEventId());
  faults(this).rawClients.push(client);
  strictEqual(client.status, 200);
});

Then(
  "the slow client has every published message exactly once, in order",
  async function (this: NutsWorld) {
    const [first, second] = faults(this).rawClients as [RawSseClient, RawSseClient];
    const expected = expectedDeliveries(this);
    const received = (): Delivery[] => [...first.deliveries(), ...second.deliveries()];
    await eventually(
      `the slow client to have all ${expected.length} messages`,
      () => received().length >= expected.length,
      { describe: () => `${received().length} received` },
    );
    strictEqual(differenceFrom(expected, received()), undefined);
  },
);

Then(
  "the sidecar's memory grew by less than {int} MB",
  function (this: NutsWorld, megabytes: number) {
    const memory = faults(this).memory;
    if (!memory) throw new Error("the sidecar's memory was not watched");
    memory.stop();
    const grownBytes = memory.peakBytes - memory.baselineBytes;
    ok(
      grownBytes < megabytes * MEGABYTE,
      `the sidecar grew from ${memory.baselineBytes / MEGABYTE} MB to ${memory.peakBytes / MEGABYTE} MB`,
    );
    faults(this).notes.push(
      `sidecar RSS ${(memory.baselineBytes / MEGABYTE).toFixed(0)} MB, peak +${(grownBytes / MEGABYTE).toFixed(1)} MB`,
    );
  },
);

function slowClient(world: NutsWorld): RawSseClient {
  const client = faults(world).rawClients[0];
  if (!client) throw new Error('no slow client: connect one with "a client that stops reading"');
  return client;
}

/** The line the lead reports: attached to the scenario and printed with the progress dots. */
function reportFigures(world: NutsWorld, line: string): void {
  world.attach(line, "text/plain");
  console.log(`\n${line}`);
}
