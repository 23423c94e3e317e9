import { deepStrictEqual } from "node:assert/strict";
import { type DataTable, Given, Then, When } from "@cucumber/cucumber";
import {
  caddyOf,
  dropIn,
  RecordingUpstream,
  StandaloneSidecar,
  StockCaddy,
  sidecarOf,
} from "../support/drop-in.js";
import { send } from "../support/http.js";
import { NetworkLink } from "../support/network.js";
import { SseClient } from "../support/sse-client.js";
import { eventually } from "../support/wait.js";
import type { NutsWorld } from "../support/world.js";

Given(
  "the sidecar runs on its own with this config:",
  async function (this: NutsWorld, text: string) {
    const values = this.nats.placeholders();
    const config = text.replace(/\{\$(\w+)\}/g, (placeholder, name: string) => {
      return values[name] ?? placeholder;
    });
    dropIn(this).sidecar = await StandaloneSidecar.start(config);
  },
);

Given("stock Caddy runs this Caddyfile:", async function (this: NutsWorld, text: string) {
  dropIn(this).caddy = await StockCaddy.start(text, sidecarOf(this).upstream);
});

Given(
  "stock Caddy runs this Caddyfile, with a recording server in the sidecar's place:",
  async function (this: NutsWorld, text: string) {
    const recorder = await RecordingUpstream.start();
    dropIn(this).recorder = recorder;
    dropIn(this).caddy = await StockCaddy.start(text, recorder.upstream);
  },
);

When("Caddy is reloaded with this Caddyfile:", async function (this: NutsWorld, text: string) {
  await caddyOf(this).reload(text);
});

When("the sidecar stops", async function (this: NutsWorld) {
  await sidecarOf(this).stopProcess();
});

When("the sidecar starts again", async function (this: NutsWorld) {
  await sidecarOf(this).startProcess();
});

Given(
  "an EventSource {string} is connected to {string} through Caddy",
  async function (this: NutsWorld, name: string, path: string) {
    await openThroughCaddy(this, name, `${caddyOf(this).baseUrl}${path}`).connected();
  },
);

Given(
  "an EventSource {string} is connected to {string} through Caddy over a network that can fail",
  async function (this: NutsWorld, name: string, path: string) {
    this.networkLink ??= await NetworkLink.open(caddyOf(this).port);
    const url = `http://127.0.0.1:${this.networkLink.port}${path}`;
    await openThroughCaddy(this, name, url).connected();
  },
);

When(
  "an EventSource {string} opens {string} through Caddy",
  function (this: NutsWorld, name: string, path: string) {
    openThroughCaddy(this, name, `${caddyOf(this).baseUrl}${path}`);
  },
);

When(
  "an EventSource {string} resumes {string} through Caddy after id {int}, also sending:",
  function (this: NutsWorld, name: string, path: string, id: number, table: DataTable) {
    const headers = { ...table.rowsHash(), "Last-Event-ID": String(id) };
    openThroughCaddy(this, name, `${caddyOf(this).baseUrl}${path}`, headers);
  },
);

When(
  "an EventSource {string} resumes {string} through Caddy after id {int}",
  function (this: NutsWorld, name: string, path: string, id: number) {
    const headers = { "Last-Event-ID": String(id) };
    openThroughCaddy(this, name, `${caddyOf(this).baseUrl}${path}`, headers);
  },
);

When(
  "a client sends {word} {string} through Caddy",
  async function (this: NutsWorld, method: string, path: string) {
    this.responses.push(await send({ method, url: `${caddyOf(this).baseUrl}${path}` }));
  },
);

When(
  "a client sends {word} {string} through Caddy with the headers:",
  async function (this: NutsWorld, method: string, path: string, table: DataTable) {
    const url = `${caddyOf(this).baseUrl}${path}`;
    this.responses.push(await send({ method, url, headers: table.rowsHash() }));
  },
);

Then(
  "the sidecar's place received exactly these X-Nuts headers:",
  async function (this: NutsWorld, table: DataTable) {
    const recorder = dropIn(this).recorder;
    if (!recorder) throw new Error("no recording server stands in for the sidecar");
    const [request] = await eventually("a request to reach the recording server", () =>
      recorder.requests.length > 0 ? recorder.requests : undefined,
    );
    const seen = Object.fromEntries(
      Object.entries(request?.headers ?? {}).filter(([name]) => /^x[-_]nuts[-_]/i.test(name)),
    );
    deepStrictEqual(seen, table.rowsHash());
  },
);

function openThroughCaddy(
  world: NutsWorld,
  name: string,
  url: string,
  headers: Record<string, string> = {},
): SseClient {
  if (world.clients.has(name)) throw new Error(`there is already a client named ${name}`);
  const client = new SseClient(url, headers);
  world.clients.set(name, client);
  return client;
}
