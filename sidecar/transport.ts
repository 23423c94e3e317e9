import { readFile } from "node:fs/promises";
import {
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
} from "@nats-io/jetstream";
import {
  type ConnectionOptions,
  connect,
  credsAuthenticator,
  type NatsConnection,
} from "@nats-io/transport-node";
import type { NatsSettings } from "./config.js";
import type { Logger } from "./log.js";

/** Where a NATS connection stands. */
export type TransportState =
  | { type: "connecting" }
  | { type: "connected"; server: string }
  | { type: "nats_disconnected"; since: number }
  | { type: "closed" };

export interface Connected {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
}

/**
 * One NATS connection, shared by every route with the same NATS settings. It connects in the
 * background and keeps reconnecting (nats.js does so within a connection; when a connection
 * gives up after `max_reconnects`, a fresh one is started after `reconnect_wait`).
 */
export class NatsTransport {
  state: TransportState = { type: "connecting" };
  private current: Connected | undefined;
  private readonly listeners = new Set<(state: TransportState) => void>();
  private stopped = false;
  private readonly stopping = new AbortController();
  private readonly running: Promise<void>;

  constructor(
    readonly settings: NatsSettings,
    private readonly log: Logger,
  ) {
    this.running = this.run();
  }

  /** The live connection, or undefined while there is none. */
  get connection(): Connected | undefined {
    return this.state.type === "connected" ? this.current : undefined;
  }

  /** Resolves with the connection once there is one (at once when connected). */
  async connected(signal?: AbortSignal): Promise<Connected> {
    while (!this.stopped) {
      const current = this.connection;
      if (current) return current;
      await this.nextChange(signal);
    }
    throw new Error("the NATS transport is closed");
  }

  onChange(listener: (state: TransportState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Drains the connection: pending publishes go out, subscriptions end cleanly. */
  async close(): Promise<void> {
    this.stopped = true;
    this.stopping.abort();
    const nc = this.current?.nc;
    if (nc && !nc.isClosed()) await nc.drain().catch(() => nc.close());
    this.setState({ type: "closed" });
    await this.running;
  }

  private nextChange(signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = () => {
        off();
        signal?.removeEventListener("abort", aborted);
        resolve();
      };
      const aborted = () => {
        off();
        reject(signal?.reason ?? new Error("aborted"));
      };
      const off = this.onChange(done);
      signal?.addEventListener("abort", aborted, { once: true });
    });
  }

  private setState(state: TransportState): void {
    this.state = state;
    for (const listener of [...this.listeners]) listener(state);
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      let nc: NatsConnection;
      try {
        nc = await connect(await this.connectOptions());
      } catch (error) {
        if (this.stopped) return;
        this.log.warn("cannot connect to NATS; retrying", {
          servers: this.settings.servers.map(withoutUserInfo).join(","),
          reason: this.redact(describe(error)),
          retry_in_ms: this.settings.reconnectWaitMs,
        });
        this.setState({ type: "nats_disconnected", since: Date.now() });
        await sleep(this.settings.reconnectWaitMs, this.stopping.signal);
        continue;
      }
      if (this.stopped) {
        await nc.close();
        return;
      }
      this.current = {
        nc,
        js: jetstream(nc),
        jsm: await jetstreamManager(nc, { checkAPI: false }),
      };
      this.log.info("connected to NATS", { server: nc.getServer() });
      this.setState({ type: "connected", server: nc.getServer() });
      await this.watch(nc);
      if (!this.stopped) {
        this.log.warn("NATS connection closed; starting a new one", {
          retry_in_ms: this.settings.reconnectWaitMs,
        });
        this.setState({ type: "nats_disconnected", since: Date.now() });
        await sleep(this.settings.reconnectWaitMs, this.stopping.signal);
      }
    }
  }

  /** Follows the connection's status until it closes. */
  private async watch(nc: NatsConnection): Promise<void> {
    const closed = nc.closed();
    (async () => {
      for await (const status of nc.status()) {
        if (status.type === "disconnect") {
          this.log.warn("disconnected from NATS", { server: status.server });
          this.setState({ type: "nats_disconnected", since: Date.now() });
        } else if (status.type === "reconnect") {
          this.log.info("reconnected to NATS", { server: status.server });
          this.setState({ type: "connected", server: status.server });
        } else if (status.type === "staleConnection") {
          this.log.warn("NATS stopped answering pings; reconnecting");
        } else if (status.type === "error") {
          this.log.warn("NATS reported an error", { reason: this.redact(describe(status.error)) });
        }
      }
    })().catch(() => {});
    await closed;
  }

  /**
   * A reason fit for the log: errors from nats.js and the file system quote the credentials
   * file or TLS key path, and a URL may carry a password; those are secrets.
   */
  private redact(reason: string): string {
    const { auth, tls, servers } = this.settings;
    const secrets: [string | undefined, string][] = [
      [auth.type === "token" ? auth.token : undefined, "<nats_token>"],
      [auth.type === "user_password" ? auth.password : undefined, "<nats_password>"],
      [auth.type === "credentials" ? auth.file : undefined, "<nats_credentials file>"],
      [tls?.keyFile, "<nats_tls_key file>"],
    ];
    let text = reason;
    for (const server of servers) text = text.split(server).join(withoutUserInfo(server));
    for (const [secret, label] of secrets) {
      if (secret) text = text.split(secret).join(label);
    }
    return text;
  }

  private async connectOptions(): Promise<ConnectionOptions> {
    const { servers, auth, tls, reconnectWaitMs, maxReconnects } = this.settings;
    const options: ConnectionOptions = {
      servers,
      name: "nuts-sidecar",
      reconnect: true,
      reconnectTimeWait: reconnectWaitMs,
      maxReconnectAttempts: maxReconnects,
      // Notice a server that stops answering (but keeps the socket) within seconds.
      pingInterval: 3_000,
      maxPingOut: 2,
      timeout: 5_000,
      // The files are read by nats.js when it connects; a missing one is reported as the reason.
      ...(tls ? { tls: { ...tls } } : {}),
    };
    switch (auth.type) {
      case "token":
        options.token = auth.token;
        break;
      case "user_password":
        options.user = auth.user;
        options.pass = auth.password;
        break;
      case "credentials":
        options.authenticator = credsAuthenticator(await readFile(auth.file));
        break;
      case "none":
        break;
    }
    return options;
  }
}

/** A server URL without `user:password@`, for log lines. */
function withoutUserInfo(server: string): string {
  return server.replace(/\/\/[^@/]*@/, "//");
}

/** A short reason for a log line; never includes connection options. */
export function describe(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}
