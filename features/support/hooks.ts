/**
 * One nats-server per feature file, emptied before each scenario; everything a scenario
 * started (nuts run, clients, extra servers, the browser) is stopped after it.
 */
import { After, AfterAll, Before, Status } from "@cucumber/cucumber";
import { TestNats } from "./nats.js";
import type { NutsWorld } from "./world.js";

let shared: { featureUri: string; nats: TestNats } | undefined;

// @docker scenarios run against the compose stack and its NATS (docker-stack.ts), not one here.
Before({ tags: "not @docker" }, async function (this: NutsWorld, { pickle }) {
  if (shared?.featureUri !== pickle.uri) {
    await shared?.nats.stop();
    shared = { featureUri: pickle.uri, nats: await TestNats.start() };
  } else {
    await shared.nats.deleteAllStreams();
  }
  this.natsServer = shared.nats;
});

After(async function (this: NutsWorld, { result }) {
  for (const client of this.clients.values()) client.close();
  for (const response of this.responses) response.close();
  await this.networkLink?.close();
  const log = this.nutsRun?.log;
  await this.page?.close().catch(() => {});
  await this.browser?.close().catch(() => {});
  await this.nutsRun?.stop();
  for (const nats of this.ownNatsServers) await nats.stop();
  if (result?.status === Status.FAILED && log) {
    this.attach(`nuts run output:\n${log.slice(-20_000)}`, "text/plain");
  }
});

AfterAll(async () => {
  await shared?.nats.stop();
  shared = undefined;
});
