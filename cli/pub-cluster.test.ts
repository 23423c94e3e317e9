/**
 * `nuts pub` on a real three-node cluster while the stream has no leader: during an election it
 * keeps trying with the same message id (stored once, no error); with no leader for longer than
 * `--timeout` it says that JetStream did not answer and that retrying is safe, never that no
 * stream captures the subject.
 */
import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  addReplicatedStream,
  type NatsCluster,
  startNatsCluster,
} from "../testing/nats-cluster.js";
import { buildNuts, runNuts } from "../testing/nuts-cli.js";
import { eventually } from "../testing/sse-client.js";

let cluster: NatsCluster;
let nc: NatsConnection;
let jsm: JetStreamManager;

beforeAll(async () => {
  [cluster] = await Promise.all([startNatsCluster(), buildNuts()]);
  nc = await connect({ servers: cluster.urls, reconnectTimeWait: 100, maxReconnectAttempts: -1 });
  jsm = await jetstreamManager(nc);
  await addReplicatedStream(jsm, { name: "EVENTS", subjects: ["events.>"] });
}, 60_000);

afterAll(async () => {
  await nc?.close();
  await cluster?.stop();
}, 30_000);

async function streamLeader(): Promise<string> {
  let leader: string | undefined;
  await eventually(
    async () => {
      leader = (await jsm.streams.info("EVENTS").catch(() => undefined))?.cluster?.leader;
      return leader !== undefined;
    },
    "the stream to have a leader",
    30_000,
  );
  if (!leader) throw new Error("unreachable");
  return leader;
}

describe("nuts pub while the stream elects a leader", () => {
  it("publishes once the new leader answers, and JetStream stores the message once", async () => {
    await runNuts(["pub", "events.g", "first", "--server", cluster.urls.join(",")]);
    const leader = await streamLeader();
    await cluster.node(leader).kill();
    const others = cluster.nodes.filter((node) => node.name !== leader).map((node) => node.url);
    try {
      const result = await runNuts(["pub", "events.g", "during", "--server", others.join(",")]);

      expect(result).toEqual({
        code: 0,
        stdout: "published to events.g: stream EVENTS seq 2\n",
        stderr: "",
      });
      const state = (await jsm.streams.info("EVENTS")).state;
      expect([state.messages, state.last_seq]).toEqual([2, 2]);
    } finally {
      // The next test needs all three, whatever happened here.
      await cluster.node(leader).start();
    }
  }, 90_000);

  it("says that JetStream did not answer and that retrying is safe when no leader can be elected", async () => {
    // Two of three nodes gone: no quorum, so no leader for the stream or for JetStream itself.
    const [survivor, ...gone] = cluster.nodes;
    if (!survivor) throw new Error("no nodes");
    for (const node of gone) await node.kill();
    try {
      const result = await runNuts([
        "pub",
        "events.g",
        "lost?",
        "--timeout",
        "2",
        "--server",
        survivor.url,
      ]);

      expect(result).toEqual({
        code: 1,
        stdout: "",
        stderr:
          "nuts: JetStream did not answer within 2 s: its stream may be electing a leader after a NATS node failure; retrying is safe (or give more time with --timeout)\n",
      });
    } finally {
      for (const node of gone) await node.start();
    }
  }, 90_000);
});
