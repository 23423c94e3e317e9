import { rm, stat } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { type RouteStatus, readiness } from "./health.js";
import type { Hub } from "./hub.js";
import { formatListen, type ListenAddress, ListenError } from "./listen.js";
import type { Logger } from "./log.js";
import type { SidecarMetrics } from "./metrics.js";

/**
 * How long the admin listener waits for its address to be free: under `nuts run`, a reload
 * starts the new sidecar while the old one still holds it, and the old one lets go when it
 * stops.
 */
const ADMIN_BIND_WAIT_MS = 15_000;
const ADMIN_BIND_RETRY_MS = 200;

export interface AdminDeps {
  hub: Hub;
  metrics: SidecarMetrics;
}

export interface RunningAdmin {
  /** Where it listens; for TCP with port 0, the port actually bound. */
  address: ListenAddress;
  close(): Promise<void>;
}

/**
 * Parses `--admin-listen`: `unix:/path.sock` or `host:port`. Any host may be given (a container's
 * probe comes from outside it): nothing on this listener is secret, and it serves no streams.
 */
export function parseAdminListen(text: string): ListenAddress {
  if (text.startsWith("unix:")) {
    const path = text.slice("unix:".length);
    if (path === "") {
      throw new ListenError(
        `--admin-listen ${text}: give the socket path, e.g. unix:/run/nuts/admin.sock`,
      );
    }
    return { type: "unix", path };
  }
  const match = /^(.*):(\d{1,5})$/.exec(text);
  const host = match?.[1] ?? "";
  const port = Number(match?.[2]);
  if (!match || host === "" || port > 65535) {
    throw new ListenError(
      `--admin-listen ${JSON.stringify(text)}: use 127.0.0.1:9464 (or another host:port) or unix:/path/to/admin.sock`,
    );
  }
  return { type: "tcp", host: host.replace(/^\[|\]$/g, ""), port };
}

/** An admin endpoint's answer. */
export interface AdminResponse {
  status: number;
  contentType: string;
  body: string;
}

/**
 * The admin endpoints: `/livez` (the event loop runs), `/readyz` (NATS connected and every
 * route's source has its live consumer, else 503 with the route and the reason) and `/metrics`
 * (Prometheus). Served on their own listener, never on the one Caddy proxies to.
 */
export async function adminResponse(
  method: string,
  path: string,
  { hub, metrics }: AdminDeps,
): Promise<AdminResponse> {
  if (method !== "GET" && method !== "HEAD") {
    return json(405, { error: "method_not_allowed", message: "use GET" });
  }
  switch (path) {
    case "/livez":
      return json(200, { status: "ok" });
    case "/readyz": {
      const statuses = new Map<string, RouteStatus>();
      for (const [name, source] of hub.routeSources()) {
        statuses.set(name, {
          streamName: source.options.streamName,
          topicPrefix: source.options.topicPrefix,
          transport: source.transport.state,
          source: source.state,
        });
      }
      const result = readiness(statuses);
      return json(result.status === "ready" ? 200 : 503, result);
    }
    case "/metrics":
      return {
        status: 200,
        contentType: metrics.registry.contentType,
        body: await metrics.exposition(),
      };
    default:
      return json(404, {
        error: "not_found",
        message: "the admin listener serves /livez, /readyz and /metrics",
      });
  }
}

function json(status: number, body: unknown): AdminResponse {
  return { status, contentType: "application/json", body: JSON.stringify(body) };
}

function adminHandler(deps: AdminDeps) {
  return (request: IncomingMessage, response: ServerResponse): void => {
    const method = request.method ?? "GET";
    const path = (request.url ?? "/").split("?")[0] ?? "/";
    adminResponse(method, path, deps)
      .catch((error: Error) => json(500, { error: "internal", message: error.message }))
      .then(({ status, contentType, body }) => {
        response.writeHead(status, {
          "Content-Type": contentType,
          "Cache-Control": "no-store",
          ...(status === 405 ? { Allow: "GET, HEAD" } : {}),
        });
        response.end(method === "HEAD" ? undefined : body);
      });
  };
}

/** Starts the admin listener; a unix socket gets mode 0600 unless `listen.mode` says. */
export async function startAdmin(
  listen: ListenAddress,
  deps: AdminDeps,
  log: Logger,
): Promise<RunningAdmin> {
  const server = createServer(adminHandler(deps));
  let address = listen;
  let socketInode: number | undefined;
  if (listen.type === "unix") {
    await rm(listen.path, { force: true });
    const previous = process.umask(0o177);
    try {
      await bind(server, (done) => server.listen({ path: listen.path }, done));
    } finally {
      process.umask(previous);
    }
    socketInode = (await stat(listen.path)).ino;
  } else {
    await bind(server, (done) => server.listen({ port: listen.port, host: listen.host }, done));
    const bound = server.address();
    if (bound && typeof bound === "object") address = { ...listen, port: bound.port };
  }
  log.info("admin listening", { listen: formatListen(address), paths: "/livez,/readyz,/metrics" });
  return {
    address,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      // A sidecar that replaced this one may have bound the path since: leave its socket alone.
      if (listen.type === "unix" && socketInode !== undefined) {
        const now = await stat(listen.path).catch(() => undefined);
        if (now?.ino === socketInode) await rm(listen.path, { force: true });
      }
    },
  };
}

/** Listens, waiting while the address is taken (a sidecar being replaced still holds it). */
async function bind(server: Server, start: (done: () => void) => void): Promise<void> {
  const deadline = Date.now() + ADMIN_BIND_WAIT_MS;
  for (;;) {
    try {
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        start(() => {
          server.off("error", reject);
          resolve();
        });
      });
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EADDRINUSE" || Date.now() >= deadline) {
        throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, ADMIN_BIND_RETRY_MS));
    }
  }
}
