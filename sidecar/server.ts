import { chmod, rm } from "node:fs/promises";
import type { Server } from "node:net";
import { type RunningAdmin, startAdmin } from "./admin.js";
import { createSidecar, type Sidecar } from "./app.js";
import type { Config } from "./config.js";
import { formatListen, type ListenAddress } from "./listen.js";
import type { Logger } from "./log.js";
import { SidecarMetrics } from "./metrics.js";
import { UpstreamServer } from "./upstream.js";

/**
 * Pending connections the kernel keeps for us: thousands of browsers reconnect at once after a
 * restart, and Node's default (511) would drop some of them.
 */
const BACKLOG = 4096;

export interface RunningSidecar extends Sidecar {
  /** The listener Caddy reaches (HTTP/1.1 and h2c on one address). */
  server: Server;
  /** Where it listens; for TCP with port 0, the port actually bound. */
  address: ListenAddress;
  /** The admin listener (health and metrics), when one was asked for. */
  admin: RunningAdmin | undefined;
  /** Stops accepting, ends every stream, drains NATS. */
  stop(): Promise<void>;
}

export interface SidecarStartOptions {
  /** Where `/livez`, `/readyz` and `/metrics` are served. @default null (no admin listener) */
  admin?: ListenAddress | null;
  /** The metrics to report; made with the admin listener when not given. @default none */
  metrics?: SidecarMetrics;
}

/**
 * Starts the sidecar's HTTP server. A unix socket gets `listen.mode` (0600 unless set). With
 * `admin`, the health and metrics endpoints are served there, apart from the streams.
 */
export async function startSidecar(
  config: Config,
  listen: ListenAddress,
  log: Logger,
  options: SidecarStartOptions = {},
): Promise<RunningSidecar> {
  const metrics = options.metrics ?? (options.admin ? new SidecarMetrics() : undefined);
  const sidecar = createSidecar(config, log, metrics);
  const upstream = await UpstreamServer.start(sidecar.app, log).catch(async (error: unknown) => {
    await sidecar.close();
    throw error;
  });
  const server = upstream.server;

  let address = listen;
  if (listen.type === "unix") {
    await rm(listen.path, { force: true });
    const previous = process.umask(0o177);
    try {
      await listenOn(server, (done) =>
        server.listen({ path: listen.path, backlog: BACKLOG }, done),
      );
    } finally {
      process.umask(previous);
    }
    await chmod(listen.path, listen.mode ?? 0o600);
  } else {
    await listenOn(server, (done) =>
      server.listen({ port: listen.port, host: listen.host, backlog: BACKLOG }, done),
    );
    const bound = server.address();
    if (bound && typeof bound === "object") address = { ...listen, port: bound.port };
  }
  log.info("sidecar listening", {
    listen: formatListen(address),
    routes: [...config.routes.keys()].join(","),
    header_routes: config.headerRoutes !== null,
  });

  let admin: RunningAdmin | undefined;
  let stopping: Promise<void> | undefined;
  const running: RunningSidecar = {
    ...sidecar,
    server,
    address,
    admin,
    stop() {
      stopping ??= (async () => {
        // First, so that a sidecar replacing this one can take the address at once.
        await admin?.close();
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        await sidecar.close();
        await upstream.closeAllConnections();
        await closed;
        if (listen.type === "unix") await rm(listen.path, { force: true });
      })();
      return stopping;
    },
  };
  if (options.admin && metrics) {
    try {
      admin = await startAdmin(options.admin, { hub: sidecar.hub, metrics }, log);
      running.admin = admin;
    } catch (error) {
      await running.stop();
      throw Object.assign(error as Error, { adminListen: true });
    }
  }
  return running;
}

function listenOn(server: Server, start: (done: () => void) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    start(() => {
      server.off("error", reject);
      resolve();
    });
  });
}
