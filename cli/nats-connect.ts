/**
 * The connection flags shared by the commands that talk to NATS directly (`nuts stream`,
 * `nuts pub`), and turning them into a connection whose failures read as sentences.
 */
import { readFile } from "node:fs/promises";
import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import {
  AuthorizationError,
  type ConnectionOptions,
  connect,
  credsAuthenticator,
  type NatsConnection,
  TimeoutError,
} from "@nats-io/transport-node";
import { type Command, Option } from "commander";
import { UserError } from "./errors.js";

/** What the connection flags parse to (commander's camel-cased option values). */
export interface ConnectionFlags {
  /** @default env NATS_URL, else "nats://localhost:4222" */
  server: string;
  token?: string;
  user?: string;
  password?: string;
  /** Path of a .creds file (user JWT and seed). */
  creds?: string;
}

export const DEFAULT_NATS_URL = "nats://localhost:4222";

/** Adds `--server`, `--token`, `--user`, `--password` and `--creds`, each with its env var. */
export function addConnectionOptions(command: Command): Command {
  return command
    .addOption(
      new Option("--server <url>", "NATS server URL").env("NATS_URL").default(DEFAULT_NATS_URL),
    )
    .addOption(new Option("--token <token>", "authenticate with a token").env("NATS_TOKEN"))
    .addOption(new Option("--user <user>", "authenticate as this user").env("NATS_USER"))
    .addOption(new Option("--password <password>", "password for --user").env("NATS_PASSWORD"))
    .addOption(new Option("--creds <file>", "authenticate with a .creds file").env("NATS_CREDS"));
}

/** Connects, or throws a UserError that says why not and what to check. */
export async function connectToNats(flags: ConnectionFlags): Promise<NatsConnection> {
  const options = await connectionOptions(flags);
  try {
    return await connect(options);
  } catch (error) {
    throw describeConnectFailure(error, flags);
  }
}

/** Runs `work` with a connection and closes the connection afterwards, whatever happens. */
export async function withNats<T>(
  flags: ConnectionFlags,
  work: (nc: NatsConnection) => Promise<T>,
): Promise<T> {
  const nc = await connectToNats(flags);
  try {
    return await work(nc);
  } finally {
    await nc.close();
  }
}

/** The JetStream manager, or a UserError when the server runs without JetStream. */
export async function openJetStreamManager(
  nc: NatsConnection,
  flags: ConnectionFlags,
): Promise<JetStreamManager> {
  try {
    return await jetstreamManager(nc);
  } catch (error) {
    // JetStream is there but busy (a meta leader election after a node failure): go on, and let
    // the command's own request say what it finds.
    if (error instanceof TimeoutError) return jetstreamManager(nc, { checkAPI: false });
    // The class is not exported from the package's public entry point, only its name is stable.
    if (error instanceof Error && error.name === "JetStreamNotEnabled") {
      throw new UserError(
        `JetStream is not enabled on the NATS server at ${flags.server}; start nats-server with -js (or a jetstream block in its config)`,
        { cause: error },
      );
    }
    throw error;
  }
}

async function connectionOptions(flags: ConnectionFlags): Promise<ConnectionOptions> {
  return {
    servers: flags.server,
    name: "nuts cli",
    // A command-line tool should say at once that the server is gone, not keep retrying.
    reconnect: false,
    ...(await authOptions(flags)),
  };
}

async function authOptions(flags: ConnectionFlags): Promise<Partial<ConnectionOptions>> {
  const withUser = flags.user !== undefined || flags.password !== undefined;
  const ways = [
    flags.token !== undefined ? "--token" : "",
    withUser ? "--user/--password" : "",
    flags.creds !== undefined ? "--creds" : "",
  ].filter((way) => way !== "");
  if (ways.length > 1) {
    throw new UserError(`${ways.join(" and ")} cannot be combined; pick one way to authenticate`);
  }
  if (flags.token !== undefined) return { token: flags.token };
  if (withUser) {
    if (flags.user === undefined) throw new UserError("--password needs --user");
    if (flags.password === undefined) throw new UserError("--user needs --password");
    return { user: flags.user, pass: flags.password };
  }
  if (flags.creds !== undefined) {
    return { authenticator: credsAuthenticator(await readCreds(flags.creds)) };
  }
  return {};
}

async function readCreds(file: string): Promise<Uint8Array> {
  try {
    return await readFile(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === "ENOENT" ? "no such file" : (error as Error).message;
    throw new UserError(`cannot read --creds file ${file}: ${reason}`, { cause: error });
  }
}

/** The authentication flags in use, as the user spelled them (env vars count as given). */
function authFlagsGiven(flags: ConnectionFlags): string[] {
  const given: string[] = [];
  if (flags.token !== undefined) given.push("--token");
  if (flags.user !== undefined) given.push("--user");
  if (flags.password !== undefined) given.push("--password");
  if (flags.creds !== undefined) given.push("--creds");
  return given;
}

function describeConnectFailure(error: unknown, flags: ConnectionFlags): unknown {
  if (error instanceof AuthorizationError) {
    const given = authFlagsGiven(flags);
    const sentence =
      given.length === 0
        ? `NATS at ${flags.server} requires authentication (${error.message}); pass --token, --user and --password, or --creds`
        : `NATS at ${flags.server} refused the credentials given with ${given.join(" and ")} (${error.message})`;
    return new UserError(sentence, { cause: error });
  }
  if (error instanceof Error) {
    const code =
      (error.cause as NodeJS.ErrnoException | undefined)?.code ??
      (error as NodeJS.ErrnoException).code;
    if (code === "ECONNREFUSED" || error.message === "connection refused") {
      return new UserError(`cannot reach NATS at ${flags.server}: is nats-server running?`, {
        cause: error,
      });
    }
    return new UserError(`cannot reach NATS at ${flags.server}: ${error.message}`, {
      cause: error,
    });
  }
  return error;
}
