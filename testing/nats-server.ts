/**
 * Starts a real `nats-server` for tests: a fresh port, a fresh JetStream store and, if asked,
 * token, user/password or operator-mode (JWT + .creds) authentication. Used by the vitest
 * integration tests and the cucumber step definitions.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  createAccount,
  createOperator,
  createUser,
  encodeAccount,
  encodeOperator,
  encodeUser,
  fmtCreds,
} from "@nats-io/jwt";
import { type Authenticator, credsAuthenticator } from "@nats-io/transport-node";
import { freePort } from "./processes.js";

export interface NatsServerOptions {
  /** How clients must authenticate. @default none */
  auth?:
    | { type: "token"; token: string }
    | { type: "user_password"; user: string; password: string }
    /**
     * Several users; clients connect as the first. `denySubscribe` lists subjects a user may not
     * subscribe to (a sidecar without the right to hear JetStream's advisories).
     */
    | { type: "users"; users: { user: string; password: string; denySubscribe?: string[] }[] }
    /** Operator mode: an operator, a JetStream-enabled account and a user allowed everything. */
    | { type: "credentials" };
  /** Enable JetStream, stored in a fresh temp dir. @default true */
  jetstream?: boolean;
  /**
   * TLS for client connections: the server's certificate and key files (PEM), the CA that
   * signs client certificates, and whether a client certificate is required (`verify`).
   * The server still listens on one port; clients connect with `tls://` or TLS options.
   */
  tls?: { cert: string; key: string; ca?: string; verify?: boolean };
}

export interface ClientConnectOptions {
  servers: string;
  token?: string;
  user?: string;
  pass?: string;
  authenticator?: Authenticator;
  /** With `tls`: the CA to trust; a test adds a client certificate to get past `verify`. */
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
}

export interface NatsServer {
  /** `nats://127.0.0.1:PORT` */
  url: string;
  port: number;
  storeDir: string;
  /** For auth type `credentials`: a .creds file for a user allowed everything. */
  credsFile?: string;
  /** What a test client passes to `connect()` to get in. */
  connectOptions(): ClientConnectOptions;
  /** SIGTERM, wait for exit, start again on the same port and store dir; resolves once it accepts connections. */
  restart(): Promise<void>;
  /** Stop and remove the temp dirs. Idempotent. */
  stop(): Promise<void>;
  /** SIGSTOP: the server keeps its sockets but answers nothing. */
  pause(): void;
  /** SIGCONT */
  resume(): void;
}

const STARTUP_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 10_000;
const PORT_ATTEMPTS = 5;

/** The repository root: the parent of this file's folder, testing/. */
function repoRoot(): string {
  return dirname(dirname(fileURLToPath(import.meta.url)));
}

/** `NATS_SERVER` env var, else the project's `.tools/bin/nats-server`, else `nats-server` on PATH. */
export function natsServerBinary(): string {
  const fromEnv = process.env.NATS_SERVER;
  if (fromEnv) return fromEnv;
  const bundled = join(repoRoot(), ".tools", "bin", "nats-server");
  return existsSync(bundled) ? bundled : "nats-server";
}

export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  const workDir = await mkdtemp(join(tmpdir(), "nuts-nats-"));
  const storeDir = join(workDir, "jetstream");
  try {
    const auth = await prepareAuth(options.auth, workDir);
    const jetstream = options.jetstream ?? true;
    const configFile = join(workDir, "nats-server.conf");

    let lastError: unknown;
    for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
      const port = await freePort();
      await writeFile(
        configFile,
        serverConfig({ port, storeDir, jetstream, auth: auth.config, tls: options.tls }),
      );
      try {
        const process = await launch(configFile, port);
        return new RunningNatsServer(
          process,
          configFile,
          port,
          workDir,
          storeDir,
          tlsClient(auth, options.tls),
        );
      } catch (error) {
        lastError = error;
        // Another process may have grabbed the port between probing and binding: try another.
        if (!(error instanceof StartupError && error.portInUse)) break;
      }
    }
    throw lastError;
  } catch (error) {
    await rm(workDir, { recursive: true, force: true });
    throw error;
  }
}

export class StartupError extends Error {
  override name = "StartupError";
  constructor(
    message: string,
    readonly portInUse: boolean,
  ) {
    super(message);
  }
}

interface PreparedAuth {
  /** Lines for the server config. */
  config: string;
  client: Omit<ClientConnectOptions, "servers">;
  credsFile?: string;
}

class RunningNatsServer implements NatsServer {
  readonly url: string;
  readonly credsFile?: string;
  private stopped = false;

  constructor(
    private process: ChildProcess,
    private readonly configFile: string,
    readonly port: number,
    private readonly workDir: string,
    readonly storeDir: string,
    private readonly auth: PreparedAuth,
  ) {
    this.url = `nats://127.0.0.1:${port}`;
    if (auth.credsFile) this.credsFile = auth.credsFile;
    liveServers.add(this.process);
  }

  connectOptions(): ClientConnectOptions {
    return { servers: this.url, ...this.auth.client };
  }

  async restart(): Promise<void> {
    if (this.stopped) throw new Error("nats-server was stopped; start a new one");
    await this.terminate();
    this.process = await launch(this.configFile, this.port);
    liveServers.add(this.process);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.terminate();
    await rm(this.workDir, { recursive: true, force: true });
  }

  pause(): void {
    this.process.kill("SIGSTOP");
    waitUntilStopped(this.process.pid);
  }

  resume(): void {
    this.process.kill("SIGCONT");
  }

  private async terminate(): Promise<void> {
    const child = this.process;
    liveServers.delete(child);
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    // A paused server would never act on SIGTERM.
    child.kill("SIGCONT");
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  }
}

/**
 * SIGSTOP takes effect a moment after kill() returns; a test that pauses the server and at once
 * sends it a PING could still get the PONG. On Linux, wait until every thread reports stopped.
 */
export function waitUntilStopped(pid: number | undefined): void {
  const tasks = `/proc/${pid}/task`;
  if (pid === undefined || !existsSync(tasks)) return;
  const deadline = Date.now() + 1_000;
  while (Date.now() < deadline) {
    try {
      const states = readdirSync(tasks).map(
        (task) => readFileSync(join(tasks, task, "stat"), "utf8").split(") ")[1]?.[0],
      );
      if (states.every((state) => state === "T" || state === "t")) return;
    } catch {
      // A thread went away while we read; look again.
    }
  }
}

/** Servers still running, killed when the test process exits so none outlive it. */
export const liveServers = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of liveServers) child.kill("SIGKILL");
});

export async function launch(configFile: string, port: number): Promise<ChildProcess> {
  const binary = natsServerBinary();
  const child = spawn(binary, ["-c", configFile], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (chunk: string) => {
    // Keep only what a failure report needs; a long-running server logs a lot.
    if (stderr.length < 64_000) stderr += chunk;
  });

  const failed = new Promise<never>((_, reject) => {
    child.once("error", (error) =>
      reject(new StartupError(`cannot run ${binary}: ${error.message}`, false)),
    );
    child.once("exit", (code, signal) =>
      reject(
        new StartupError(
          `nats-server exited (${signal ?? `code ${code}`}) before accepting connections:\n${stderr}`,
          /address already in use/i.test(stderr),
        ),
      ),
    );
  });
  failed.catch(() => {});

  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  try {
    await Promise.race([failed, waitUntilAccepting(port, deadline)]);
  } catch (error) {
    child.kill("SIGKILL");
    if (error instanceof StartupError) throw error;
    throw new StartupError(
      `nats-server did not accept connections on port ${port} within ${STARTUP_TIMEOUT_MS / 1000} s:\n${stderr}`,
      false,
    );
  }
  return child;
}

/** Polls until a TCP connection succeeds and the server sends its INFO line. */
async function waitUntilAccepting(port: number, deadline: number): Promise<void> {
  while (Date.now() < deadline) {
    if (await sendsInfo(port)) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error("timeout");
}

function sendsInfo(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    const finish = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => finish(false));
    socket.once("error", () => finish(false));
    socket.once("data", (data) => finish(data.toString("utf8").startsWith("INFO")));
  });
}

function serverConfig(settings: {
  port: number;
  storeDir: string;
  jetstream: boolean;
  auth: string;
  tls: NatsServerOptions["tls"];
}): string {
  const lines = [`listen: "127.0.0.1:${settings.port}"`];
  if (settings.jetstream)
    lines.push(`jetstream { store_dir: ${JSON.stringify(settings.storeDir)} }`);
  if (settings.auth) lines.push(settings.auth);
  if (settings.tls) lines.push(tlsBlock(settings.tls));
  return `${lines.join("\n")}\n`;
}

function tlsBlock(tls: NonNullable<NatsServerOptions["tls"]>): string {
  const fields = [
    `  cert_file: ${JSON.stringify(tls.cert)}`,
    `  key_file: ${JSON.stringify(tls.key)}`,
  ];
  if (tls.ca !== undefined) fields.push(`  ca_file: ${JSON.stringify(tls.ca)}`);
  if (tls.verify !== undefined) fields.push(`  verify: ${tls.verify}`);
  return `tls {\n${fields.join("\n")}\n}`;
}

/** With TLS on, test clients trust the server's CA; the auth part stays as prepared. */
function tlsClient(auth: PreparedAuth, tls: NatsServerOptions["tls"]): PreparedAuth {
  if (!tls) return auth;
  return {
    ...auth,
    client: { ...auth.client, tls: tls.ca === undefined ? {} : { caFile: tls.ca } },
  };
}

async function prepareAuth(
  auth: NatsServerOptions["auth"],
  workDir: string,
): Promise<PreparedAuth> {
  switch (auth?.type) {
    case undefined:
      return { config: "", client: {} };
    case "token":
      return {
        config: `authorization { token: ${JSON.stringify(auth.token)} }`,
        client: { token: auth.token },
      };
    case "user_password":
      return {
        config: `authorization { user: ${JSON.stringify(auth.user)}, password: ${JSON.stringify(auth.password)} }`,
        client: { user: auth.user, pass: auth.password },
      };
    case "users": {
      const [first] = auth.users;
      if (!first) throw new Error("auth type users needs at least one user");
      const users = auth.users.map((each) => {
        const fields = [
          `user: ${JSON.stringify(each.user)}`,
          `password: ${JSON.stringify(each.password)}`,
        ];
        if (each.denySubscribe) {
          fields.push(
            `permissions: { subscribe: { deny: ${JSON.stringify(each.denySubscribe)} } }`,
          );
        }
        return `  { ${fields.join(", ")} }`;
      });
      return {
        config: `authorization { users: [\n${users.join("\n")}\n] }`,
        client: { user: first.user, pass: first.password },
      };
    }
    case "credentials":
      return prepareOperatorMode(workDir);
  }
}

const UNLIMITED = -1;

/**
 * Operator mode without the nsc CLI: an operator signs a system account and an application
 * account with unlimited JetStream; the account signs one user whose .creds file is written
 * for the clients. The server learns the accounts from a preloaded in-memory resolver.
 */
async function prepareOperatorMode(workDir: string): Promise<PreparedAuth> {
  const operator = createOperator();
  const systemAccount = createAccount();
  const account = createAccount();
  const user = createUser();

  const operatorJwt = await encodeOperator("NUTS_TEST", operator, {
    system_account: systemAccount.getPublicKey(),
  });
  const systemJwt = await encodeAccount("SYS", systemAccount, {}, { signer: operator });
  const accountJwt = await encodeAccount(
    "APP",
    account,
    {
      limits: {
        subs: UNLIMITED,
        data: UNLIMITED,
        payload: UNLIMITED,
        imports: UNLIMITED,
        exports: UNLIMITED,
        wildcards: true,
        conn: UNLIMITED,
        leaf: UNLIMITED,
        mem_storage: UNLIMITED,
        disk_storage: UNLIMITED,
        streams: UNLIMITED,
        consumer: UNLIMITED,
      },
    },
    { signer: operator },
  );
  const userJwt = await encodeUser("app-user", user, account);

  const credsFile = join(workDir, "user.creds");
  const creds = fmtCreds(userJwt, user);
  await writeFile(credsFile, creds, { mode: 0o600 });
  await chmod(credsFile, 0o600);

  const config = [
    `operator: ${JSON.stringify(operatorJwt)}`,
    `system_account: ${systemAccount.getPublicKey()}`,
    "resolver: MEMORY",
    "resolver_preload: {",
    `  ${systemAccount.getPublicKey()}: ${JSON.stringify(systemJwt)}`,
    `  ${account.getPublicKey()}: ${JSON.stringify(accountJwt)}`,
    "}",
  ].join("\n");
  return { config, client: { authenticator: credsAuthenticator(creds) }, credsFile };
}
