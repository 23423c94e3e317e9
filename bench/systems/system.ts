/** What the benchmark needs from each system under test. */
import { type ChildProcess, spawn } from "node:child_process";
import { connect as connectTcp, createServer } from "node:net";
import type { InspectorSession } from "../inspector.js";
import type { Publisher } from "../publisher.js";

export const SYSTEM_NAMES = [
  "nuts-caddy",
  "nuts-caddy-http1",
  "nuts-direct",
  "nuts-direct-metrics",
  "mercure-caddy",
  "nchan",
  "baseline",
] as const;
export type SystemName = (typeof SYSTEM_NAMES)[number];

export const SYSTEM_LABELS: Record<SystemName, string> = {
  "nuts-caddy": "NUTS via Caddy",
  "nuts-caddy-http1": "NUTS via Caddy, HTTP/1.1 hop (before #13)",
  "nuts-direct": "NUTS sidecar direct",
  "nuts-direct-metrics": "NUTS sidecar direct, metrics on and scraped",
  "mercure-caddy": "NUTS Mercure hub via Caddy",
  nchan: "nginx + nchan",
  baseline: "minimal Node server",
};

export interface RunningSystem {
  readonly name: SystemName;
  readonly port: number;
  /** Subscribe path before the URL-encoded topic. */
  readonly subscribePath: string;
  /** How a client asks for every retained message of a topic, or null when the system keeps none. */
  readonly replay: { path: string; lastEventId?: string } | null;
  /** Whether `Last-Event-ID` resumes a stream. */
  readonly resumes: boolean;
  readonly publisher: Publisher;
  /** The processes measured, by role (`sidecar`, `caddy`, `nginx`, `server`). */
  processes(): Record<string, number[]>;
  /** A session with the sidecar's inspector, for systems started with one (NUTS). */
  inspect?(): Promise<InspectorSession>;
  /** Caddy's admin socket (`nuts run` systems), for Caddy's own profiles (`--caddy-prof`). */
  caddyAdminSocket?(): Promise<string>;
  stop(): Promise<void>;
}

/** A TCP port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address
          ? resolve(address.port)
          : reject(new Error("no port")),
      );
    });
  });
}

/**
 * Waits until `GET path` on the port answers 200 (the system is up and its source is ready),
 * or throws with the child's output after `timeoutMs`.
 */
export async function waitForStream(
  port: number,
  path: string,
  child: ChildProcess,
  output: () => string,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let status = "";
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`exited (${child.signalCode ?? `code ${child.exitCode}`}):\n${output()}`);
    }
    status = await probe(port, path);
    if (status === "200") return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(
    `no 200 from 127.0.0.1:${port}${path} within ${timeoutMs} ms (last answer: ${status}):\n${output()}`,
  );
}

function probe(port: number, path: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connectTcp({ host: "127.0.0.1", port });
    let head = "";
    const done = (status: string) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(status);
    };
    const timer = setTimeout(() => done("timeout"), 2_000);
    socket.on("error", () => done("error"));
    socket.on("data", (chunk: Buffer) => {
      head += chunk.toString("latin1");
      if (head.length >= 12) done(head.slice(9, 12));
    });
    socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`);
  });
}

/** Children being stopped on purpose: their exit is not news. */
const stopping = new WeakSet<ChildProcess>();

/** Starts a child whose output is kept (bounded) for error messages. */
export function spawnLogged(
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): { child: ChildProcess; output: () => string } {
  const child = spawn(command, args, { ...options, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const keep = (chunk: Buffer) => {
    if (output.length < 32_000) output += chunk.toString("utf8");
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  child.once("exit", (code, signal) => {
    if (stopping.has(child)) return;
    process.stderr.write(
      `bench: ${command} ${args.at(-1) ?? ""} exited unexpectedly (${signal ?? `code ${code}`}); its last output:\n${output.slice(-4_000)}\n`,
    );
  });
  return { child, output: () => output };
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the child has exited. */
export async function stopChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  stopping.add(child);
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
}
