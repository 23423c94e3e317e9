import { readFile, stat } from "node:fs/promises";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { createAccount, createUser, encodeUser, fmtCreds } from "@nats-io/jwt";
import {
  AuthorizationError,
  type ConnectionOptions,
  connect,
  credsAuthenticator,
  type NatsConnection,
} from "@nats-io/transport-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type NatsServer, natsServerBinary, startNatsServer } from "./nats-server.js";

const openConnections: NatsConnection[] = [];

async function connectTo(options: ConnectionOptions): Promise<NatsConnection> {
  // One attempt only: a refused client should fail now, not retry.
  const nc = await connect({ reconnect: false, maxReconnectAttempts: 0, ...options });
  openConnections.push(nc);
  return nc;
}

afterEach(async () => {
  await Promise.all(openConnections.splice(0).map((nc) => nc.close()));
});

/** Creates a stream and stores one message in it: proof that JetStream works for this client. */
async function createStreamAndPublish(nc: NatsConnection, name: string): Promise<number> {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name, subjects: [`${name.toLowerCase()}.>`] });
  const ack = await jetstream(nc).publish(`${name.toLowerCase()}.one`, "hello");
  return ack.seq;
}

describe("natsServerBinary", () => {
  it("finds the project's nats-server", () => {
    expect(natsServerBinary()).toMatch(/\.tools\/bin\/nats-server$|^nats-server$/);
  });
});

describe("without authentication", () => {
  let server: NatsServer;
  beforeAll(async () => {
    server = await startNatsServer();
  });
  afterAll(() => server.stop());

  it("listens on 127.0.0.1 on the port it reports", () => {
    expect(server.url).toBe(`nats://127.0.0.1:${server.port}`);
    expect(server.connectOptions()).toEqual({ servers: server.url });
  });

  it("serves JetStream in its store dir", async () => {
    const nc = await connectTo(server.connectOptions());
    expect(await createStreamAndPublish(nc, "PLAIN")).toBe(1);
    expect((await stat(server.storeDir)).isDirectory()).toBe(true);
  });
});

describe("token authentication", () => {
  let server: NatsServer;
  beforeAll(async () => {
    server = await startNatsServer({ auth: { type: "token", token: "s3cret" } });
  });
  afterAll(() => server.stop());

  it("lets the right token in, with JetStream", async () => {
    expect(server.connectOptions()).toEqual({ servers: server.url, token: "s3cret" });
    const nc = await connectTo(server.connectOptions());
    expect(await createStreamAndPublish(nc, "TOKEN")).toBe(1);
  });

  it("refuses a wrong token", async () => {
    await expect(connectTo({ servers: server.url, token: "wrong" })).rejects.toBeInstanceOf(
      AuthorizationError,
    );
  });

  it("refuses a client without a token", async () => {
    await expect(connectTo({ servers: server.url })).rejects.toBeInstanceOf(AuthorizationError);
  });
});

describe("user and password authentication", () => {
  let server: NatsServer;
  beforeAll(async () => {
    server = await startNatsServer({
      auth: { type: "user_password", user: "alice", password: 'pa ss"word' },
    });
  });
  afterAll(() => server.stop());

  it("lets the right user in, with JetStream", async () => {
    expect(server.connectOptions()).toEqual({
      servers: server.url,
      user: "alice",
      pass: 'pa ss"word',
    });
    const nc = await connectTo(server.connectOptions());
    expect(await createStreamAndPublish(nc, "USERPASS")).toBe(1);
  });

  it("refuses a wrong password", async () => {
    await expect(
      connectTo({ servers: server.url, user: "alice", pass: "nope" }),
    ).rejects.toBeInstanceOf(AuthorizationError);
  });

  it("refuses a client without credentials", async () => {
    await expect(connectTo({ servers: server.url })).rejects.toBeInstanceOf(AuthorizationError);
  });
});

describe("operator mode with a .creds file", () => {
  let server: NatsServer;
  beforeAll(async () => {
    server = await startNatsServer({ auth: { type: "credentials" } });
  });
  afterAll(() => server.stop());

  it("writes a private .creds file that gets in and can use JetStream", async () => {
    const credsFile = server.credsFile;
    if (!credsFile) throw new Error("no credsFile for auth type credentials");
    expect((await stat(credsFile)).mode & 0o777).toBe(0o600);

    const creds = await readFile(credsFile);
    expect(creds.toString()).toContain("-----BEGIN NATS USER JWT-----");
    const nc = await connectTo({ servers: server.url, authenticator: credsAuthenticator(creds) });
    expect(await createStreamAndPublish(nc, "CREDS")).toBe(1);
  });

  it("connectOptions() carries an authenticator for the same user", async () => {
    const nc = await connectTo(server.connectOptions());
    expect(await createStreamAndPublish(nc, "CREDS2")).toBe(1);
  });

  it("refuses a user signed by an account the server does not know", async () => {
    const stranger = createUser();
    const strangerJwt = await encodeUser("stranger", stranger, createAccount());
    const creds = fmtCreds(strangerJwt, stranger);
    await expect(
      connectTo({ servers: server.url, authenticator: credsAuthenticator(creds) }),
    ).rejects.toBeInstanceOf(AuthorizationError);
  });

  it("refuses a client without credentials", async () => {
    await expect(connectTo({ servers: server.url })).rejects.toBeInstanceOf(AuthorizationError);
  });
});

describe("restart", () => {
  it("keeps a file-backed stream's messages, on the same port", async () => {
    const server = await startNatsServer();
    try {
      const nc = await connectTo(server.connectOptions());
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: "KEEP", subjects: ["keep.>"] });
      const js = jetstream(nc);
      await js.publish("keep.a", "first");
      await js.publish("keep.b", "second");
      await nc.close();

      const portBefore = server.port;
      await server.restart();
      expect(server.port).toBe(portBefore);

      const again = await connectTo(server.connectOptions());
      const stream = await (await jetstreamManager(again)).streams.info("KEEP");
      expect(stream.state.messages).toBe(2);
      expect(stream.state.last_seq).toBe(2);
      const stored = await (await jetstreamManager(again)).streams.getMessage("KEEP", { seq: 2 });
      expect(stored?.string()).toBe("second");
    } finally {
      await server.stop();
    }
  });
});

describe("pause and resume", () => {
  it("stops answering while paused and answers again after resume", async () => {
    const server = await startNatsServer({ jetstream: false });
    try {
      const nc = await connectTo({ ...server.connectOptions(), timeout: 5_000 });
      expect(await nc.rtt()).toBeGreaterThanOrEqual(0);

      server.pause();
      const whilePaused = await Promise.race([
        nc.flush().then(() => "answered"),
        new Promise((resolve) => setTimeout(() => resolve("silent"), 500)),
      ]);
      expect(whilePaused).toBe("silent");

      server.resume();
      await nc.flush();
      expect(nc.isClosed()).toBe(false);
    } finally {
      await server.stop();
    }
  });
});

describe("stop", () => {
  it("is idempotent, removes the store dir and frees the port", async () => {
    const server = await startNatsServer();
    await server.stop();
    await server.stop();
    await expect(stat(server.storeDir)).rejects.toMatchObject({ code: "ENOENT" });
    await expect(connectTo({ servers: server.url })).rejects.toThrow();
  });
});
