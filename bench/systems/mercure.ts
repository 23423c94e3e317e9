/**
 * NUTS's Mercure hub the way Mercure users run it: `nuts run` with a Caddyfile `mercure` block
 * (Caddy in front, the sidecar behind it); clients subscribe with `?topic=`. The hub's updates
 * live in their own stream, made here.
 *
 * Updates go into NATS the way the hub stores them (a core publish on the update's id subject
 * with the Mercure headers), as the NUTS route's messages do, so the two routes' fan-out is
 * compared under the same publisher. With `httpPublish`, they are POSTed to the hub with a
 * publisher JWT instead (pipelined on one keep-alive connection): Caddy answers pipelined
 * requests one at a time, each after JetStream's ack, so that measures the publish path's
 * round trips more than the fan-out.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { SignJWT } from "jose";
import { generateId, idSubject, updateHeaders } from "../../mercure/update.js";
import { childrenOf, commandName } from "../proc.js";
import { PipelinedHttpPublisher, type Publisher } from "../publisher.js";
import { startNutsRun } from "./nuts.js";
import { freePort, type RunningSystem, stopChild } from "./system.js";

export interface MercureSetup {
  repoRoot: string;
  natsUrl: string;
  /** Write a V8 CPU profile of the sidecar into this folder. */
  cpuProfileDir?: string;
  /** Publish with form POSTs to the hub instead of into NATS. @default false */
  httpPublish?: boolean;
}

const HUB = "/.well-known/mercure";
const SUBSCRIBE_PATH = `${HUB}?topic=`;
/** The hub's stream, apart from the NUTS route's (bench's `events.>`). */
const STREAM = "MERCURE_BENCH";
const SUBJECT_PREFIX = "mercure.";
/** A bench-only HS256 key (32 bytes or more). */
const PUBLISHER_KEY = "bench-mercure-publisher-key-0123456789";

export async function startMercureViaCaddy(setup: MercureSetup): Promise<RunningSystem> {
  const nats = await connect({ servers: setup.natsUrl });
  const jsm = await jetstreamManager(nats);
  await jsm.streams.delete(STREAM).catch(() => false);
  await jsm.streams.add({ name: STREAM, subjects: [`${SUBJECT_PREFIX}>`] });
  const dir = await mkdtemp(join(tmpdir(), "nuts-bench-mercure-"));
  const port = await freePort();
  const caddyfile = join(dir, "Caddyfile");
  await writeFile(
    caddyfile,
    `http://127.0.0.1:${port} {
\tmercure {
\t\tpublisher_jwt ${PUBLISHER_KEY}
\t\tanonymous
\t\ttransport nats {
\t\t\turl ${setup.natsUrl}
\t\t\tstream ${STREAM}
\t\t\tsubject_prefix ${SUBJECT_PREFIX}
\t\t}
\t}
}
`,
  );
  const profile = setup.cpuProfileDir ? ["--cpu-prof", "--cpu-prof-dir", setup.cpuProfileDir] : [];
  const { child } = await startNutsRun(setup.repoRoot, caddyfile, dir, profile, {
    port,
    path: `${SUBSCRIBE_PATH}probe`,
  }).catch(async (error: Error) => {
    await nats.close();
    throw new Error(`with a mercure block: ${error.message}`);
  });
  const token = await new SignJWT({ mercure: { publish: ["*"] } })
    .setProtectedHeader({ alg: "HS256" })
    .sign(new TextEncoder().encode(PUBLISHER_KEY));
  const publisher: Publisher = setup.httpPublish
    ? await PipelinedHttpPublisher.open(port, HUB, (topic, data, host) => {
        const form = new URLSearchParams({ topic, data }).toString();
        return `POST ${HUB} HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${Buffer.byteLength(form)}\r\n\r\n${form}`;
      })
    : {
        publish(topic, data) {
          const id = generateId();
          const headers = updateHeaders({ id, topics: [topic], data, private: false });
          nats.publish(idSubject(SUBJECT_PREFIX, id), data, { headers });
        },
        flush: () => nats.flush(),
        async close() {},
      };
  return {
    name: "mercure-caddy",
    port,
    subscribePath: SUBSCRIBE_PATH,
    // The replay topic is filled on the NUTS route's stream, not the hub's.
    replay: null,
    resumes: true,
    publisher,
    processes: () => {
      const roles: Record<string, number[]> = { sidecar: [], caddy: [] };
      for (const pid of childrenOf(child.pid ?? 0)) {
        if (commandName(pid) === "caddy") roles.caddy?.push(pid);
        else roles.sidecar?.push(pid);
      }
      return roles;
    },
    async stop() {
      await publisher.close();
      await nats.close();
      await stopChild(child, 15_000);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
