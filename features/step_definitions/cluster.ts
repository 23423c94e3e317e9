import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { Given, Then, When } from "@cucumber/cucumber";
import type { ClusterNode } from "../../testing/nats-cluster.js";
import {
  Balancer,
  type ClusterEnv,
  clusterEnv,
  NutsNode,
  nutsNode,
  SERVED_BY,
} from "../support/cluster.js";
import {
  RecordingClient as Client,
  faults,
  type RecordingClient,
  SteadyPublisher,
} from "../support/faults.js";
import { eventually } from "../support/wait.js";
import type { NutsWorld } from "../support/world.js";

/** Consumers are placed by JetStream: how many times a live consumer is moved to find a node. */
const PLACEMENT_ATTEMPTS = 20;
const RECOVERY_MS = 30_000;

/** The NATS node a step took away, for the step that brings it back. */
const takenNodes = new WeakMap<NutsWorld, ClusterNode>();

// --- the environment -------------------------------------------------------------------------

Given(
  "the NATS cluster holds the stream {string} on 3 replicas, capturing {string}",
  async function (this: NutsWorld, stream: string, subjects: string) {
    await clusterEnv(this).nats.createStream(stream, [subjects]);
  },
);

Given(
  "NUTS nodes {string} and {string} serve this Caddyfile behind the balancer:",
  async function (this: NutsWorld, first: string, second: string, caddyfile: string) {
    const env = clusterEnv(this);
    const natsEnv = { NATS_URL: env.nats.natsUrl };
    for (const name of [first, second])
      env.nodes.push(await NutsNode.start(name, caddyfile, natsEnv));
    env.balancer = await Balancer.start(env.nodes.map((node) => node.address));
    for (const node of env.nodes) await balancerServes(env, node.name);
    // Each node's Caddy passes /readyz to its sidecar (the balancer's health check); the
    // balancer itself keeps it to itself.
    for (const node of env.nodes) {
      const ready = await fetch(`http://${node.address}/readyz`);
      const body = await ready.text();
      strictEqual(ready.status, 200, `${node.name}'s /readyz: ${body}`);
      strictEqual((JSON.parse(body) as { status: string }).status, "ready", body);
    }
    strictEqual((await fetch(`${env.balancer.baseUrl}/readyz`)).status, 404);
  },
);

Given(
  "{int} EventSource clients are connected through the balancer to {string}",
  async function (this: NutsWorld, count: number, path: string) {
    const state = faults(this);
    const url = `${balancer(clusterEnv(this)).baseUrl}${path}`;
    const opened = Array.from({ length: count }, () => new Client(url));
    state.clients.push(...opened);
    const connected = () => opened.filter((client) => client.ofType("connected").length > 0);
    await eventually(
      `${count} clients to be connected to ${url}`,
      () => connected().length === count,
      {
        timeoutMs: 20_000,
        describe: () => `${connected().length} connected`,
      },
    );
    const perNode = countBy(opened.map((client) => servedBy(client)));
    state.notes.push(`clients per node at the start: ${describeCounts(perNode)}`);
    for (const node of clusterEnv(this).nodes) {
      const served = perNode.get(node.name) ?? 0;
      ok(
        served >= count / 4,
        `node ${node.name} serves ${served} of ${count} clients: ${describeCounts(perNode)}`,
      );
    }
  },
);

Given(
  "a publisher sends to {string} through the NATS cluster at {int} messages a second",
  function (this: NutsWorld, subject: string, perSecond: number) {
    const state = faults(this);
    if (state.publisher) throw new Error("a publisher is already running");
    const nats = clusterEnv(this).nats;
    state.publisher = new SteadyPublisher(this, subject, perSecond, (to, payload) =>
      nats.publish(to, payload),
    );
  },
);

// --- NATS faults -----------------------------------------------------------------------------

When(
  "the NATS node that leads the stream {string} is killed",
  async function (this: NutsWorld, stream: string) {
    const env = clusterEnv(this);
    const leader = await env.nats.streamLeader(stream);
    const sidecars = await env.nats.sidecarConnections();
    await leader.kill();
    takenNodes.set(this, leader);
    faults(this).notes.push(
      `killed ${leader.name}, the stream leader, holding ${sidecars.get(leader.name) ?? 0} sidecar connections`,
    );
  },
);

When(
  "the NATS node that hosts a sidecar's live consumer, but no sidecar's connection, is killed",
  async function (this: NutsWorld) {
    const env = clusterEnv(this);
    const node = await consumerHostApartFromSidecars(env);
    await node.kill();
    takenNodes.set(this, node);
    faults(this).notes.push(`killed ${node.name}, host of a live consumer`);
  },
);

When(
  "a NATS node that holds a sidecar's connection stops answering",
  async function (this: NutsWorld) {
    const env = clusterEnv(this);
    const sidecars = await env.nats.sidecarConnections();
    const holding = env.nats.cluster.nodes.find((node) => (sidecars.get(node.name) ?? 0) > 0);
    if (!holding)
      throw new Error(`no node holds a sidecar connection: ${describeCounts(sidecars)}`);
    holding.pause();
    takenNodes.set(this, holding);
    faults(this).notes.push(
      `paused ${holding.name}, holding ${sidecars.get(holding.name)} sidecar connections`,
    );
  },
);

Then(
  "within {int} seconds both sidecars are connected to the other NATS nodes",
  async function (this: NutsWorld, seconds: number) {
    const env = clusterEnv(this);
    const paused = takenNode(this);
    const startedAt = Date.now();
    let seen = new Map<string, number>();
    await eventually(
      `both sidecars to leave ${paused.name} for the other nodes`,
      async () => {
        seen = await env.nats.sidecarConnections(paused);
        return [...seen.values()].reduce((sum, count) => sum + count, 0) === env.nodes.length;
      },
      { timeoutMs: seconds * 1000, describe: () => describeCounts(seen) },
    );
    faults(this).notes.push(
      `the sidecars were on ${describeCounts(seen)} ${((Date.now() - startedAt) / 1000).toFixed(1)} s after the pause`,
    );
  },
);

When("that NATS node answers again", function (this: NutsWorld) {
  takenNode(this).resume();
});

When("that NATS node is started again", async function (this: NutsWorld) {
  await takenNode(this).start();
});

function takenNode(world: NutsWorld): ClusterNode {
  const node = takenNodes.get(world);
  if (!node) throw new Error("no NATS node was taken away in this scenario");
  return node;
}

/**
 * A node with a live consumer and no sidecar connection, so that killing it takes the consumer
 * away from a sidecar that stays connected (otherwise the step would test a reconnect). JetStream
 * places consumers: a live consumer elsewhere is deleted, and its sidecar makes a new one, until
 * one lands there.
 */
async function consumerHostApartFromSidecars(env: ClusterEnv): Promise<ClusterNode> {
  const stream = "EVENTS";
  const sidecars = await env.nats.sidecarConnections();
  const free = env.nats.cluster.nodes.filter((node) => (sidecars.get(node.name) ?? 0) === 0);
  const [target] = free;
  if (!target)
    throw new Error(`every node holds a sidecar connection: ${describeCounts(sidecars)}`);
  const placed = () => liveConsumersPlaced(env, stream, env.nodes.length);
  for (let attempt = 0; attempt < PLACEMENT_ATTEMPTS; attempt++) {
    const consumers = await placed();
    if (consumers.some((consumer) => consumer.node === target.name)) return target;
    const moved = consumers[attempt % consumers.length] as { name: string };
    await env.nats.jsm.consumers.delete(stream, moved.name);
    await eventually(
      `consumer ${moved.name} to be replaced`,
      async () => (await placed()).every((consumer) => consumer.name !== moved.name),
      { timeoutMs: RECOVERY_MS },
    );
  }
  throw new Error(`no live consumer landed on ${target.name} in ${PLACEMENT_ATTEMPTS} attempts`);
}

/** The live consumers, once there is one per sidecar and each has a leader. */
async function liveConsumersPlaced(
  env: ClusterEnv,
  stream: string,
  count: number,
): Promise<{ name: string; node: string }[]> {
  let seen = "";
  return eventually(
    `${count} live consumers with a leader each`,
    async () => {
      const consumers = await env.nats.liveConsumers(stream);
      seen = JSON.stringify(consumers);
      if (consumers.length !== count || consumers.some((each) => each.node === undefined))
        return false;
      return consumers as { name: string; node: string }[];
    },
    { timeoutMs: RECOVERY_MS, describe: () => seen },
  );
}

// --- NUTS node faults ------------------------------------------------------------------------

When("NUTS node {string} is killed", async function (this: NutsWorld, name: string) {
  await nutsNode(this, name).kill();
});

When(
  "NUTS node {string} is restarted, and the balancer sends it streams again",
  async function (this: NutsWorld, name: string) {
    const node = nutsNode(this, name);
    const startedAt = Date.now();
    await node.stop();
    await node.start();
    await balancerServes(clusterEnv(this), name);
    faults(this).notes.push(`${name} back in ${((Date.now() - startedAt) / 1000).toFixed(1)} s`);
  },
);

Then(
  "the clients NUTS node {string} served have resumed on {string} with the last id they saw",
  function (this: NutsWorld, dead: string, alive: string) {
    const state = faults(this);
    const moved = state.clients.filter((client) => servedBy(client, 0) === dead);
    ok(moved.length > 0, `no client was served by ${dead}`);
    for (const client of moved) {
      const last = client.requests.at(-1);
      strictEqual(last?.headers?.get(SERVED_BY), alive, client.summary());
      for (const [index, each] of client.requests.entries()) {
        strictEqual(each.status, 200, `request ${index + 1}: ${client.summary()}`);
        if (index > 0) strictEqual(each.lastEventId, each.lastSeenId, client.summary());
      }
      deepStrictEqual(client.ofType("unavailable"), [], client.summary());
    }
    const untouched = state.clients.filter((client) => servedBy(client, 0) === alive);
    for (const client of untouched) strictEqual(client.requests.length, 1, client.summary());
    state.notes.push(`${moved.length} clients moved from ${dead} to ${alive}`);
  },
);

Then("every client now streams from NUTS node {string}", function (this: NutsWorld, name: string) {
  const perNode = countBy(faults(this).clients.map((client) => servedBy(client)));
  deepStrictEqual([...perNode.keys()], [name], describeCounts(perNode));
});

// --- helpers ---------------------------------------------------------------------------------

function balancer(env: ClusterEnv): Balancer {
  if (!env.balancer)
    throw new Error('no balancer: start one with "NUTS nodes ... behind the balancer"');
  return env.balancer;
}

/** Waits until a subscription through the balancer is served by the node of that name. */
async function balancerServes(env: ClusterEnv, name: string): Promise<void> {
  const seen = new Set<string>();
  await eventually(
    `the balancer to send a subscription to NUTS node ${name}`,
    async () => {
      const node = await balancer(env).probe();
      seen.add(String(node));
      return node === name;
    },
    { timeoutMs: RECOVERY_MS, describe: () => `served by ${[...seen].join(", ")}` },
  );
}

/** The node that served a client's request (by default its latest). */
function servedBy(client: RecordingClient, index = client.requests.length - 1): string {
  return client.requests[index]?.headers?.get(SERVED_BY) ?? "nobody";
}

function countBy(values: string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
  return counts;
}

function describeCounts(counts: Map<string, number>): string {
  return [...counts].map(([key, count]) => `${key} ${count}`).join(", ") || "none";
}
