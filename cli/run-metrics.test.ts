/**
 * `nuts run` with metrics: the sidecar's admin listener and Caddy's metrics where the start-up
 * lines say, and neither reachable through the site Caddy serves.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type NatsServer, startNatsServer } from "../testing/nats-server.js";
import { buildNuts, eventsCaddyfile, type NutsRun, startNutsRun } from "../testing/nuts-cli.js";
import { freePort } from "../testing/processes.js";
import { eventually, fetchAll, openSse } from "../testing/sse-client.js";

let nats: NatsServer;
let nc: NatsConnection;
let workDir: string;
let run: NutsRun | undefined;
let sitePort: number;
let adminPort: number;
let caddyMetricsPort: number;

beforeAll(async () => {
  [nats] = await Promise.all([startNatsServer(), buildNuts()]);
  nc = await connect(nats.connectOptions());
  await (await jetstreamManager(nc)).streams.add({ name: "EVENTS", subjects: ["events.>"] });
  workDir = await mkdtemp(join(tmpdir(), "nuts-run-metrics-"));
  [sitePort, adminPort, caddyMetricsPort] = [await freePort(), await freePort(), await freePort()];
  const config = join(workDir, "Caddyfile");
  await writeFile(config, eventsCaddyfile(sitePort, nats.url));
  // startNutsRun passes this process's environment on.
  process.env.NUTS_ADMIN_LISTEN = `127.0.0.1:${adminPort}`;
  process.env.NUTS_CADDY_METRICS_LISTEN = `127.0.0.1:${caddyMetricsPort}`;
  try {
    run = await startNutsRun(config, join(workDir, "run"));
  } finally {
    delete process.env.NUTS_ADMIN_LISTEN;
    delete process.env.NUTS_CADDY_METRICS_LISTEN;
  }
});

afterAll(async () => {
  await run?.kill();
  await nc?.close();
  await nats?.stop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

describe("nuts run with metrics", () => {
  it("says where the sidecar's health and metrics and Caddy's metrics are", () => {
    expect(run?.stdout()).toContain(
      `nuts: sidecar health and metrics on http://127.0.0.1:${adminPort} (/livez, /readyz, /metrics)\n`,
    );
    expect(run?.stdout()).toContain(
      `nuts: caddy metrics on http://127.0.0.1:${caddyMetricsPort}/metrics\n`,
    );
    // The metrics server is not one of the sites.
    expect(run?.stdout()).toContain(`nuts: serving http://localhost:${sitePort}\n`);
  });

  it("serves the sidecar's readiness and metrics, and Caddy's, after traffic", async () => {
    // The admin listener may still be binding (nuts run prints its address first).
    await eventually(
      async () =>
        (await fetchAll({ port: adminPort, path: "/readyz" }).catch(() => undefined))?.status ===
        200,
      "the sidecar's /readyz to answer 200",
    );
    const client = await openSse({ port: sitePort, path: "/events?topic=run" });
    await client.waitForEvents(1);
    const sidecar = await fetchAll({ port: adminPort, path: "/metrics" });
    expect(sidecar.body).toContain('nuts_streams_opened_total{route="events"} 1\n');
    const caddy = await fetchAll({ port: caddyMetricsPort, path: "/metrics" });
    client.abort();
    expect(caddy.status).toBe(200);
    // Recorded when the stream's first bytes went out, which the client has seen.
    expect(caddy.body).toMatch(
      /^caddy_http_response_duration_seconds_count\{code="200",handler="subroute",method="GET",server="srv0"\} 1$/m,
    );
    expect(caddy.body).toContain("process_cpu_seconds_total");
  });

  it("does not serve /metrics, /readyz or /livez through the site unless routed there", async () => {
    for (const path of ["/metrics", "/readyz", "/livez"]) {
      const result = await fetchAll({ port: sitePort, path });
      expect(result.body, path).toBe("");
      expect(result.headers["content-type"], path).toBeUndefined();
    }
  });
});
