import { chmod, rm } from "node:fs/promises";
import type { Server } from "node:http";
import { createAdaptorServer } from "@hono/node-server";
import { createSidecar, type Sidecar } from "./app.js";
import type { Config } from "./config.js";
import { formatListen, type ListenAddress } from "./listen.js";
import type { Logger } from "./log.js";

/**
 * Pending connections the kernel keeps for us: thousands of browsers reconnect at once after a
 * restart, and Node's default (511) would drop some of them.
 */
const BACKLOG = 4096;

export interface RunningSidecar extends Sidecar {
  server: Server;
  /** Where it listens; for TCP with port 0, the port actually bound. */
  address: ListenAddress;
  /** Stops accepting, ends every stream, drains NATS. */
  stop(): Promise<void>;
}

/** Starts the sidecar's HTTP server. A unix socket gets `listen.mode` (0600 unless set). */
export async function startSidecar(
  config: Config,
  listen: ListenAddress,
  log: Logger,
): Promise<RunningSidecar> {
  const sidecar = createSidecar(config, log);
  const server = createAdaptorServer({
    fetch: sidecar.app.fetch,
    // Whatever Caddy lets through (its max_header_size is 1 MiB) must get an answer from us,
    // not a connection closed under Caddy's feet (a 502 for the client).
    serverOptions: { maxHeaderSize: 2 * 1024 * 1024 },
  }) as Server;
  // Streams are long-lived: no idle or request timeouts on our side of Caddy.
  server.requestTimeout = 0;
  server.keepAliveTimeout = 60_000;

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

  let stopping: Promise<void> | undefined;
  return {
    ...sidecar,
    server,
    address,
    stop() {
      stopping ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        await sidecar.close();
        server.closeAllConnections();
        await closed;
        if (listen.type === "unix") await rm(listen.path, { force: true });
      })();
      return stopping;
    },
  };
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
