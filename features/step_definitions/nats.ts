import type { DataTable } from "@cucumber/cucumber";
import { Given, When } from "@cucumber/cucumber";
import { type NatsAuth, TestNats } from "../support/nats.js";
import type { NutsWorld } from "../support/world.js";

Given(
  "a NATS server that requires the token {string}",
  async function (this: NutsWorld, token: string) {
    await useOwnServer(this, { type: "token", token });
  },
);

Given(
  "a NATS server that requires the user {string} with password {string}",
  async function (this: NutsWorld, user: string, password: string) {
    await useOwnServer(this, { type: "user_password", user, password });
  },
);

Given(
  "a NATS server in operator mode that requires a credentials file",
  async function (this: NutsWorld) {
    await useOwnServer(this, { type: "credentials" });
  },
);

Given(
  "the JetStream stream {string} captures {string}",
  async function (this: NutsWorld, stream: string, subjects: string) {
    await this.nats.nuts(["stream", "add", stream, "--subjects", subjects]);
  },
);

Given(
  "the JetStream stream {string} captures {string} and {string}",
  async function (this: NutsWorld, stream: string, first: string, second: string) {
    await this.nats.nuts(["stream", "add", stream, "--subjects", first, second]);
  },
);

Given(
  "the JetStream stream {string} captures {string} and keeps at most {int} messages",
  async function (this: NutsWorld, stream: string, subjects: string, maxMessages: number) {
    await this.nats.nuts([
      "stream",
      "add",
      stream,
      "--subjects",
      subjects,
      "--max-msgs",
      String(maxMessages),
    ]);
  },
);

When("these messages are published:", async function (this: NutsWorld, table: DataTable) {
  for (const { subject, payload } of table.hashes() as { subject: string; payload: string }[]) {
    await publish(this, subject, payload);
  }
});

When(
  "{int} message(s) is/are published to {string}",
  async function (this: NutsWorld, count: number, subject: string) {
    for (let index = 1; index <= count; index++) {
      await publish(this, subject, JSON.stringify({ n: this.published.length + 1 }));
    }
  },
);

When(
  "{string} is published to {string} with nuts pub",
  async function (this: NutsWorld, payload: string, subject: string) {
    const output = await this.nats.nuts(["pub", subject, payload]);
    const seq = Number(/seq (\d+)/.exec(output)?.[1]);
    this.published.push({ subject, payload, seq });
  },
);

When("the NATS server restarts", async function (this: NutsWorld) {
  await this.nats.server.restart();
});

async function publish(world: NutsWorld, subject: string, payload: string): Promise<void> {
  const seq = await world.nats.publish(subject, payload);
  world.published.push({ subject, payload, seq });
}

async function useOwnServer(world: NutsWorld, auth: NatsAuth): Promise<void> {
  const nats = await TestNats.start(auth);
  world.ownNatsServers.push(nats);
  world.natsServer = nats;
}
