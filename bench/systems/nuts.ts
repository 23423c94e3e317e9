/**
 * NUTS, twice: the way users run it (`nuts run` with a Caddyfile: Caddy in front, the sidecar
 * behind it on a unix socket), and the sidecar alone on TCP loopback (`nuts sidecar`).
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SIDECAR_NODE_OPTIONS } from "../../cli/sidecar-node-options.js";
import { InspectorSession } from "../inspector.js";
import { childrenOf, commandName, listeningPorts } from "../proc.js";
import type { NatsPublisher } from "../publisher.js";
import { freePort, type RunningSystem, spawnLogged, stopChild, waitForStream } from "./system.js";

export interface NutsSetup {
  repoRoot: string;
  natsUrl: string;
  streamName: string;
  topicPrefix: string;
  publisher: NatsPublisher;
  /** Write a V8 CPU profile of the sidecar into this folder. */
  cpuProfileDir?: string;
  /** Start the sidecar with an inspector on a loopback port (for `RunningSystem.inspect`). */
  inspect?: boolean;
}

/** Any free loopback port; found again from the process's sockets (see `sidecarInspector`). */
const INSPECT = "--inspect=127.0.0.1:0";

const SUBSCRIBE_PATH = "/events?topic=";
/** `Last-Event-ID: 0` is older than anything retained: the client gets everything. */
const REPLAY = { path: SUBSCRIBE_PATH, lastEventId: "0" };

export async function startNutsViaCaddy(setup: NutsSetup): Promise<RunningSystem> {
  const dir = await mkdtemp(join(tmpdir(), "nuts-bench-caddy-"));
  const port = await freePort();
  const caddyfile = join(dir, "Caddyfile");
  await writeFile(
    caddyfile,
    `http://127.0.0.1:${port} {
\troute /events* {
\t\tnuts {
\t\t\tnats_url ${setup.natsUrl}
\t\t\tstream_name ${setup.streamName}
\t\t\ttopic_prefix ${setup.topicPrefix}
\t\t}
\t}
}
`,
  );
  // nuts run passes Node's options on to the sidecar: two profiles, the sidecar's the larger.
  // With --inspect, `nuts run` itself gets an inspector too; the sidecar's is told apart by pid.
  const profile = [
    ...(setup.cpuProfileDir ? ["--cpu-prof", "--cpu-prof-dir", setup.cpuProfileDir] : []),
    ...(setup.inspect ? [INSPECT] : []),
  ];
  const { child, output } = await startNutsRun(setup.repoRoot, caddyfile, dir, profile, {
    port,
    path: `${SUBSCRIBE_PATH}probe`,
  });
  const byRole = () => {
    const roles: Record<string, number[]> = { sidecar: [], caddy: [] };
    for (const pid of childrenOf(child.pid ?? 0)) {
      if (commandName(pid) === "caddy") roles.caddy?.push(pid);
      else roles.sidecar?.push(pid);
    }
    return roles;
  };
  return {
    name: "nuts-caddy",
    port,
    subscribePath: SUBSCRIBE_PATH,
    replay: REPLAY,
    resumes: true,
    publisher: setup.publisher,
    processes: byRole,
    ...(setup.inspect
      ? { inspect: () => sidecarInspector(byRole().sidecar?.[0] ?? 0, [port]) }
      : {}),
    caddyAdminSocket: () => caddyAdminSocket(output),
    async stop() {
      await stopChild(child, 15_000);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Caddy's admin socket, from the line `nuts run` prints once Caddy and the sidecar run
 * ("... caddy /path/caddy with admin unix//tmp/.../caddy-admin.sock; ..."), which may come
 * after the first stream is served.
 */
async function caddyAdminSocket(output: () => string): Promise<string> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const socket = / with admin unix\/(\S+);/.exec(output())?.[1];
    if (socket) return socket;
    if (Date.now() > deadline)
      throw new Error(
        `nuts run printed no "with admin unix/<socket>;" line within 10 s; its output:\n${output().slice(-2_000)}`,
      );
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** How often the metrics variant is scraped, as a Prometheus would (its default is 15 s). */
const SCRAPE_INTERVAL_MS = 5_000;

/**
 * The sidecar alone; with `metrics`, its admin listener is on and `/metrics` is fetched every
 * few seconds, so the two can be compared in one run (metrics must cost under 5 %).
 */
export async function startNutsDirect(setup: NutsSetup, metrics = false): Promise<RunningSystem> {
  const dir = await mkdtemp(join(tmpdir(), "nuts-bench-sidecar-"));
  const port = await freePort();
  const config = join(dir, "sidecar.json");
  await writeFile(
    config,
    JSON.stringify({
      routes: {
        events: {
          nats_url: setup.natsUrl,
          stream_name: setup.streamName,
          topic_prefix: setup.topicPrefix,
          path_prefix: "/events",
        },
      },
    }),
  );
  // Node options as `nuts sidecar` gets them from bin/nuts.js's #! line.
  const profile = [
    ...SIDECAR_NODE_OPTIONS,
    ...(setup.cpuProfileDir ? ["--cpu-prof", "--cpu-prof-dir", setup.cpuProfileDir] : []),
    ...(setup.inspect ? [INSPECT] : []),
  ];
  const adminPort = metrics ? await freePort() : undefined;
  const { child, output } = spawnLogged(
    process.execPath,
    [
      ...profile,
      join(setup.repoRoot, "bin", "nuts.js"),
      "sidecar",
      "--config",
      config,
      "--listen",
      `127.0.0.1:${port}`,
      ...(adminPort === undefined ? [] : ["--admin-listen", `127.0.0.1:${adminPort}`]),
    ],
    { cwd: setup.repoRoot },
  );
  try {
    await waitForStream(port, `${SUBSCRIBE_PATH}probe`, child, output);
  } catch (error) {
    await stopChild(child);
    throw new Error(`nuts sidecar did not come up: ${(error as Error).message}`);
  }
  const scraper = adminPort === undefined ? undefined : scrapeEvery(adminPort);
  const ownPorts = adminPort === undefined ? [port] : [port, adminPort];
  return {
    name: metrics ? "nuts-direct-metrics" : "nuts-direct",
    port,
    subscribePath: SUBSCRIBE_PATH,
    replay: REPLAY,
    resumes: true,
    publisher: setup.publisher,
    processes: () => ({ sidecar: [child.pid ?? 0] }),
    ...(setup.inspect ? { inspect: () => sidecarInspector(child.pid ?? 0, ownPorts) } : {}),
    async stop() {
      if (scraper) clearInterval(scraper);
      await stopChild(child, 15_000);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Fetches the sidecar's `/metrics` every few seconds, as Prometheus would. */
function scrapeEvery(adminPort: number): NodeJS.Timeout {
  return setInterval(() => {
    fetch(`http://127.0.0.1:${adminPort}/metrics`)
      .then((response) => response.text())
      .catch(() => {});
  }, SCRAPE_INTERVAL_MS);
}

/**
 * A session with the inspector of the sidecar process: of its listening ports but `others`, the
 * one that lists a debugging target (the sidecar may listen for more, e.g. an admin listener).
 */
/**
 * `nuts run` of a bench Caddyfile, with Node options for the profile, and without its admin and
 * Caddy metrics listeners (the system measured is Caddy and the sidecar alone;
 * nuts-direct-metrics measures these). Resolves once `probe` streams; stops it if it never does.
 */
export async function startNutsRun(
  repoRoot: string,
  caddyfile: string,
  dir: string,
  nodeOptions: string[],
  probe: { port: number; path: string },
): Promise<ReturnType<typeof spawnLogged>> {
  const started = spawnLogged(
    process.execPath,
    [
      ...nodeOptions,
      join(repoRoot, "bin", "nuts.js"),
      "run",
      "--config",
      caddyfile,
      "--runtime-dir",
      join(dir, "runtime"),
    ],
    {
      cwd: repoRoot,
      env: {
        ...process.env,
        NUTS_ADMIN_LISTEN: "off",
        NUTS_CADDY_METRICS_LISTEN: "off",
        PATH: `${join(repoRoot, ".tools", "bin")}:${process.env.PATH ?? ""}`,
      },
    },
  );
  try {
    await waitForStream(probe.port, probe.path, started.child, started.output);
  } catch (error) {
    await stopChild(started.child);
    throw new Error(`nuts run did not come up: ${(error as Error).message}`);
  }
  return started;
}

async function sidecarInspector(pid: number, others: number[]): Promise<InspectorSession> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    for (const port of listeningPorts(pid).filter((each) => !others.includes(each))) {
      const session = await InspectorSession.open(port, 2_000).catch(() => undefined);
      if (session) return session;
    }
    if (Date.now() > deadline)
      throw new Error(
        `the sidecar (pid ${pid}) has no inspector port; was it started with ${INSPECT}?`,
      );
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
