/**
 * NATS authentication, against nats-servers that demand a token, a user and password, or
 * operator-mode credentials: with the right secret the sidecar streams messages; with a wrong
 * one it cannot connect and refuses requests with nats_unavailable.
 */
import { writeFile } from "node:fs/promises";
import { createAccount, createUser, encodeUser, fmtCreds } from "@nats-io/jwt";
import { afterAll, beforeAll, describe, it } from "vitest";
import type { NatsServer, NatsServerOptions } from "../testing/nats-server.js";
import { type Harness, startHarness, type TestSidecar } from "../testing/sidecar-harness.js";
import { eventually, fetchAll, openSse, type SseClient } from "../testing/sse-client.js";
import type { RouteOptions } from "./config.js";

// The three ways a route authenticates; `users` is a test setup for permissions, not a route option.
type AuthMode = Exclude<NonNullable<NatsServerOptions["auth"]>["type"], "users">;

interface Setup {
  harness: Harness;
  sidecar: TestSidecar;
}

const NATS_UNAVAILABLE =
  '{"error":"nats_unavailable","message":"NATS is not reachable right now; retry shortly"}';
const setups = new Map<AuthMode, Setup>();
const open: SseClient[] = [];

/** A .creds file for a user of an account the server has never heard of. */
async function strangerCreds(dir: string): Promise<string> {
  const user = createUser();
  const file = `${dir}/stranger.creds`;
  await writeFile(file, fmtCreds(await encodeUser("stranger", user, createAccount()), user), {
    mode: 0o600,
  });
  return file;
}

/** Route options that get in (`good`) and that are refused (`bad`), per auth mode. */
async function routeAuth(
  mode: AuthMode,
  nats: NatsServer,
): Promise<{ good: RouteOptions; bad: RouteOptions }> {
  switch (mode) {
    case "token":
      return { good: { nats_token: "s3cret-token" }, bad: { nats_token: "wrong-token" } };
    case "user_password":
      return {
        good: { nats_user: "alice", nats_password: 'pa ss"word' },
        bad: { nats_user: "alice", nats_password: "not her password" },
      };
    case "credentials": {
      if (!nats.credsFile) throw new Error("no creds file");
      return {
        good: { nats_credentials: nats.credsFile },
        bad: { nats_credentials: await strangerCreds(nats.storeDir.replace(/\/jetstream$/, "")) },
      };
    }
  }
}

const serverAuth: Record<AuthMode, NonNullable<NatsServerOptions["auth"]>> = {
  token: { type: "token", token: "s3cret-token" },
  user_password: { type: "user_password", user: "alice", password: 'pa ss"word' },
  credentials: { type: "credentials" },
};

async function setUp(mode: AuthMode): Promise<Setup> {
  const harness = await startHarness({ server: { auth: serverAuth[mode] } });
  const { good, bad } = await routeAuth(mode, harness.nats);
  const common = {
    nats_url: harness.nats.url,
    stream_name: "EVENTS",
    topic_prefix: "events.",
    reconnect_wait: 0.5,
    heartbeat_interval: 0,
  };
  const sidecar = await harness.startSidecar({
    routes: { good: { ...common, ...good }, bad: { ...common, ...bad }, none: common },
  });
  return { harness, sidecar };
}

beforeAll(async () => {
  const modes: AuthMode[] = ["token", "user_password", "credentials"];
  const started = await Promise.all(modes.map(setUp));
  for (const [index, mode] of modes.entries()) setups.set(mode, started[index] as Setup);
});

afterAll(async () => {
  for (const client of open) client.abort();
  await Promise.all([...setups.values()].map(({ harness }) => harness.stop()));
});

// Each refusal waits out the sidecar's start-up grace, so all the modes run at once.
describe.concurrent.each<[AuthMode, string]>([
  ["token", "a token"],
  ["user_password", "a user and password"],
  ["credentials", "a credentials file"],
])("a nats-server that demands %s", (mode) => {
  const setup = () => setups.get(mode) as Setup;

  it("streams messages to a sidecar with the right secret", async ({ expect }) => {
    const { harness, sidecar } = setup();
    const goodRoute = sidecar.config.routes.get("good");
    if (!goodRoute) throw new Error("no good route");
    await eventually(
      () => sidecar.hub.source(goodRoute).isAvailable(),
      "the good route to connect",
    );
    const client = await openSse({
      port: sidecar.port,
      path: "/auth-check",
      headers: { "X-Nuts-Route": "good" },
    });
    open.push(client);
    expect(client.status).toBe(200);
    await client.waitForEvents(1);

    const seq = (await harness.js.publish("events.auth-check", `{"mode":"${mode}"}`)).seq;
    const [message] = await client.waitForMessages(1);
    expect(message?.id).toBe(String(seq));
    expect(message?.data).toMatch(
      new RegExp(`^\\{"topic":"auth-check","payload":\\{"mode":"${mode}"\\},"time":"[^"]+"\\}$`),
    );
  });

  it.for(["bad", "none"])(
    "refuses requests on a route with %s credentials as nats_unavailable",
    async (route, { expect }) => {
      const { port } = setup().sidecar;
      const [eventSource, other] = await Promise.all([
        fetchAll({
          port,
          path: "/auth-check",
          headers: { "X-Nuts-Route": route, Accept: "text/event-stream" },
        }),
        fetchAll({ port, path: "/auth-check", headers: { "X-Nuts-Route": route } }),
      ]);
      expect(eventSource.status).toBe(200);
      expect(eventSource.body).toBe(
        `event: unavailable\nretry: 1000\ndata: ${NATS_UNAVAILABLE}\n\n`,
      );
      expect(other.status).toBe(503);
      expect(other.headers["retry-after"]).toBe("1");
      expect(other.body).toBe(NATS_UNAVAILABLE);
    },
  );
});
