import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type NatsServer, startNatsServer } from "../testing/nats-server.js";
import { buildNuts, runNuts } from "../testing/nuts-cli.js";

let server: NatsServer;
let nc: NatsConnection;

beforeAll(async () => {
  [server] = await Promise.all([startNatsServer(), buildNuts()]);
  nc = await connect(server.connectOptions());
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: "EVENTS", subjects: ["events.>"] });
  await jsm.streams.add({ name: "AUDIT", subjects: ["audit.>"] });
});

afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

function pub(args: string[], input?: string) {
  return runNuts(["pub", ...args, "--server", server.url], input === undefined ? {} : { input });
}

async function storedData(stream: string, seq: number): Promise<string | undefined> {
  const message = await (await jetstreamManager(nc)).streams.getMessage(stream, { seq });
  return message?.string();
}

// The tests share one stream and run in order, so sequence numbers are exact.
describe("nuts pub", () => {
  it("publishes through JetStream and prints the stream and sequence", async () => {
    const result = await pub(["events.orders", "hello"]);

    expect(result).toEqual({
      code: 0,
      stdout: "published to events.orders: stream EVENTS seq 1\n",
      stderr: "",
    });
    expect(await storedData("EVENTS", 1)).toBe("hello");
  });

  it("publishes --count times, one line per message", async () => {
    const result = await pub(["events.orders", "again", "--count", "3"]);

    expect(result).toEqual({
      code: 0,
      stdout: [
        "published to events.orders: stream EVENTS seq 2",
        "published to events.orders: stream EVENTS seq 3",
        "published to events.orders: stream EVENTS seq 4",
        "",
      ].join("\n"),
      stderr: "",
    });
    expect(await storedData("EVENTS", 4)).toBe("again");
  });

  it("names the stream that captured the subject", async () => {
    const result = await pub(["audit.login", "x"]);
    expect(result.stdout).toBe("published to audit.login: stream AUDIT seq 1\n");
  });

  it("reads the data from stdin when it is -", async () => {
    const body = '{"id": 7,\n "note": "two lines"}\n';
    const result = await pub(["events.stdin", "-"], body);

    expect(result.stdout).toBe("published to events.stdin: stream EVENTS seq 5\n");
    expect(await storedData("EVENTS", 5)).toBe(body);
  });

  it("says which stream to create when none captures the subject", async () => {
    const result = await pub(["x.y", "lost"]);

    expect(result).toEqual({
      code: 1,
      stdout: "",
      stderr:
        "nuts: no stream captures subject \"x.y\"; create one with `nuts stream add NAME --subjects 'x.>'`\n",
    });
    const info = await (await jetstreamManager(nc)).streams.info("EVENTS");
    expect(info.state.last_seq).toBe(5);
  });

  it.each(["0", "two", "-1"])("rejects --count %s", async (count) => {
    const result = await pub(["events.orders", "x", "--count", count]);
    expect(result).toEqual({
      code: 1,
      stdout: "",
      stderr: `nuts: --count takes a positive whole number, got "${count}"\n`,
    });
  });

  it("says when nats-server is not running", async () => {
    const gone = await startNatsServer({ jetstream: false });
    await gone.stop();
    const result = await runNuts(["pub", "events.a", "x", "--server", gone.url]);
    expect(result).toEqual({
      code: 1,
      stdout: "",
      stderr: `nuts: cannot reach NATS at ${gone.url}: is nats-server running?\n`,
    });
  });
});

describe("nuts pub authentication", () => {
  /** A server with one stream, for the given auth; stopped after the test. */
  async function securedServer(auth: Parameters<typeof startNatsServer>[0]): Promise<NatsServer> {
    const secured = await startNatsServer(auth);
    const client = await connect(secured.connectOptions());
    await (await jetstreamManager(client)).streams.add({ name: "SECURE", subjects: ["secure.>"] });
    await client.close();
    return secured;
  }

  describe("token", () => {
    let secured: NatsServer;
    beforeAll(async () => {
      secured = await securedServer({ auth: { type: "token", token: "s3cret" } });
    });
    afterAll(() => secured.stop());

    it("publishes with --token", async () => {
      const result = await runNuts([
        ...["pub", "secure.a", "x"],
        ...["--server", secured.url, "--token", "s3cret"],
      ]);
      expect(result.stdout).toBe("published to secure.a: stream SECURE seq 1\n");
    });

    it("publishes with NATS_URL and NATS_TOKEN", async () => {
      const result = await runNuts(["pub", "secure.a", "x"], {
        env: { NATS_URL: secured.url, NATS_TOKEN: "s3cret" },
      });
      expect(result.stdout).toBe("published to secure.a: stream SECURE seq 2\n");
    });

    it("says a wrong token was refused", async () => {
      const result = await runNuts([
        ...["pub", "secure.a", "x"],
        ...["--server", secured.url, "--token", "wrong"],
      ]);
      expect(result).toEqual({
        code: 1,
        stdout: "",
        stderr: `nuts: NATS at ${secured.url} refused the credentials given with --token (Authorization Violation)\n`,
      });
    });

    it("refuses two ways of authenticating at once", async () => {
      const result = await runNuts([
        ...["pub", "secure.a", "x", "--server", secured.url],
        ...["--token", "s3cret", "--user", "a", "--password", "b"],
      ]);
      expect(result).toEqual({
        code: 1,
        stdout: "",
        stderr:
          "nuts: --token and --user/--password cannot be combined; pick one way to authenticate\n",
      });
    });
  });

  describe("user and password", () => {
    let secured: NatsServer;
    beforeAll(async () => {
      secured = await securedServer({
        auth: { type: "user_password", user: "alice", password: "wonder" },
      });
    });
    afterAll(() => secured.stop());

    it("publishes with --user and --password", async () => {
      const result = await runNuts([
        ...["pub", "secure.a", "x", "--server", secured.url],
        ...["--user", "alice", "--password", "wonder"],
      ]);
      expect(result.stdout).toBe("published to secure.a: stream SECURE seq 1\n");
    });

    it("needs both", async () => {
      const result = await runNuts([
        "pub",
        "secure.a",
        "x",
        "--server",
        secured.url,
        "--user",
        "alice",
      ]);
      expect(result).toEqual({ code: 1, stdout: "", stderr: "nuts: --user needs --password\n" });
    });
  });

  describe("creds file", () => {
    let secured: NatsServer;
    beforeAll(async () => {
      secured = await securedServer({ auth: { type: "credentials" } });
    });
    afterAll(() => secured.stop());

    it("publishes with --creds", async () => {
      const result = await runNuts([
        ...["pub", "secure.a", "x", "--server", secured.url],
        ...["--creds", secured.credsFile ?? ""],
      ]);
      expect(result.stdout).toBe("published to secure.a: stream SECURE seq 1\n");
    });

    it("says when the creds file is missing", async () => {
      const result = await runNuts([
        ...["pub", "secure.a", "x", "--server", secured.url],
        ...["--creds", "/nonexistent/user.creds"],
      ]);
      expect(result).toEqual({
        code: 1,
        stdout: "",
        stderr: "nuts: cannot read --creds file /nonexistent/user.creds: no such file\n",
      });
    });
  });
});
