/**
 * `nuts run` as a user runs it: `node bin/nuts.js run --config Caddyfile` with the real caddy
 * and a real nats-server, an SSE client going through Caddy.
 */
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { cp, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { get } from "node:http";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type NatsServer, startNatsServer } from "../testing/nats-server.js";
import {
  buildNuts,
  eventsCaddyfile,
  type NutsRun,
  pathWithTools,
  runNuts,
  startNutsRun as startRun,
} from "../testing/nuts-cli.js";
import { childrenOf, freePort, isAlive } from "../testing/processes.js";
import { CADDY_NOT_FOUND } from "./caddy-config.js";
import { acceptsConnections } from "./runtime-dir.js";

const repoRoot = dirname(dirname(fileURLToPath(import.meta.url)));

let nats: NatsServer;
let nc: NatsConnection;
let workDir: string;
const running: NutsRun[] = [];

beforeAll(async () => {
  [nats] = await Promise.all([startNatsServer(), buildNuts()]);
  nc = await connect(nats.connectOptions());
  await (await jetstreamManager(nc)).streams.add({ name: "EVENTS", subjects: ["events.>"] });
  workDir = await mkdtemp(join(tmpdir(), "nuts-run-test-"));
});

afterEach(async () => {
  for (const run of running.splice(0)) await run.kill();
});

afterAll(async () => {
  await nc?.close();
  await nats?.stop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

describe("nuts run", () => {
  it("serves an SSE stream through Caddy and says where and what it serves", async () => {
    const port = await freePort();
    const run = await startNutsRun(await writeCaddyfile("stream", port));

    expect(run.stdout()).toContain(`nuts: serving http://localhost:${port}\n`);
    expect(run.stdout()).toContain(
      'nuts: route events: /events -> stream EVENTS, topic prefix "events." (',
    );
    const stream = await openStream(port, "orders");
    const ack = await jetstream(nc).publish("events.orders", "hello");
    const event = await stream.next("message");
    stream.close();

    expect(event.id).toBe(String(ack.seq));
    expect(JSON.parse(event.data)).toMatchObject({ topic: "orders", payload: "hello" });
  });

  it("starts the sidecar with its own V8 options, then the Node options it was started with", async () => {
    const config = await writeCaddyfile("node-options", await freePort());
    const run = await startRun(config, runtimeDirOf(config), 20_000, ["--max-old-space-size=123"]);
    running.push(run);
    const sidecar = childrenOf(run.pid).find((child) => child.role === "sidecar");
    const argv = readFileSync(`/proc/${sidecar?.pid}/cmdline`, "utf8").split("\0");

    expect(argv.slice(1, 5)).toEqual([
      "--max-semi-space-size=2",
      "--max-old-space-size=123",
      join(repoRoot, "bin", "nuts.js"),
      "sidecar",
    ]);
  });

  it("runs a Caddy JSON config the same way", async () => {
    const port = await freePort();
    const folder = join(workDir, "json");
    await mkdir(folder, { recursive: true });
    const config = join(folder, "caddy.json");
    const route = {
      match: [{ path: ["/events*"] }],
      handle: [
        { handler: "nuts", nats_url: nats.url, stream_name: "EVENTS", topic_prefix: "events." },
      ],
    };
    const servers = { srv0: { listen: [`:${port}`], routes: [route] } };
    await writeFile(config, JSON.stringify({ apps: { http: { servers } } }));
    const run = await startNutsRun(config);

    expect(run.stdout()).toContain(`nuts: serving http://localhost:${port}\n`);
    const stream = await openStream(port, "json");
    const ack = await jetstream(nc).publish("events.json", "from json");
    const event = await stream.next("message");
    stream.close();
    expect(event.id).toBe(String(ack.seq));
    expect(JSON.parse(event.data)).toMatchObject({ topic: "json", payload: "from json" });
  });

  it("keeps Caddy's admin endpoint in the runtime dir, so two can run side by side", async () => {
    const [portA, portB] = [await freePort(), await freePort()];
    const [runA, runB] = await Promise.all([
      startNutsRun(await writeCaddyfile("side-a", portA)),
      startNutsRun(await writeCaddyfile("side-b", portB)),
    ]);

    for (const run of [runA, runB]) {
      const adminSocket = join(run.runtimeDir, "caddy-admin.sock");
      expect(await acceptsConnections({ type: "unix", path: adminSocket })).toBe(true);
      expect(run.stdout()).toContain(`with admin unix/${adminSocket};`);
      expect((await stat(run.runtimeDir)).mode & 0o777).toBe(0o700);
      expect((await stat(join(run.runtimeDir, "sidecar.json"))).mode & 0o777).toBe(0o600);
    }
    const streamA = await openStream(portA, "side");
    const streamB = await openStream(portB, "side");
    const ack = await jetstream(nc).publish("events.side", "both");
    expect((await streamA.next("message")).id).toBe(String(ack.seq));
    expect((await streamB.next("message")).id).toBe(String(ack.seq));
    streamA.close();
    streamB.close();
  });

  it("stops Caddy and the sidecar on SIGTERM and exits 0, even with a stream open", async () => {
    const port = await freePort();
    const run = await startNutsRun(await writeCaddyfile("sigterm", port));
    const children = childrenOf(run.pid);
    expect(children.map((child) => child.role).sort()).toEqual(["caddy", "sidecar"]);
    const stream = await openStream(port, "orders");

    run.process.kill("SIGTERM");
    const exit = await run.exited;

    expect(exit).toEqual({ code: 0, signal: null });
    for (const child of children) expect(isAlive(child.pid)).toBe(false);
    expect(await stream.ended()).toBe(true);
    expect(run.stderr()).toContain("nuts: SIGTERM: stopping Caddy and the sidecar\n");
    expect(existsSync(join(run.runtimeDir, "nuts.sock"))).toBe(false);
  });

  it("restarts a sidecar that was killed, and streaming works again", async () => {
    const port = await freePort();
    const run = await startNutsRun(await writeCaddyfile("restart", port));
    const sidecar = childrenOf(run.pid).find((child) => child.role === "sidecar");
    if (!sidecar) throw new Error("no sidecar child");

    process.kill(sidecar.pid, "SIGKILL");
    await run.waitForStderr(/nuts: the sidecar is back \(pid (\d+)\)/);

    expect(run.stderr()).toContain(
      "nuts: the sidecar exited (signal SIGKILL); restarting it in 0.25 s (restart 1)\n",
    );
    const restarted = childrenOf(run.pid).find((child) => child.role === "sidecar");
    expect(restarted?.pid).toBeDefined();
    expect(restarted?.pid).not.toBe(sidecar.pid);
    const stream = await openStream(port, "after-restart");
    const ack = await jetstream(nc).publish("events.after-restart", "again");
    const event = await stream.next("message");
    stream.close();
    expect(event.id).toBe(String(ack.seq));
    expect(JSON.parse(event.data)).toMatchObject({ topic: "after-restart", payload: "again" });
  });

  it("reloads on SIGHUP: applies what changed, and keeps the old config when the new one is broken", async () => {
    const port = await freePort();
    const config = await writeCaddyfile("reload", port, '\trespond /hello "one"\n');
    const run = await startNutsRun(config);
    const sidecarPid = () => childrenOf(run.pid).find((child) => child.role === "sidecar")?.pid;
    const firstSidecar = sidecarPid();
    expect(await textAt(port, "/hello")).toBe("one");

    // Only Caddy's part changed: Caddy loads it, the sidecar and its streams stay.
    const before = await openStream(port, "reload");
    await writeCaddyfile("reload", port, '\trespond /hello "two"\n');
    run.process.kill("SIGHUP");
    await run.waitForStderr(
      /^nuts: reloaded .*\/reload\/Caddyfile: applied the new Caddy config; the sidecar config is unchanged, so it kept running$/m,
    );
    expect(await evenIfReset(() => textAt(port, "/hello"))).toBe("two");
    expect(sidecarPid()).toBe(firstSidecar);
    const ack = await jetstream(nc).publish("events.reload", "kept");
    expect((await before.next("message")).id).toBe(String(ack.seq));
    before.close();

    // A mistake: the error names file and line, and everything keeps running as it was.
    await writeFile(config, (await readFile(config, "utf8")).replace("events.", "events. oops"));
    run.process.kill("SIGHUP");
    await run.waitForStderr(
      /^nuts: reload failed, still running the previous config: .*\/reload\/Caddyfile:\d+: .*$/m,
    );
    expect(run.stderr()).toMatch(/previous config: \/\S+\/reload\/Caddyfile:6: /);
    expect(await textAt(port, "/hello")).toBe("two");
    expect(sidecarPid()).toBe(firstSidecar);

    // A second route: the sidecar is restarted with it, Caddy proxies it.
    const secondRoute = `\troute /more* {\n\t\tnuts {\n\t\t\tnats_url ${nats.url}\n\t\t\tstream_name EVENTS\n\t\t\ttopic_prefix events.\n\t\t}\n\t}\n`;
    await writeCaddyfile("reload", port, `\trespond /hello "three"\n${secondRoute}`);
    run.process.kill("SIGHUP");
    await run.waitForStderr(
      /^nuts: reloaded .*\/reload\/Caddyfile: restarted the sidecar and applied the new Caddy config$/m,
    );
    expect(sidecarPid()).not.toBe(firstSidecar);
    expect(await evenIfReset(() => textAt(port, "/hello"))).toBe("three");
    const more = await evenIfReset(() => openStream(port, "reload", "/more"));
    const events = await evenIfReset(() => openStream(port, "reload"));
    const next = await jetstream(nc).publish("events.reload", "both routes");
    expect((await more.next("message")).id).toBe(String(next.seq));
    expect((await events.next("message")).id).toBe(String(next.seq));
    more.close();
    events.close();

    // The same file again: nothing to do.
    run.process.kill("SIGHUP");
    await run.waitForStderr(/^nuts: reloaded .*\/reload\/Caddyfile: nothing changed$/m);
    expect(sidecarPid()).not.toBe(undefined);
  });

  it("exits 1 with Caddy's own error line when the port is in use, and stops the sidecar", async () => {
    const blocker = await occupyPort();
    const port = (blocker.address() as { port: number }).port;
    try {
      const config = await writeCaddyfile("port-in-use", port);
      const result = await runNuts(
        ["run", "--config", config, "--runtime-dir", runtimeDirOf(config)],
        {
          env: { PATH: pathWithTools() },
        },
      );

      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(
        new RegExp(
          `^nuts: caddy could not start: loading initial config: .*listen tcp :${port}: bind: address already in use$`,
          "m",
        ),
      );
      expect(result.stderr).not.toMatch(/^\s+at /m);
      expect(result.stdout).not.toContain("nuts: serving");
      expect(processesMentioning(runtimeDirOf(config))).toEqual([]);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  it("exits 1 with Caddy's own error line for a bad site block", async () => {
    const config = await writeCaddyfile("bad-site", await freePort(), "\tno_such_directive on\n");
    const result = await runNuts(
      ["run", "--config", config, "--runtime-dir", runtimeDirOf(config)],
      {
        env: { PATH: pathWithTools() },
      },
    );

    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /^nuts: caddy rejected the config adapted from .*\/bad-site\/Caddyfile: .*\/run\/Caddyfile:\d+: unrecognized directive: no_such_directive$/m,
    );
    expect(result.stderr).not.toMatch(/^\s+at /m);
  });

  it("says how to get caddy when there is none", async () => {
    // A copy of the CLI away from this checkout, so .tools/bin/caddy is not found either.
    const install = join(workDir, "install");
    await mkdir(install);
    await Promise.all([
      cp(join(repoRoot, "dist"), join(install, "dist"), { recursive: true }),
      cp(join(repoRoot, "bin"), join(install, "bin"), { recursive: true }),
      cp(join(repoRoot, "package.json"), join(install, "package.json")),
      symlink(join(repoRoot, "node_modules"), join(install, "node_modules")),
    ]);
    const config = await writeCaddyfile("no-caddy", await freePort());
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(
        process.execPath,
        [join(install, "bin", "nuts.js"), "run", "--config", config],
        {
          env: { PATH: "/nonexistent", HOME: workDir },
          stdio: ["ignore", "ignore", "pipe"],
        },
      );
      let stderr = "";
      child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
        stderr += chunk;
      });
      child.once("close", (code) => resolve({ code, stderr }));
    });

    expect(result).toEqual({ code: 1, stderr: `nuts: ${CADDY_NOT_FOUND}\n` });
  });

  it("rejects a --caddy path that is not an executable", async () => {
    const config = await writeCaddyfile("bad-flag", await freePort());
    const result = await runNuts(["run", "--config", config, "--caddy", "/no/such/caddy"]);

    expect(result).toEqual({
      code: 1,
      stdout: "",
      stderr: "nuts: --caddy /no/such/caddy: no executable file there\n",
    });
  });
});

// --- helpers -------------------------------------------------------------------------------

async function writeCaddyfile(name: string, port: number, extra = ""): Promise<string> {
  const folder = join(workDir, name);
  await mkdir(folder, { recursive: true });
  const file = join(folder, "Caddyfile");
  await writeFile(file, eventsCaddyfile(port, nats.url, extra));
  return file;
}

function runtimeDirOf(configFile: string): string {
  return join(dirname(configFile), "run");
}

/** Starts `nuts run` (its runtime dir beside the config); it is stopped after the test. */
async function startNutsRun(configFile: string): Promise<NutsRun> {
  const run = await startRun(configFile, runtimeDirOf(configFile));
  running.push(run);
  return run;
}

interface SseEventSeen {
  id: string | undefined;
  event: string;
  data: string;
}

interface SseStream {
  /** The next event of this type (earlier events of other types are skipped). */
  next(type: string): Promise<SseEventSeen>;
  close(): void;
  /** Reads on until the server ends the response; true unless we closed it ourselves. */
  ended(): Promise<boolean>;
}

/**
 * Tries again when the connection was reset before any answer. Right after a reload Caddy hands
 * its listener from the old config's server to the new one, and a connection accepted in that
 * instant can be reset (seen with caddy 2.11, about one reload in three under a request loop);
 * browsers and EventSource retry such a request, and so does this.
 */
async function evenIfReset<T>(request: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await request();
    } catch (error) {
      const code = (error as { cause?: { code?: string }; code?: string }).cause?.code;
      const reset = code === "UND_ERR_SOCKET" || (error as { code?: string }).code === "ECONNRESET";
      if (!reset || attempt === 3) throw error;
    }
  }
}

/**
 * The body of a plain GET through Caddy, on a connection of its own: a reload closes the idle
 * keep-alive connections of the old config, and fetch's pool could pick one that is closing.
 */
function textAt(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    get({ host: "127.0.0.1", port, path, agent: false }, (response) => {
      let body = "";
      response.setEncoding("utf8").on("data", (chunk: string) => {
        body += chunk;
      });
      response.once("end", () => resolve(body));
      response.once("error", reject);
    }).once("error", reject);
  });
}

/** GET <path>?topic=... through Caddy; resolves once the `connected` event has arrived. */
async function openStream(port: number, topic: string, path = "/events"): Promise<SseStream> {
  const abort = new AbortController();
  const response = await fetch(`http://127.0.0.1:${port}${path}?topic=${topic}`, {
    headers: { accept: "text/event-stream" },
    signal: abort.signal,
  });
  expect(response.status).toBe(200);
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let buffered = "";
  const events: SseEventSeen[] = [];
  const readEvent = async (): Promise<SseEventSeen> => {
    for (;;) {
      const boundary = buffered.indexOf("\n\n");
      if (boundary >= 0) {
        const frame = buffered.slice(0, boundary);
        buffered = buffered.slice(boundary + 2);
        const lines = frame.split("\n").filter((line) => !line.startsWith(":"));
        if (lines.length === 0) continue;
        const field = (name: string) =>
          lines
            .filter((line) => line.startsWith(`${name}: `))
            .map((line) => line.slice(name.length + 2));
        return {
          id: field("id")[0],
          event: field("event")[0] ?? "message",
          data: field("data").join("\n"),
        };
      }
      const { value, done } = await reader.read();
      if (done) throw new Error("the stream ended");
      buffered += decoder.decode(value, { stream: true });
    }
  };
  const stream: SseStream = {
    async next(type) {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const waiting = events.findIndex((event) => event.event === type);
        if (waiting >= 0) return events.splice(waiting, 1)[0] as SseEventSeen;
        if (Date.now() > deadline) throw new Error(`no ${type} event within 10 s`);
        events.push(await readEvent());
      }
    },
    close: () => abort.abort(),
    async ended() {
      try {
        while (!(await reader.read()).done) {
          // Heartbeats and events until the server ends the response.
        }
      } catch {
        // A reset connection ends it too.
      }
      return !abort.signal.aborted;
    },
  };
  await stream.next("connected");
  return stream;
}

/** Processes whose command line mentions the text (e.g. a runtime dir), from /proc. */
function processesMentioning(text: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(text)) found.push(Number(entry));
    } catch {
      // gone
    }
  }
  return found;
}

/** A listener on every interface, as Caddy's `:PORT` would want. */
function occupyPort(): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, () => resolve(server));
  });
}
