import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { type DataTable, Then, When } from "@cucumber/cucumber";
import { send } from "../support/http.js";
import type { NutsWorld } from "../support/world.js";

/** What a browser's EventSource sends besides the URL. */
const EVENT_STREAM_HEADERS = { Accept: "text/event-stream", "Cache-Control": "no-cache" };

When("a client requests {string}", async function (this: NutsWorld, path: string) {
  this.responses.push(await send({ method: "GET", url: this.url(path) }));
});

When(
  "a client requests {string} as an EventSource does",
  async function (this: NutsWorld, path: string) {
    this.responses.push(
      await send({ method: "GET", url: this.url(path), headers: EVENT_STREAM_HEADERS }),
    );
  },
);

When(
  "a client sends {word} {string} with the headers:",
  async function (this: NutsWorld, method: string, path: string, table: DataTable) {
    const headers = table.rowsHash();
    this.responses.push(await send({ method, url: this.url(path), headers }));
  },
);

When(
  "a client posts {string} to {string}",
  async function (this: NutsWorld, body: string, path: string) {
    const response = await send({ method: "POST", url: this.url(path), body });
    this.responses.push(response);
  },
);

Then("the response status is {int}", function (this: NutsWorld, status: number) {
  strictEqual(this.response().status, status, this.response().body);
});

Then(
  "the response has the header {string}: {string}",
  function (this: NutsWorld, name: string, value: string) {
    strictEqual(this.response().header(name), value, `header ${name}`);
  },
);

Then("the response has no {string} header", function (this: NutsWorld, name: string) {
  strictEqual(this.response().header(name), undefined, `header ${name}`);
});

Then("the response has the headers:", function (this: NutsWorld, table: DataTable) {
  const expected = table.rowsHash();
  const actual = Object.fromEntries(
    Object.keys(expected).map((name) => [name, this.response().header(name)]),
  );
  deepStrictEqual(actual, expected);
});

Then("the response body is the JSON:", async function (this: NutsWorld, json: string) {
  const body = await this.response().complete();
  deepStrictEqual(JSON.parse(body), JSON.parse(json));
});

Then("the response body is exactly:", async function (this: NutsWorld, text: string) {
  // A docstring cannot end in a blank line; SSE frames do, so the last one is implied.
  strictEqual(await this.response().complete(), `${text}\n\n`);
});

Then("the event stream begins with:", async function (this: NutsWorld, text: string) {
  const response = this.response();
  const expected = `${text}\n\n`;
  await response.bodyMatching(
    `the stream to begin with ${JSON.stringify(expected)}`,
    (body) => body.length >= expected.length,
  );
  strictEqual(response.body.slice(0, expected.length), expected);
});

const HEARTBEAT = ": heartbeat\n\n";

Then(
  "the event stream goes on with nothing but heartbeats, at least {int} of them",
  async function (this: NutsWorld, count: number) {
    const response = this.response();
    const afterConnected = () => response.body.slice(response.body.indexOf("\n\n") + 2);
    await response.bodyMatching(
      `${count} heartbeats after the connected event`,
      (body) => body.includes("\n\n") && afterConnected().length >= count * HEARTBEAT.length,
    );
    const rest = afterConnected();
    // Whole heartbeats, and at most the start of one more still on its way.
    const heartbeatsOnly = HEARTBEAT.repeat(Math.ceil(rest.length / HEARTBEAT.length));
    ok(heartbeatsOnly.startsWith(rest), `after the connected event: ${JSON.stringify(rest)}`);
  },
);
