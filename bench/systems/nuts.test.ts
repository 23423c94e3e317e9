/**
 * The bench's HTTP/1.1-hop system (nuts-caddy-http1): the adapter's h2c block is removed, or the
 * system refuses to start, and a real Caddy then holds one upstream connection per stream.
 */
import { readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect as connectNats, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { adaptCaddyfile } from "../../caddy/index.js";
import { type NatsServer, startNatsServer } from "../../testing/nats-server.js";
import { buildNuts } from "../../testing/nuts-cli.js";
import { NatsPublisher } from "../publisher.js";
import { requireHttp1Upstreams, startNutsViaCaddyHttp1, withoutH2c } from "./nuts.js";
import type { RunningSystem } from "./system.js";

const repoRoot = join(import.meta.dirname, "..", "..");

const CADDYFILE = `http://127.0.0.1:8080 {
\troute /events* {
\t\tnuts {
\t\t\tstream_name EVENTS
\t\t\ttopic_prefix events.
\t\t}
\t}
}
`;

describe("withoutH2c", () => {
  it("removes the adapter's transport block and nothing else", async () => {
    const adapted = await adaptCaddyfile(CADDYFILE, "Caddyfile", { listen: "unix:/run/n.sock" });
    if (adapted.caddy.format !== "caddyfile") throw new Error("expected a Caddyfile");
    const text = adapted.caddy.text;
    expect(text).toContain("\t\t\ttransport http {\n\t\t\t\tversions h2c\n\t\t\t}\n");
    expect(withoutH2c(text)).toBe(
      text.replace("\t\t\ttransport http {\n\t\t\t\tversions h2c\n\t\t\t}\n", ""),
    );
  });

  it("refuses a Caddyfile without the block, so the system cannot become nuts-caddy", () => {
    expect(() => withoutH2c("reverse_proxy unix//run/n.sock {\n\tflush_interval -1\n}\n")).toThrow(
      'expected one "transport http { versions h2c }" block in the adapted Caddyfile, found 0',
    );
  });
});

describe("requireHttp1Upstreams", () => {
  const proxy = (transport: object) => ({
    apps: {
      http: {
        servers: {
          srv0: {
            routes: [
              {
                handle: [
                  { handler: "reverse_proxy", upstreams: [{ dial: "unix//s.sock" }], ...transport },
                ],
              },
            ],
          },
        },
      },
    },
  });

  it("accepts Caddy's default transport and refuses h2c", () => {
    expect(() => requireHttp1Upstreams(proxy({}), "unix//s.sock")).not.toThrow();
    expect(() =>
      requireHttp1Upstreams(
        proxy({ transport: { protocol: "http", versions: ["h2c"] } }),
        "unix//s.sock",
      ),
    ).toThrow("a reverse_proxy in Caddy's adapted config is not HTTP/1.1 to unix//s.sock");
    expect(() => requireHttp1Upstreams({}, "unix//s.sock")).toThrow("has no reverse_proxy");
  });
});

describe("nuts-caddy-http1 against a real Caddy and sidecar", () => {
  let nats: NatsServer;
  let connection: NatsConnection;
  let system: RunningSystem;
  const clients: Socket[] = [];

  beforeAll(async () => {
    await buildNuts();
    nats = await startNatsServer();
    connection = await connectNats({ servers: nats.url });
    const jsm = await jetstreamManager(connection);
    await jsm.streams.add({ name: "EVENTS", subjects: ["events.>"] });
    system = await startNutsViaCaddyHttp1({
      repoRoot,
      natsUrl: nats.url,
      streamName: "EVENTS",
      topicPrefix: "events.",
      publisher: new NatsPublisher(connection, "events."),
    });
  }, 60_000);

  afterAll(async () => {
    for (const client of clients) client.destroy();
    await system?.stop();
    await connection?.close();
    await nats?.stop();
  });

  it("holds one upstream connection to the sidecar per stream", async () => {
    const streams = 5;
    for (let index = 0; index < streams; index++) clients.push(await openStream(system.port));
    const sidecarSocket = sidecarSocketOf(system);
    // Caddy may still be closing the connection of the start-up probe.
    const deadline = Date.now() + 10_000;
    let count = upstreamConnections(sidecarSocket);
    while (count !== streams && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      count = upstreamConnections(sidecarSocket);
    }
    expect(count, `connections accepted on ${sidecarSocket} with ${streams} streams open`).toBe(
      streams,
    );
  });
});

/** An event stream through Caddy, once its response head says 200. */
function openStream(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port });
    let head = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no response head within 10 s; got ${JSON.stringify(head)}`));
    }, 10_000);
    socket.on("error", reject);
    socket.on("data", (chunk: Buffer) => {
      if (head.includes("\r\n\r\n")) return;
      head += chunk.toString("latin1");
      if (!head.includes("\r\n")) return;
      clearTimeout(timer);
      if (head.startsWith("HTTP/1.1 200")) resolve(socket);
      else reject(new Error(`expected 200, got ${head.split("\r\n")[0]}`));
    });
    socket.write(
      "GET /events?topic=demo HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n",
    );
  });
}

/** The sidecar's socket, from the sidecar's command line (`--listen unix:<path>`). */
function sidecarSocketOf(system: RunningSystem): string {
  const pid = system.processes().sidecar?.[0];
  const args = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
  const listen = args[args.indexOf("--listen") + 1] ?? "";
  if (!listen.startsWith("unix:")) throw new Error(`the sidecar listens on ${listen}`);
  return listen.slice("unix:".length);
}

/** Connected sockets bound to `path` in /proc/net/unix: the ones the sidecar accepted. */
function upstreamConnections(path: string): number {
  return readFileSync("/proc/net/unix", "utf8")
    .split("\n")
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields[7] === path && fields[5] === "03").length;
}
