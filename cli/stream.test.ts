import { jetstream, jetstreamManager, type StreamConfig } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type NatsServer, startNatsServer } from "../testing/nats-server.js";
import { buildNuts, runNuts } from "../testing/nuts-cli.js";

const DEFAULTS_SUMMARY =
  "file storage, limits retention, max_msgs unlimited, max_msgs_per_subject unlimited, max_age unlimited, discard old";

let server: NatsServer;
let nc: NatsConnection;

beforeAll(async () => {
  [server] = await Promise.all([startNatsServer(), buildNuts()]);
  nc = await connect(server.connectOptions());
});

afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

function streamAdd(...args: string[]) {
  return runNuts(["stream", "add", ...args, "--server", server.url]);
}

async function configOf(name: string): Promise<StreamConfig> {
  return (await (await jetstreamManager(nc)).streams.info(name)).config;
}

async function streamExists(name: string): Promise<boolean> {
  const jsm = await jetstreamManager(nc);
  const names: string[] = [];
  for await (const existing of jsm.streams.names()) names.push(existing);
  return names.includes(name);
}

describe("nuts stream add", () => {
  it("creates a stream with the defaults and prints a summary", async () => {
    const result = await streamAdd("EVENTS", "--subjects", "events.>");

    expect(result).toEqual({
      code: 0,
      stdout: `created stream EVENTS: subjects ["events.>"], ${DEFAULTS_SUMMARY}\n`,
      stderr: "",
    });
    expect(await configOf("EVENTS")).toMatchObject({
      subjects: ["events.>"],
      storage: "file",
      retention: "limits",
      max_msgs: -1,
      max_msgs_per_subject: -1,
      max_age: 0,
      discard: "old",
    });
  });

  it("applies every flag", async () => {
    const result = await streamAdd(
      "JOBS",
      "--subjects",
      "jobs.>",
      "tasks.*",
      "--storage",
      "memory",
      "--retention",
      "workqueue",
      "--max-msgs",
      "1000",
      "--max-msgs-per-subject",
      "5",
      "--max-age",
      "7d",
      "--discard",
      "new",
    );

    expect(result).toEqual({
      code: 0,
      stdout:
        'created stream JOBS: subjects ["jobs.>","tasks.*"], memory storage, workqueue retention, max_msgs 1000, max_msgs_per_subject 5, max_age 7d, discard new\n',
      stderr: "",
    });
    expect(await configOf("JOBS")).toMatchObject({
      subjects: ["jobs.>", "tasks.*"],
      storage: "memory",
      retention: "workqueue",
      max_msgs: 1000,
      max_msgs_per_subject: 5,
      max_age: 7 * 86_400 * 1_000_000_000,
      discard: "new",
    });
  });

  it.each([
    ["90s", 90],
    ["30m", 1_800],
    ["24h", 86_400],
  ])("reads --max-age %s as %i seconds", async (maxAge, seconds) => {
    const name = `AGE_${maxAge}`;
    const result = await streamAdd(name, "--subjects", `age${maxAge}.>`, "--max-age", maxAge);
    expect(result.code).toBe(0);
    expect((await configOf(name)).max_age).toBe(seconds * 1_000_000_000);
  });

  it("succeeds without touching a stream that already has these settings", async () => {
    await streamAdd("KEEP", "--subjects", "keep.>", "--max-age", "24h");
    await jetstream(nc).publish("keep.one", "still here");

    // 1d is the same age as 24h: equal settings, however they are spelled.
    const again = await streamAdd("KEEP", "--subjects", "keep.>", "--max-age", "1d");

    expect(again).toEqual({
      code: 0,
      stdout: "stream KEEP already exists with these settings\n",
      stderr: "",
    });
    const info = await (await jetstreamManager(nc)).streams.info("KEEP");
    expect(info.state.messages).toBe(1);
  });

  it("refuses to change a stream with other settings and says what differs", async () => {
    await streamAdd("ORDERS", "--subjects", "a.>");

    const result = await streamAdd("ORDERS", "--subjects", "orders.>", "--max-age", "24h");

    expect(result).toEqual({
      code: 1,
      stdout: "",
      stderr:
        'nuts: stream ORDERS exists with different settings: subjects is ["a.>"], not ["orders.>"]; max_age is 0, not 24h\n',
    });
    expect(await configOf("ORDERS")).toMatchObject({ subjects: ["a.>"], max_age: 0 });
  });

  it("names every differing setting", async () => {
    await streamAdd("ALL", "--subjects", "all.>");

    const result = await streamAdd(
      "ALL",
      "--subjects",
      "all.>",
      "--storage",
      "memory",
      "--retention",
      "interest",
      "--max-msgs",
      "10",
      "--max-msgs-per-subject",
      "2",
      "--discard",
      "new",
    );

    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      "nuts: stream ALL exists with different settings: storage is file, not memory; retention is limits, not interest; max_msgs is unlimited, not 10; max_msgs_per_subject is unlimited, not 2; discard is old, not new\n",
    );
  });

  it("treats subjects listed in another order as the same", async () => {
    await streamAdd("PAIR", "--subjects", "left.>", "right.>");
    const result = await streamAdd("PAIR", "--subjects", "right.>", "left.>");
    expect(result.stdout).toBe("stream PAIR already exists with these settings\n");
  });

  it.each([
    [
      ["--max-msgs", "ten"],
      'nuts: --max-msgs takes a positive whole number or "unlimited", got "ten"\n',
    ],
    [
      ["--max-msgs-per-subject", "0"],
      'nuts: --max-msgs-per-subject takes a positive whole number or "unlimited", got "0"\n',
    ],
    [["--storage", "disk"], 'nuts: --storage takes file or memory, got "disk"\n'],
    [
      ["--retention", "forever"],
      'nuts: --retention takes limits, interest or workqueue, got "forever"\n',
    ],
    [["--discard", "none"], 'nuts: --discard takes old or new, got "none"\n'],
    [
      ["--max-age", "3x"],
      'nuts: --max-age takes a whole number followed by s, m, h or d (like 90s, 30m, 24h, 7d), or "unlimited", got "3x"\n',
    ],
    [
      ["--max-age", "1.5h"],
      'nuts: --max-age takes a whole number followed by s, m, h or d (like 90s, 30m, 24h, 7d), or "unlimited", got "1.5h"\n',
    ],
  ])("rejects %j with one sentence and exit code 1", async (flags, message) => {
    const result = await streamAdd("BAD", "--subjects", "bad.>", ...flags);

    expect(result).toEqual({ code: 1, stdout: "", stderr: message });
    expect(await streamExists("BAD")).toBe(false);
  });

  it("requires --subjects", async () => {
    const result = await streamAdd("NOSUBJECTS");
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("required option '--subjects <subject...>' not specified");
  });

  it("explains a stream name the server cannot take", async () => {
    const result = await streamAdd("bad.name", "--subjects", "q.>");
    expect(result).toEqual({
      code: 1,
      stdout: "",
      stderr: "nuts: cannot create stream bad.name: stream name ('bad.name') cannot contain '.'\n",
    });
  });

  it("names the stream whose subjects overlap", async () => {
    await streamAdd("FIRST", "--subjects", "shared.>");
    const result = await streamAdd("SECOND", "--subjects", "shared.orders");
    expect(result).toEqual({
      code: 1,
      stdout: "",
      stderr:
        'nuts: cannot create stream SECOND: its subjects ["shared.orders"] overlap with those of stream FIRST; pick other subjects or remove that stream\n',
    });
    expect(await streamExists("SECOND")).toBe(false);
  });

  it("takes the server from NATS_URL", async () => {
    const result = await runNuts(["stream", "add", "FROMENV", "--subjects", "fromenv.>"], {
      env: { NATS_URL: server.url },
    });
    expect(result.code).toBe(0);
    expect(await streamExists("FROMENV")).toBe(true);
  });
});

describe("nuts stream add against other servers", () => {
  it("says when nats-server is not running", async () => {
    const gone = await startNatsServer({ jetstream: false });
    await gone.stop();

    const result = await runNuts(["stream", "add", "X", "--subjects", "x.>", "--server", gone.url]);

    expect(result).toEqual({
      code: 1,
      stdout: "",
      stderr: `nuts: cannot reach NATS at ${gone.url}: is nats-server running?\n`,
    });
  });

  it("says when JetStream is off", async () => {
    const plain = await startNatsServer({ jetstream: false });
    try {
      const result = await runNuts([
        "stream",
        "add",
        "X",
        "--subjects",
        "x.>",
        "--server",
        plain.url,
      ]);
      expect(result).toEqual({
        code: 1,
        stdout: "",
        stderr: `nuts: JetStream is not enabled on the NATS server at ${plain.url}; start nats-server with -js (or a jetstream block in its config)\n`,
      });
    } finally {
      await plain.stop();
    }
  });

  describe("with token authentication", () => {
    let secured: NatsServer;
    beforeAll(async () => {
      secured = await startNatsServer({ auth: { type: "token", token: "s3cret" } });
    });
    afterAll(() => secured.stop());

    it("authenticates with --token", async () => {
      const result = await runNuts([
        ...["stream", "add", "SECURE", "--subjects", "secure.>"],
        ...["--server", secured.url, "--token", "s3cret"],
      ]);
      expect(result.code).toBe(0);
      expect(result.stdout).toBe(
        `created stream SECURE: subjects ["secure.>"], ${DEFAULTS_SUMMARY}\n`,
      );
    });

    it("authenticates with NATS_TOKEN", async () => {
      const result = await runNuts(["stream", "add", "SECURE2", "--subjects", "secure2.>"], {
        env: { NATS_URL: secured.url, NATS_TOKEN: "s3cret" },
      });
      expect(result.code).toBe(0);
    });

    it("says a wrong token was refused", async () => {
      const result = await runNuts([
        ...["stream", "add", "NOPE", "--subjects", "nope.>"],
        ...["--server", secured.url, "--token", "wrong"],
      ]);
      expect(result).toEqual({
        code: 1,
        stdout: "",
        stderr: `nuts: NATS at ${secured.url} refused the credentials given with --token (Authorization Violation)\n`,
      });
    });

    it("says credentials are needed when none were given", async () => {
      const result = await runNuts([
        ...["stream", "add", "NOPE", "--subjects", "nope.>"],
        ...["--server", secured.url],
      ]);
      expect(result).toEqual({
        code: 1,
        stdout: "",
        stderr: `nuts: NATS at ${secured.url} requires authentication (Authorization Violation); pass --token, --user and --password, or --creds\n`,
      });
    });
  });
});
