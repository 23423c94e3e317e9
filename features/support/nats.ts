/**
 * The NATS side of a scenario: a real nats-server (shared by the scenarios of a feature, or
 * started for one scenario when it needs authentication), a test client that publishes, and
 * streams created with `nuts stream add` as a user would.
 */
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import {
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
} from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import {
  type NatsServer,
  type NatsServerOptions,
  startNatsServer,
} from "../../testing/nats-server.js";
import { REPO_ROOT } from "./nuts-run.js";
import { eventually } from "./wait.js";

export type NatsAuth = NonNullable<NatsServerOptions["auth"]>;

export class TestNats {
  private constructor(
    readonly server: NatsServer,
    readonly nc: NatsConnection,
    readonly js: JetStreamClient,
    readonly jsm: JetStreamManager,
    readonly auth: NatsAuth | undefined,
  ) {}

  static async start(auth?: NatsAuth): Promise<TestNats> {
    const server = await startNatsServer(auth ? { auth } : {});
    try {
      const nc = await connect({
        ...server.connectOptions(),
        name: "nuts bdd",
        // The server is restarted on purpose in some scenarios: keep coming back, quickly.
        maxReconnectAttempts: -1,
        reconnectTimeWait: 100,
      });
      return new TestNats(server, nc, jetstream(nc), await jetstreamManager(nc), auth);
    } catch (error) {
      await server.stop();
      throw error;
    }
  }

  get url(): string {
    return this.server.url;
  }

  /** `{$VAR}` values a scenario's Caddy config may use to reach and log in to this server. */
  placeholders(): Record<string, string> {
    const values: Record<string, string> = { NATS_URL: this.url };
    if (this.server.credsFile) values.NATS_CREDS = this.server.credsFile;
    return values;
  }

  /** The flags `nuts stream add` and `nuts pub` need to reach this server. */
  cliFlags(): string[] {
    const flags = ["--server", this.url];
    if (this.auth?.type === "token") flags.push("--token", this.auth.token);
    if (this.auth?.type === "user_password") {
      flags.push("--user", this.auth.user, "--password", this.auth.password);
    }
    if (this.server.credsFile) flags.push("--creds", this.server.credsFile);
    return flags;
  }

  /** Runs `nuts <args>` against this server; resolves with its standard output. */
  async nuts(args: string[]): Promise<string> {
    return runNuts([...args, ...this.cliFlags()]);
  }

  /**
   * Publishes through JetStream and returns the stream sequence. A message id makes a retry
   * (say, while the server is coming back from a restart) store the message once only.
   */
  async publish(subject: string, payload: string): Promise<number> {
    const msgID = randomUUID();
    return eventually(`JetStream to store a message on ${subject}`, async () => {
      const ack = await this.js.publish(subject, payload, { msgID, timeout: 2_000 });
      return ack.seq;
    });
  }

  async lastSequence(stream: string): Promise<number> {
    return (await this.jsm.streams.info(stream)).state.last_seq;
  }

  /** Leaves the server as a new scenario expects it: no streams. */
  async deleteAllStreams(): Promise<void> {
    for await (const name of this.jsm.streams.names()) await this.jsm.streams.delete(name);
  }

  async stop(): Promise<void> {
    await this.nc.close().catch(() => {});
    await this.server.stop();
  }
}

const NUTS_BIN = join(REPO_ROOT, "bin", "nuts.js");

/** Runs the `nuts` CLI to completion; rejects with its output when it exits non-zero. */
export function runNuts(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [NUTS_BIN, ...args],
      { timeout: 30_000 },
      (error, stdout, stderr) => {
        if (error) {
          reject(new Error(`nuts ${args.join(" ")} failed: ${error.message}\n${stdout}${stderr}`));
        } else {
          resolve(stdout);
        }
      },
    );
  });
}
