import { strictEqual } from "node:assert/strict";
import { Then, When } from "@cucumber/cucumber";
import type { Page } from "playwright-core";
import { launchChromium } from "../support/browser.js";
import { DEFAULT_TIMEOUT_MS } from "../support/wait.js";
import type { NutsWorld } from "../support/world.js";

function page(world: NutsWorld): Page {
  if (!world.page) throw new Error("no page is open: open the demo page first");
  return world.page;
}

When("a visitor opens the demo page in Chromium", async function (this: NutsWorld) {
  this.browser = await launchChromium();
  this.page = await this.browser.newPage();
  this.page.setDefaultTimeout(DEFAULT_TIMEOUT_MS);
  await this.page.goto(this.url("/"));
});

When("subscribes to the topic {string}", async function (this: NutsWorld, topic: string) {
  const visitor = page(this);
  await visitor.fill("#topic", topic);
  await visitor.click("#connect");
  await visitor.waitForSelector(`#status[data-state="connected"]`);
  strictEqual(await visitor.textContent("#status"), `connected to ${topic}`);
});

When("publishes {string} with the page's form", async function (this: NutsWorld, text: string) {
  const visitor = page(this);
  await visitor.fill("#message", text);
  await visitor.click("#publish");
});

Then(
  "the page lists event #{int} on topic {string} with payload {string}",
  async function (this: NutsWorld, id: number, topic: string, payload: string) {
    const item = page(this).locator(`#events li[data-id="${id}"]`);
    await item.waitFor();
    strictEqual(await item.locator(".topic").textContent(), topic);
    strictEqual(await item.locator(".payload").textContent(), payload);
  },
);

Then(
  "the page says the message was stored as #{int} on {string}",
  async function (this: NutsWorld, id: number, topic: string) {
    const result = page(this).locator("#publish-result");
    await result.filter({ hasText: `stored as #${id} on ${topic}` }).waitFor();
  },
);
