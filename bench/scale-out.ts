/**
 * Scale-out: the fan-out scenario of `make bench`, in one run, through one NUTS node and through
 * the balancer to two NUTS nodes, both on a three-node NATS cluster with the stream on three
 * replicas. The nodes run deploy/cluster/node.Caddyfile and the balancer
 * deploy/cluster/balancer.Caddyfile, as docker-compose.cluster.yml does.
 *
 *   npx tsx bench/scale-out.ts [--quick] [--clients 1000,5000]   (default 1,000 and 5,000; quick 200 and 1,000)
 *
 * Everything shares the machine's cores: on 2 cores two nodes cannot deliver more than one, so
 * the figures are about loss (none expected) and what the balancer's extra hop costs.
 * Writes bench/results/scale-out-<timestamp>.json and (not with --quick) docs/benchmarks-scale-out.md.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { cpus, tmpdir, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { addReplicatedStream, startNatsCluster } from "../testing/nats-cluster.js";
import { childrenOf, commandName, fileLimits } from "./proc.js";
import { PROFILES } from "./profile.js";
import { NatsPublisher } from "./publisher.js";
import { RemoteLoadGenerator } from "./remote-loadgen.js";
import { type FanoutStep, fanout } from "./scenarios.js";
import {
  freePort,
  type RunningSystem,
  type SystemName,
  spawnLogged,
  stopChild,
  waitForStream,
} from "./systems/system.js";

const repoRoot = dirname(dirname(fileURLToPath(import.meta.url)));
const NODE_CADDYFILE = join(repoRoot, "deploy", "cluster", "node.Caddyfile");
const BALANCER_CADDYFILE = join(repoRoot, "deploy", "cluster", "balancer.Caddyfile");
const STREAM = "EVENTS";
const TOPIC_PREFIX = "events.";
const SUBSCRIBE_PATH = "/events?topic=";

/**
 * Not the main fan-out's 10,000: through the balancer a stream holds two sockets there (client
 * and upstream) on top of the node's, which passes a 20,000 open-files limit.
 */
const DEFAULT_CLIENTS = { full: [1_000, 5_000], quick: [200, 1_000] };

type Shape = "one-node" | "two-nodes-balanced";
const LABELS: Record<Shape, string> = {
  "one-node": "one NUTS node",
  "two-nodes-balanced": "balancer + two NUTS nodes",
};

interface Started {
  stop(): Promise<void>;
  pids(): Record<string, number[]>;
}

/** `nuts run` with the cluster's node Caddyfile on a port of its own. */
async function startNode(name: string, natsUrl: string): Promise<Started & { port: number }> {
  const dir = await mkdtemp(join(tmpdir(), `nuts-scale-${name}-`));
  const port = await freePort();
  const { child, output } = spawnLogged(
    process.execPath,
    [
      join(repoRoot, "bin", "nuts.js"),
      "run",
      "--config",
      NODE_CADDYFILE,
      "--runtime-dir",
      join(dir, "runtime"),
      "--caddy-metrics-listen",
      "off",
    ],
    {
      cwd: repoRoot,
      env: {
        ...process.env,
        PATH: `${join(repoRoot, ".tools", "bin")}:${process.env.PATH ?? ""}`,
        NUTS_HTTP_PORT: String(port),
        NUTS_NODE: name,
        NATS_URL: natsUrl,
        NUTS_ADMIN_LISTEN: `127.0.0.1:${await freePort()}`,
      },
    },
  );
  try {
    await waitForStream(port, `${SUBSCRIBE_PATH}probe`, child, output);
  } catch (error) {
    await stopChild(child);
    throw new Error(`NUTS node ${name} did not come up: ${(error as Error).message}`);
  }
  return {
    port,
    pids: () => {
      const roles: Record<string, number[]> = { sidecar: [], caddy: [] };
      for (const pid of childrenOf(child.pid ?? 0)) {
        (commandName(pid) === "caddy" ? roles.caddy : roles.sidecar)?.push(pid);
      }
      return roles;
    },
    async stop() {
      await stopChild(child, 15_000);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function startBalancer(upstreams: number[]): Promise<Started & { port: number }> {
  const dir = await mkdtemp(join(tmpdir(), "nuts-scale-balancer-"));
  const port = await freePort();
  const { child, output } = spawnLogged(
    join(repoRoot, ".tools", "bin", "caddy"),
    ["run", "--config", BALANCER_CADDYFILE, "--adapter", "caddyfile"],
    {
      cwd: dir,
      env: {
        ...process.env,
        BALANCER_ADDRESS: `:${port}`,
        NUTS_NODES: upstreams.map((each) => `127.0.0.1:${each}`).join(" "),
        XDG_DATA_HOME: join(dir, "data"),
        XDG_CONFIG_HOME: join(dir, "config"),
      },
    },
  );
  try {
    await waitForStream(port, `${SUBSCRIBE_PATH}probe`, child, output);
  } catch (error) {
    await stopChild(child, 1_000);
    throw new Error(`the balancer did not come up: ${(error as Error).message}`);
  }
  return {
    port,
    pids: () => ({ balancer: [child.pid ?? 0] }),
    async stop() {
      // Its grace period waits for open streams; the bench has closed its own already.
      await stopChild(child, 1_000);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** One shape as the fan-out scenario sees a system; roles summed over the nodes. */
async function startShape(
  shape: Shape,
  natsUrl: string,
  publisher: NatsPublisher,
): Promise<RunningSystem> {
  const nodes = shape === "one-node" ? ["a"] : ["a", "b"];
  const started: (Started & { port: number })[] = [];
  try {
    for (const name of nodes) started.push(await startNode(name, natsUrl));
    const front =
      shape === "one-node"
        ? (started[0] as Started & { port: number })
        : await startBalancer(started.map((node) => node.port));
    const parts = shape === "one-node" ? started : [...started, front];
    return {
      // Not one of the main run's systems: the fan-out scenario only reads ports and pids.
      name: shape as unknown as SystemName,
      port: front.port,
      subscribePath: SUBSCRIBE_PATH,
      replay: null,
      resumes: true,
      publisher,
      processes: () => {
        const roles: Record<string, number[]> = {};
        for (const part of parts) {
          for (const [role, pids] of Object.entries(part.pids())) {
            roles[role] = [...(roles[role] ?? []), ...pids];
          }
        }
        return roles;
      },
      async stop() {
        for (const part of parts.reverse()) await part.stop();
      },
    };
  } catch (error) {
    for (const node of started) await node.stop();
    throw error;
  }
}

export interface ScaleOutResult {
  shape: Shape;
  label: string;
  steps: FanoutStep[];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { quick: { type: "boolean" }, clients: { type: "string" } },
  });
  const base = PROFILES[values.quick ? "quick" : "full"];
  const clients = values.clients?.split(",").map(Number) ?? DEFAULT_CLIENTS[base.name];
  const profile = { ...base, fanout: { ...base.fanout, clients } };
  const log = (line: string) => console.log(`[scale-out] ${line}`);
  const startedAt = Date.now();
  const limits = fileLimits();
  log(`clients ${clients.join(", ")}; open files: soft ${limits.soft}, hard ${limits.hard}`);

  const cluster = await startNatsCluster();
  const connection = await connect({ servers: cluster.urls });
  const jsm = await jetstreamManager(connection);
  await addReplicatedStream(jsm, { name: STREAM, subjects: [`${TOPIC_PREFIX}>`] });
  const publisher = new NatsPublisher(connection, TOPIC_PREFIX);
  const loadgen = RemoteLoadGenerator.start();
  const results: ScaleOutResult[] = [];
  try {
    for (const shape of ["one-node", "two-nodes-balanced"] as const) {
      log(`${LABELS[shape]}`);
      const system = await startShape(shape, cluster.urls.join(","), publisher);
      try {
        const steps = await fanout({
          system,
          loadgen,
          profile,
          tag: shape,
          extraProcesses: {},
          replayTopic: "unused",
          log,
        });
        results.push({ shape, label: LABELS[shape], steps });
      } finally {
        await system.stop();
      }
    }
  } finally {
    loadgen.stop();
    await connection.close();
    await cluster.stop();
  }
  const wallSeconds = Math.round((Date.now() - startedAt) / 1000);
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? "CPU"}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  mkdirSync(join(repoRoot, "bench", "results"), { recursive: true });
  writeFileSync(
    join(repoRoot, "bench", "results", `scale-out-${stamp}.json`),
    `${JSON.stringify({ machine, clients, wallSeconds, results }, null, 2)}\n`,
  );
  // A quick run is a smoke check: its figures stay in bench/results/.
  if (!values.quick) {
    writeFileSync(
      join(repoRoot, "docs", "benchmarks-scale-out.md"),
      renderScaleOut(results, { machine, wallSeconds, profile: profile.name }),
    );
  }
  log(`done in ${wallSeconds} s${values.quick ? "" : "; docs/benchmarks-scale-out.md written"}`);
}

/** The report: one table, the same fan-out through both shapes, and what it means. */
export function renderScaleOut(
  results: ScaleOutResult[],
  about: { machine: string; wallSeconds: number; profile: string },
): string {
  const fixed = (value: number | null) => (value === null ? "n/a" : value.toFixed(1));
  const rows = results.flatMap((result) =>
    result.steps.map((step) => {
      const lost = step.capacity.lost + step.latency.lost;
      const cpu = Object.entries(step.capacity.cpuPercent)
        .map(([role, percent]) => `${role} ${Math.round(percent)}`)
        .join(", ");
      const memory = Object.entries(step.idleKiBPerConnection)
        .map(([role, kib]) => `${role} ${kib.toFixed(1)}`)
        .join(", ");
      return `| ${result.label} | ${step.clients.toLocaleString("en")} | ${Math.round(step.capacity.deliveriesPerSec).toLocaleString("en")} | ${lost}${step.connectFailed > 0 ? ` (${step.connectFailed} not connected)` : ""} | ${fixed(step.latency.p50Ms)} | ${fixed(step.latency.p99Ms)} | ${cpu} | ${memory} |`;
    }),
  );
  return `${[
    "# Benchmark: scaling out behind a load balancer",
    "",
    "Generated by `make bench` (`bench/scale-out.ts`); do not edit by hand. Raw numbers: the run's `bench/results/scale-out-<time>.json` (not committed).",
    "",
    `${new Date().toISOString().slice(0, 10)}, profile \`${about.profile}\`, one run, ${about.wallSeconds} s. ${about.machine}. A three-node NATS cluster (stream on 3 replicas), the NUTS nodes (\`nuts run\` with [deploy/cluster/node.Caddyfile](../deploy/cluster/node.Caddyfile)) and the balancer (stock Caddy with [deploy/cluster/balancer.Caddyfile](../deploy/cluster/balancer.Caddyfile)) and the load generator all share the same cores over loopback.`,
    "",
    "**Two nodes are not faster here, by design of the test bed**: every process shares the same two cores, so a second node adds no CPU; it adds a hop (the balancer) and a second sidecar reading the same messages from NATS. What the figures show is that spreading clients over two nodes through the balancer loses nothing, and what the balancer's hop costs in deliveries/s and latency. On separate machines each node brings its own cores: capacity grows with the nodes (see docs/deployment.md for sizing per node).",
    "",
    "The fan-out of docs/benchmarks.md: N clients on one topic; capacity messages at 100 msg/s, latency 10 messages at 10 msg/s (publish time in the payload to the client reading the frame). Lost: messages a client never got (by the per-topic counter). CPU: percent of one core during the capacity window, summed over the nodes per role. Memory: RSS growth per idle connection, summed over the nodes per role.",
    "",
    "| shape | clients | deliveries/s | lost | p50 ms | p99 ms | CPU % | KiB per connection |",
    "| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ...rows,
    "",
  ].join("\n")}`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((error: Error) => {
    console.error(error.stack ?? error.message);
    process.exit(1);
  });
}
