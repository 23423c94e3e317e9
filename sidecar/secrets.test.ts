/**
 * Secrets never leak. A sidecar on a unix socket (mode 0600) serves a route that logs in to a
 * token-protected nats-server and checks subscriber JWTs with an HMAC secret, and a route with
 * the wrong NATS token; every log line and every response (status, headers, body) of a set of
 * good, bad and refused requests is kept, and so are the files and output of `nuts adapt` for
 * a Caddyfile that holds the secrets. Only sidecar.json (mode 0600) may contain them.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildNuts, runNuts } from "../testing/nuts-cli.js";
import { type Harness, startHarness, startTestSidecar } from "../testing/sidecar-harness.js";
import { eventually } from "../testing/sse-client.js";
import { ConfigError, resolveConfig } from "./config.js";
import { createLogger } from "./log.js";
import { type RunningSidecar, startSidecar } from "./server.js";

const NATS_TOKEN = "natsTOKENzq81secretvalue";
const WRONG_NATS_TOKEN = "wrongNATStokenzq83secretvalue";
const HMAC_KEY = "hmacKEYzq82secretvalue-0123456789abcdef";
const NATS_PASSWORD = "natsPASSWORDzq84secretvalue";
const SECRETS = [NATS_TOKEN, WRONG_NATS_TOKEN, HMAC_KEY, NATS_PASSWORD];

let harness: Harness;
let dir: string;
let socketPath: string;
let socketMode: number;
let sidecar: RunningSidecar | undefined;
const logLines: string[] = [];
/** Every response, written out as a client would see it. */
const transcript: string[] = [];

interface Exchange {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * One request over the unix socket, read to its end, or (for a stream) until `until` holds;
 * `whileOpen` runs once the status is in, for a stream that needs a message published.
 */
function exchange(
  path: string,
  headers: Record<string, string>,
  options: {
    method?: string;
    body?: string;
    until?: (text: string) => boolean;
    whileOpen?: () => Promise<unknown>;
  } = {},
): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    // A fresh connection per request, as the SSE client does.
    const req = request({
      socketPath,
      path,
      method: options.method ?? "GET",
      headers,
      agent: false,
    });
    req.once("error", reject);
    req.once("response", (res) => {
      let body = "";
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        const result = { status: res.statusCode ?? 0, headers: res.headers, body };
        transcript.push(
          `${options.method ?? "GET"} ${path} -> ${result.status}\n${JSON.stringify(res.headers)}\n${body}`,
        );
        req.destroy();
        resolve(result);
      };
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        body += chunk;
        if (options.until?.(body)) finish();
      });
      res.on("end", finish);
      res.on("close", finish);
      options.whileOpen?.().catch(reject);
    });
    req.end(options.body);
  });
}

/** A token for `claims`; they expire in five minutes unless they say otherwise. */
function hmacToken(claims: Record<string, unknown>, secret = HMAC_KEY): Promise<string> {
  return new SignJWT({ exp: Math.floor(Date.now() / 1000) + 300, ...claims })
    .setProtectedHeader({ alg: "HS256" })
    .sign(new TextEncoder().encode(secret));
}

beforeAll(async () => {
  harness = await startHarness({ server: { auth: { type: "token", token: NATS_TOKEN } } });
  dir = await mkdtemp(join(tmpdir(), "nuts-secrets-"));
  socketPath = join(dir, "nuts.sock");
  const common = {
    nats_url: harness.nats.url,
    stream_name: "EVENTS",
    topic_prefix: "events.",
    heartbeat_interval: 0,
    subscriber_jwt_key: HMAC_KEY,
  };
  sidecar = await startSidecar(
    resolveConfig({
      routes: {
        events: { ...common, nats_token: NATS_TOKEN },
        "wrong-nats": { ...common, nats_token: WRONG_NATS_TOKEN, reconnect_wait: 0.25 },
      },
    }),
    { type: "unix", path: socketPath },
    createLogger("debug", (line) => logLines.push(line)),
  );
  socketMode = (await stat(socketPath)).mode & 0o777;
  const events = sidecar.hub
    .allSources()
    .find(
      (each) =>
        each.transport.settings.auth.type === "token" &&
        each.transport.settings.auth.token === NATS_TOKEN,
    );
  await eventually(() => events?.isAvailable() === true, "the events route to connect");
});

afterAll(async () => {
  await sidecar?.stop();
  await harness?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("the sidecar", () => {
  it("listens on a unix socket that only its owner may use", () => {
    expect(socketMode).toBe(0o600);
  });

  it("answers good, bad and refused requests", async () => {
    const route = (name: string) => ({ "X-Nuts-Route": name });
    const good = await hmacToken({ subscribe: ["s"] });
    const streamed = await exchange(
      "/s",
      { ...route("events"), Authorization: `Bearer ${good}` },
      {
        until: (text) => text.includes("event: message"),
        whileOpen: () => harness.js.publish("events.s", '{"hello":"world"}'),
      },
    );
    expect(streamed.status).toBe(200);
    expect(streamed.body).toContain('"payload":{"hello":"world"}');

    const statuses = [
      await exchange("/s", route("events")),
      await exchange("/s", {
        ...route("events"),
        Authorization: `Bearer ${await hmacToken({ subscribe: ["s"] }, `x${HMAC_KEY}`)}`,
      }),
      await exchange("/s", {
        ...route("events"),
        Cookie: `nutsAuthorization=${await hmacToken({ subscribe: ["s"], exp: 1 })}`,
      }),
      await exchange("/other", { ...route("events"), Authorization: `Bearer ${good}` }),
      await exchange("/a%20b", { ...route("events"), Authorization: `Bearer ${good}` }),
      await exchange("/s?last-id=x", { ...route("events"), Authorization: `Bearer ${good}` }),
      await exchange("/s", route("nope")),
      await exchange("/s", route("events"), { method: "POST", body: "hi" }),
      await exchange("/s", route("events"), { method: "PUT", body: "hi" }),
      await exchange(
        "/s",
        { ...route("events"), Origin: "https://example.com" },
        {
          method: "OPTIONS",
        },
      ),
      await exchange("/s", { ...route("wrong-nats"), Authorization: `Bearer ${good}` }),
      await exchange("/s", {
        ...route("wrong-nats"),
        Authorization: `Bearer ${good}`,
        Accept: "text/event-stream",
      }),
    ].map((each) => each.status);
    expect(statuses).toEqual([401, 401, 401, 403, 400, 400, 404, 405, 405, 204, 503, 200]);
  });

  it("logged the failed NATS login (the path where a secret could slip in)", async () => {
    await eventually(
      () => logLines.some((line) => line.includes("cannot connect to NATS")),
      "a log line about the wrong token",
    );
  });

  it("puts no secret in any log line or response, through to shutdown", async () => {
    await sidecar?.stop();
    sidecar = undefined;
    expect(logLines.length).toBeGreaterThan(3);
    expect(transcript.length).toBe(13);
    const everything = [...logLines, ...transcript].join("\n");
    for (const secret of SECRETS) expect(everything).not.toContain(secret);
  });
});

describe("nuts adapt", () => {
  let out: string;
  let result: Awaited<ReturnType<typeof runNuts>>;

  beforeAll(async () => {
    await buildNuts();
    const caddyfile = join(dir, "Caddyfile");
    out = join(dir, "out");
    await writeFile(
      caddyfile,
      [
        ":8080 {",
        "\troute /events* {",
        "\t\tnuts {",
        "\t\t\tnats_url nats://127.0.0.1:4222",
        "\t\t\tstream_name EVENTS",
        "\t\t\ttopic_prefix events.",
        `\t\t\tnats_token ${NATS_TOKEN}`,
        `\t\t\tsubscriber_jwt_key ${HMAC_KEY}`,
        "\t\t}",
        "\t}",
        "\troute /private* {",
        "\t\tnuts {",
        "\t\t\tstream_name EVENTS",
        "\t\t\tnats_user alice",
        `\t\t\tnats_password ${NATS_PASSWORD}`,
        "\t\t}",
        "\t}",
        "}",
        "",
      ].join("\n"),
    );
    result = await runNuts(["adapt", "--config", caddyfile, "--out", out]);
  }, 120_000);

  it("succeeds", () => {
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
  });

  it("writes the secrets to sidecar.json only, mode 0600", async () => {
    const sidecarJson = await readFile(join(out, "sidecar.json"), "utf8");
    expect((await stat(join(out, "sidecar.json"))).mode & 0o777).toBe(0o600);
    expect(JSON.parse(sidecarJson)).toEqual({
      routes: {
        events: {
          nats_url: "nats://127.0.0.1:4222",
          stream_name: "EVENTS",
          topic_prefix: "events.",
          nats_token: NATS_TOKEN,
          subscriber_jwt_key: HMAC_KEY,
          path_prefix: "/events",
        },
        private: {
          stream_name: "EVENTS",
          nats_user: "alice",
          nats_password: NATS_PASSWORD,
          path_prefix: "/private",
        },
      },
    });
  });

  it("keeps them out of the Caddy config and the command's output", async () => {
    const caddy = await readFile(join(out, "Caddyfile"), "utf8");
    expect(caddy).toContain("X-Nuts-Route");
    expect((await stat(join(out, "Caddyfile"))).mode & 0o777).toBe(0o600);
    for (const secret of [NATS_TOKEN, HMAC_KEY, NATS_PASSWORD]) {
      expect(caddy).not.toContain(secret);
      expect(result.stdout).not.toContain(secret);
    }
  });
});

describe("a credentials file that cannot be read", () => {
  // An unreadable nats_credentials file is reported without its path.
  it("is reported without its path", async () => {
    const lines: string[] = [];
    const own = await startTestSidecar(
      {
        routes: {
          creds: {
            nats_url: harness.nats.url,
            stream_name: "EVENTS",
            nats_credentials: join(dir, "credsPATHzq88.creds"),
          },
        },
      },
      createLogger("debug", (line) => lines.push(line)),
    );
    try {
      await eventually(
        () => lines.some((line) => line.includes("cannot connect to NATS")),
        "the failed connection to be logged",
      );
    } finally {
      await own.stop();
    }
    expect(lines.join("")).not.toContain("credsPATHzq88");
  });
});

describe("configuration errors about secret options", () => {
  // A secret option of the wrong type is refused without echoing its value.
  it("do not echo a malformed secret value", () => {
    for (const options of [
      { nats_token: 918273645 },
      { nats_password: ["pw-zq86"], nats_user: "u" },
      { subscriber_jwt_key: { key: "hmac-zq87" } },
    ]) {
      let message = "";
      try {
        resolveConfig({ routes: { r: { stream_name: "E", ...options } } });
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        message = (error as Error).message;
      }
      expect(message).not.toBe("");
      expect(message).not.toMatch(/918273645|zq86|zq87/);
    }
  });
});
