/**
 * A real three-node NATS cluster for tests: three `nats-server` processes on loopback, joined by
 * `cluster` routes, each with JetStream and a store of its own, and a monitoring port each.
 * A node can be killed (SIGKILL, as a crash) and started again on the same ports and store, so
 * tests can take away whichever node holds what they care about (a stream leader, a consumer).
 */
import type { ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { JetStreamManager } from "@nats-io/jetstream";
import { launch, liveServers, StartupError, waitUntilStopped } from "./nats-server.js";
import { freePort } from "./processes.js";
import { eventually } from "./sse-client.js";

export interface ClusterNode {
  /** The node's `server_name`: what JetStream reports as a stream's or consumer's leader. */
  name: string;
  /** `nats://127.0.0.1:PORT` for clients. */
  url: string;
  port: number;
  /** The monitoring port (`/healthz`, `/varz`, `/connz`). */
  httpPort: number;
  readonly running: boolean;
  /** SIGKILL: a crash, no goodbye to the cluster or the clients. Resolves once it has exited. */
  kill(): Promise<void>;
  /** Starts the node again on its ports and store; resolves once JetStream says it is healthy. */
  start(): Promise<void>;
  /** SIGSTOP: the node holds its connections and answers nothing, as a hung machine does. */
  pause(): void;
  /** SIGCONT after pause(). */
  resume(): void;
}

export interface NatsCluster {
  nodes: ClusterNode[];
  /** Every node's client URL, the way users configure a cluster. */
  urls: string[];
  node(name: string): ClusterNode;
  /** Stops every node and removes the stores. Idempotent. */
  stop(): Promise<void>;
}

const NODE_NAMES = ["n1", "n2", "n3"];
const CLUSTER_ATTEMPTS = 3;
/** JetStream needs a meta leader and all peers current before an R3 stream can be made. */
const HEALTHY_TIMEOUT_MS = 30_000;

/** Starts three clustered nodes and waits until JetStream is healthy on each. */
export async function startNatsCluster(): Promise<NatsCluster> {
  let lastError: unknown;
  for (let attempt = 0; attempt < CLUSTER_ATTEMPTS; attempt++) {
    const workDir = await mkdtemp(join(tmpdir(), "nuts-nats-cluster-"));
    const nodes: RunningNode[] = [];
    try {
      const ports = await distinctFreePorts(NODE_NAMES.length * 3);
      const specs = NODE_NAMES.map((name, index) => ({
        name,
        port: ports[index * 3] as number,
        clusterPort: ports[index * 3 + 1] as number,
        httpPort: ports[index * 3 + 2] as number,
      }));
      const routes = specs.map((spec) => `nats-route://127.0.0.1:${spec.clusterPort}`);
      for (const spec of specs) {
        const configFile = join(workDir, `${spec.name}.conf`);
        await writeFile(configFile, nodeConfig(spec, join(workDir, spec.name), routes));
        nodes.push(new RunningNode(spec.name, spec.port, spec.httpPort, configFile));
      }
      // All at once: a node waits for its peers before JetStream elects a meta leader.
      await Promise.all(nodes.map((node) => node.launch()));
      await Promise.all(nodes.map((node) => node.healthy()));
      return cluster(nodes, workDir);
    } catch (error) {
      lastError = error;
      await Promise.all(nodes.map((node) => node.kill()));
      await rm(workDir, { recursive: true, force: true });
      // Another process may have taken a port between probing and binding: try other ports.
      if (!(error instanceof StartupError && error.portInUse)) break;
    }
  }
  throw lastError;
}

function cluster(nodes: RunningNode[], workDir: string): NatsCluster {
  let stopped = false;
  return {
    nodes,
    urls: nodes.map((node) => node.url),
    node(name) {
      const found = nodes.find((node) => node.name === name);
      if (!found) throw new Error(`no node named ${name}; the nodes are ${NODE_NAMES.join(", ")}`);
      return found;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await Promise.all(nodes.map((node) => node.kill()));
      await rm(workDir, { recursive: true, force: true });
    },
  };
}

class RunningNode implements ClusterNode {
  readonly url: string;
  private process: ChildProcess | undefined;

  constructor(
    readonly name: string,
    readonly port: number,
    readonly httpPort: number,
    private readonly configFile: string,
  ) {
    this.url = `nats://127.0.0.1:${port}`;
  }

  get running(): boolean {
    return this.process !== undefined;
  }

  async launch(): Promise<void> {
    if (this.process) throw new Error(`node ${this.name} is running already`);
    this.process = await launch(this.configFile, this.port);
    liveServers.add(this.process);
  }

  async start(): Promise<void> {
    await this.launch();
    await this.healthy();
  }

  pause(): void {
    if (!this.process) throw new Error(`node ${this.name} is not running`);
    this.process.kill("SIGSTOP");
    waitUntilStopped(this.process.pid);
  }

  resume(): void {
    this.process?.kill("SIGCONT");
  }

  async kill(): Promise<void> {
    const child = this.process;
    if (!child) return;
    this.process = undefined;
    liveServers.delete(child);
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGKILL");
    await exited;
  }

  /** `/healthz` answers 200 once JetStream on this node is current with the cluster. */
  healthy(): Promise<void> {
    return eventually(
      async () => {
        try {
          const response = await fetch(`http://127.0.0.1:${this.httpPort}/healthz`);
          return response.ok;
        } catch {
          return false;
        }
      },
      `node ${this.name}'s /healthz to report JetStream healthy`,
      HEALTHY_TIMEOUT_MS,
    );
  }
}

function nodeConfig(
  spec: { name: string; port: number; clusterPort: number; httpPort: number },
  storeDir: string,
  routes: string[],
): string {
  return `${[
    `server_name: ${spec.name}`,
    `listen: "127.0.0.1:${spec.port}"`,
    `http: "127.0.0.1:${spec.httpPort}"`,
    `jetstream { store_dir: ${JSON.stringify(storeDir)} }`,
    "cluster {",
    "  name: nuts-test",
    `  listen: "127.0.0.1:${spec.clusterPort}"`,
    `  routes: [${routes.map((route) => JSON.stringify(route)).join(", ")}]`,
    "}",
  ].join("\n")}\n`;
}

async function distinctFreePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

/**
 * Adds a stream replicated on all three nodes. Right after the cluster started, or after a node
 * came back, JetStream may need a moment to have a meta leader and place the replicas.
 */
export async function addReplicatedStream(
  jsm: JetStreamManager,
  stream: { name: string; subjects: string[] },
): Promise<void> {
  await eventually(
    () =>
      jsm.streams
        .add({ ...stream, num_replicas: NODE_NAMES.length })
        .then(() => true)
        .catch(() => false),
    `JetStream to create the R${NODE_NAMES.length} stream ${stream.name}`,
    HEALTHY_TIMEOUT_MS,
  );
}
