/**
 * The cluster environment of the @cluster scenarios, shaped as users run NUTS at scale: a
 * three-node NATS cluster with an R3 stream, two NUTS nodes (`nuts run`: Caddy plus sidecar,
 * each connected to every NATS node's URL), and in front of them a stock `caddy run` with the
 * balancer Caddyfile this repository ships (deploy/cluster/balancer.Caddyfile). The NATS cluster
 * is shared by the scenarios of a feature; the rest is started per scenario and stopped after.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { After, AfterAll, Before } from "@cucumber/cucumber";
import {
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
} from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import {
  addReplicatedStream,
  type ClusterNode,
  type NatsCluster,
  startNatsCluster,
} from "../../testing/nats-cluster.js";
import { childrenOf, freePort } from "../../testing/processes.js";
import { NutsRun, REPO_ROOT } from "./nuts-run.js";
import { eventually } from "./wait.js";
import type { NutsWorld } from "./world.js";

export const BALANCER_CADDYFILE = join(REPO_ROOT, "deploy", "cluster", "balancer.Caddyfile");
/** The response header the scenarios' node Caddyfiles set to their node's name. */
export const SERVED_BY = "x-served-by";
/** Elections, a consumer's loss and its replacement take seconds on a loaded machine. */
const RECOVERY_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;

/** A test client of the NATS cluster: publishes through JetStream, asks who leads what. */
export class ClusterNats {
  private constructor(
    readonly cluster: NatsCluster,
    readonly nc: NatsConnection,
    readonly js: JetStreamClient,
    readonly jsm: JetStreamManager,
  ) {}

  static async connect(cluster: NatsCluster): Promise<ClusterNats> {
    const nc = await connect({
      servers: cluster.urls,
      name: "nuts bdd publisher",
      maxReconnectAttempts: -1,
      reconnectTimeWait: 100,
      // A node that stops answering (SIGSTOP) is left after two missed pongs, not two minutes.
      pingInterval: 1_000,
      maxPingOut: 2,
    });
    return new ClusterNats(cluster, nc, jetstream(nc), await jetstreamManager(nc));
  }

  /** Every node's URL, comma-separated, the way a `nats_url` names a cluster. */
  get natsUrl(): string {
    return this.cluster.urls.join(",");
  }

  /**
   * Publishes once and returns the stream sequence, whatever the cluster is doing: a publish
   * that fails during an election is sent again with the same message id, which JetStream
   * stores once only.
   */
  async publish(subject: string, payload: string): Promise<number> {
    const msgID = randomUUID();
    return eventually(
      `the NATS cluster to store a message on ${subject}`,
      async () => (await this.js.publish(subject, payload, { msgID, timeout: 2_000 })).seq,
      { timeoutMs: RECOVERY_MS },
    );
  }

  /** The stream, replicated on every node. */
  async createStream(name: string, subjects: string[]): Promise<void> {
    await addReplicatedStream(this.jsm, { name, subjects });
  }

  async deleteAllStreams(): Promise<void> {
    for await (const name of this.jsm.streams.names()) await this.jsm.streams.delete(name);
  }

  /** The node that leads the stream, once it has a leader. */
  async streamLeader(stream: string): Promise<ClusterNode> {
    const leader = await eventually(
      `the stream ${stream} to have a leader`,
      async () => (await this.jsm.streams.info(stream)).cluster?.leader,
      { timeoutMs: RECOVERY_MS },
    );
    return this.cluster.node(leader);
  }

  /** The sidecars' live consumers (named `nuts_…`) with the node each lives on. */
  async liveConsumers(stream: string): Promise<{ name: string; node: string | undefined }[]> {
    const infos = await this.jsm.consumers.list(stream).next();
    return infos
      .filter((info) => info.name.startsWith("nuts_"))
      .map((info) => ({ name: info.name, node: info.cluster?.leader }));
  }

  /**
   * How many connections named `nuts-sidecar` each running node holds, by its monitoring port;
   * `except` is left out (a paused node would not answer).
   */
  async sidecarConnections(except?: ClusterNode): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    for (const node of this.cluster.nodes) {
      if (!node.running || node === except) continue;
      const response = await fetch(`http://127.0.0.1:${node.httpPort}/connz?limit=1024`, {
        signal: AbortSignal.timeout(2_000),
      });
      const connz = (await response.json()) as { connections?: { name?: string }[] };
      const sidecars = (connz.connections ?? []).filter((each) => each.name === "nuts-sidecar");
      counts.set(node.name, sidecars.length);
    }
    return counts;
  }

  async close(): Promise<void> {
    await this.nc.close().catch(() => {});
  }
}

/** One NUTS node: `nuts run` with its own Caddyfile on a port it keeps across restarts. */
export class NutsNode {
  run: NutsRun | undefined;

  private constructor(
    readonly name: string,
    readonly port: number,
    private readonly caddyfile: string,
    private readonly env: Record<string, string>,
  ) {}

  static async start(
    name: string,
    caddyfile: string,
    env: Record<string, string>,
  ): Promise<NutsNode> {
    // Its own admin listener (readiness), which the node's Caddyfile passes /readyz to.
    const adminListen = `127.0.0.1:${await freePort()}`;
    const node = new NutsNode(name, await freePort(), caddyfile, {
      ...env,
      NUTS_ADMIN_LISTEN: adminListen,
    });
    await node.start();
    return node;
  }

  /** `127.0.0.1:PORT`: the upstream address the balancer dials. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.run?.running ?? false;
  }

  /** Starts `nuts run` and waits until its site answers. */
  async start(): Promise<void> {
    if (this.running) throw new Error(`NUTS node ${this.name} is running already`);
    await this.run?.stop();
    this.run = await NutsRun.start({
      fileName: "Caddyfile",
      text: this.caddyfile,
      port: this.port,
      env: { ...this.env, PORT: String(this.port), NUTS_NODE: this.name },
    });
  }

  /** SIGTERM, as a deployment stops it: Caddy and the sidecar end their streams cleanly. */
  async stop(): Promise<void> {
    await this.run?.stop();
  }

  /**
   * SIGKILL to `nuts run`, its Caddy and its sidecar at once, as when the machine dies: nobody
   * says goodbye, no stream ends cleanly. Resolves once none of them is left.
   */
  async kill(): Promise<void> {
    const run = this.run;
    if (!run?.running || run.child.pid === undefined) {
      throw new Error(`NUTS node ${this.name} is not running`);
    }
    const children = childrenOf(run.child.pid).map((child) => child.pid);
    // The parent first, or its supervisor would start a new sidecar in place of the dead one.
    run.child.kill("SIGKILL");
    for (const pid of children) process.kill(pid, "SIGKILL");
    await eventually(
      `NUTS node ${this.name} (nuts run and pids ${children.join(", ")}) to be gone`,
      () => !run.running && children.every((pid) => !alive(pid)),
    );
    await run.stop();
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A stock `caddy run` with deploy/cluster/balancer.Caddyfile in front of the NUTS nodes. */
export class Balancer {
  private output = "";
  private exitDescription: string | undefined;
  private readonly exited: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    private readonly dir: string,
    readonly port: number,
  ) {
    for (const stream of [child.stdout, child.stderr]) {
      stream?.setEncoding("utf8");
      stream?.on("data", (chunk: string) => {
        if (this.output.length < 200_000) this.output += chunk;
      });
    }
    this.exited = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        this.exitDescription = signal ? `signal ${signal}` : `code ${code}`;
        resolve();
      });
    });
  }

  static async start(upstreams: string[]): Promise<Balancer> {
    const dir = await mkdtemp(join(tmpdir(), "nuts-balancer-"));
    const port = await freePort();
    const child = spawn(
      "caddy",
      ["run", "--config", BALANCER_CADDYFILE, "--adapter", "caddyfile"],
      {
        cwd: dir,
        env: {
          ...process.env,
          BALANCER_ADDRESS: `:${port}`,
          NUTS_NODES: upstreams.join(" "),
          // Caddy's own files (autosave, certificates it never makes) stay in the temp folder.
          XDG_DATA_HOME: join(dir, "data"),
          XDG_CONFIG_HOME: join(dir, "config"),
        },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    const balancer = new Balancer(child, dir, port);
    try {
      await eventually(`the balancer to serve :${port}`, async () => {
        if (balancer.exitDescription) {
          throw new Error(`caddy exited (${balancer.exitDescription}):\n${balancer.output}`);
        }
        return (await balancer.probe()) !== undefined;
      });
    } catch (error) {
      await balancer.stop();
      throw error;
    }
    return balancer;
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get log(): string {
    return this.output;
  }

  /**
   * One subscription through the balancer, dropped once its head arrives: the name of the
   * node that served it, or undefined when none did.
   */
  async probe(path = "/events?topic=probe"): Promise<string | undefined> {
    try {
      const response = await fetch(`${this.baseUrl}${path}`, {
        headers: { Accept: "text/event-stream" },
        signal: AbortSignal.timeout(2_000),
      });
      await response.body?.cancel();
      return response.status === 200 ? (response.headers.get(SERVED_BY) ?? undefined) : undefined;
    } catch {
      return undefined;
    }
  }

  async stop(): Promise<void> {
    if (!this.exitDescription) {
      this.child.kill("SIGTERM");
      const timer = setTimeout(() => this.child.kill("SIGKILL"), STOP_TIMEOUT_MS);
      await this.exited;
      clearTimeout(timer);
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** What a @cluster scenario runs on. */
export interface ClusterEnv {
  nats: ClusterNats;
  nodes: NutsNode[];
  balancer?: Balancer;
}

let shared: { featureUri: string; cluster: NatsCluster; nats: ClusterNats } | undefined;
const envs = new WeakMap<NutsWorld, ClusterEnv>();

export function clusterEnv(world: NutsWorld): ClusterEnv {
  const env = envs.get(world);
  if (!env) throw new Error("no NATS cluster: only @cluster scenarios have one");
  return env;
}

export function nutsNode(world: NutsWorld, name: string): NutsNode {
  const node = clusterEnv(world).nodes.find((each) => each.name === name);
  if (!node) throw new Error(`no NUTS node named ${name}`);
  return node;
}

// The cluster of a feature's scenarios; a scenario finds every node up and no stream.
Before({ tags: "@cluster" }, async function (this: NutsWorld, { pickle }) {
  if (shared?.featureUri !== pickle.uri) {
    await stopShared();
    const cluster = await startNatsCluster();
    shared = { featureUri: pickle.uri, cluster, nats: await ClusterNats.connect(cluster) };
  }
  for (const node of shared.cluster.nodes) {
    node.resume();
    if (!node.running) await node.start();
  }
  await shared.nats.deleteAllStreams();
  envs.set(this, { nats: shared.nats, nodes: [] });
});

After({ tags: "@cluster" }, async function (this: NutsWorld, { result }) {
  const env = envs.get(this);
  if (!env) return;
  // A scenario that failed while a node was paused must not leave it paused.
  for (const node of shared?.cluster.nodes ?? []) node.resume();
  if (result?.status === "FAILED") {
    for (const node of env.nodes) {
      if (node.run) this.attach(`NUTS node ${node.name}:\n${node.run.log.slice(-10_000)}`);
    }
    if (env.balancer) this.attach(`balancer:\n${env.balancer.log.slice(-10_000)}`);
  }
  await env.balancer?.stop();
  await Promise.all(env.nodes.map((node) => node.stop()));
});

AfterAll(stopShared);

async function stopShared(): Promise<void> {
  await shared?.nats.close();
  await shared?.cluster.stop();
  shared = undefined;
}
