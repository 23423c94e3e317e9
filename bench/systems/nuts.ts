/**
 * NUTS, twice: the way users run it (`nuts run` with a Caddyfile: Caddy in front, the sidecar
 * behind it on a unix socket), and the sidecar alone on TCP loopback (`nuts sidecar`).
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { adaptFile, requireRoutes } from "../../caddy/index.js";
import { caddyJsonOf, withPrivateAdmin, withQuietProxyLog } from "../../cli/caddy-config.js";
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
  await writeFile(caddyfile, benchCaddyfile(setup, port));
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
 * NUTS through Caddy as it was before issue #13: Caddy reaches the sidecar over HTTP/1.1, one
 * upstream connection per stream, where `nuts run` now asks for h2c (every stream on a few
 * shared connections). Everything else is what `nuts run` gives the nuts-caddy system: the same
 * Caddyfile, adapted the same way, Caddy's JSON with the same private admin socket and quiet
 * proxy log and no metrics listener, the sidecar with the same Node options and no admin
 * listener. Only the supervisor is left out: the bench starts the sidecar and Caddy itself.
 */
export async function startNutsViaCaddyHttp1(setup: NutsSetup): Promise<RunningSystem> {
  const dir = await mkdtemp(join(tmpdir(), "nuts-bench-caddy-http1-"));
  const port = await freePort();
  const caddyfile = join(dir, "Caddyfile");
  await writeFile(caddyfile, benchCaddyfile(setup, port));
  const sidecarSocket = join(dir, "nuts.sock");
  const adminSocket = join(dir, "caddy-admin.sock");
  const caddyBinary = join(setup.repoRoot, ".tools", "bin", "caddy");
  const adapted = requireRoutes(
    await adaptFile(caddyfile, { listen: `unix:${sidecarSocket}`, env: process.env }),
    caddyfile,
  );
  if (adapted.caddy.format !== "caddyfile")
    throw new Error(`the adapter turned ${caddyfile} into Caddy JSON; expected a Caddyfile`);
  const caddyJson = withPrivateAdmin(
    withQuietProxyLog(
      await caddyJsonOf(
        { format: "caddyfile", text: withoutH2c(adapted.caddy.text) },
        { caddyBinary, runtimeDir: dir, env: process.env, sourceFile: caddyfile },
      ),
    ),
    adminSocket,
  );
  requireHttp1Upstreams(caddyJson, `unix/${sidecarSocket}`);
  const sidecarConfig = join(dir, "sidecar.json");
  const caddyConfig = join(dir, "caddy.json");
  await writeFile(sidecarConfig, JSON.stringify(adapted.sidecar), { mode: 0o600 });
  await writeFile(caddyConfig, JSON.stringify(caddyJson), { mode: 0o600 });

  const sidecar = spawnLogged(
    process.execPath,
    [
      ...SIDECAR_NODE_OPTIONS,
      ...(setup.cpuProfileDir ? ["--cpu-prof", "--cpu-prof-dir", setup.cpuProfileDir] : []),
      ...(setup.inspect ? [INSPECT] : []),
      join(setup.repoRoot, "bin", "nuts.js"),
      "sidecar",
      "--config",
      sidecarConfig,
      "--listen",
      `unix:${sidecarSocket}`,
      "--admin-listen",
      "off",
    ],
    { cwd: setup.repoRoot },
  );
  const caddy = spawnLogged(caddyBinary, ["run", "--config", caddyConfig], {
    cwd: dir,
    env: process.env,
  });
  const stopBoth = async () => {
    await stopChild(caddy.child, 15_000);
    await stopChild(sidecar.child, 15_000);
  };
  const output = () => `sidecar:\n${sidecar.output()}\ncaddy:\n${caddy.output()}`;
  try {
    // Caddy answers 502 until the sidecar listens: a 200 needs both.
    await waitForStream(port, `${SUBSCRIBE_PATH}probe`, caddy.child, output);
    if (sidecar.child.exitCode !== null) throw new Error(`the sidecar exited:\n${output()}`);
  } catch (error) {
    await stopBoth();
    await rm(dir, { recursive: true, force: true });
    throw new Error(
      `nuts sidecar + caddy (HTTP/1.1 hop) did not come up: ${(error as Error).message}`,
    );
  }
  return {
    name: "nuts-caddy-http1",
    port,
    subscribePath: SUBSCRIBE_PATH,
    replay: REPLAY,
    resumes: true,
    publisher: setup.publisher,
    processes: () => ({ sidecar: [sidecar.child.pid ?? 0], caddy: [caddy.child.pid ?? 0] }),
    ...(setup.inspect ? { inspect: () => sidecarInspector(sidecar.child.pid ?? 0, []) } : {}),
    caddyAdminSocket: async () => adminSocket,
    async stop() {
      await stopBoth();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The adapter's Caddyfile without the `transport http { versions h2c }` block of its
 * reverse_proxy to the sidecar, so that Caddy uses its default transport: HTTP/1.1 on cleartext.
 * Throws when there is no such block: the system would silently be the same as nuts-caddy.
 */
export function withoutH2c(caddyfile: string): string {
  const block = /\n(\t+)transport http \{\n\t+versions h2c\n\1\}/g;
  const found = caddyfile.match(block)?.length ?? 0;
  if (found !== 1)
    throw new Error(
      `expected one "transport http { versions h2c }" block in the adapted Caddyfile, found ${found}; the HTTP/1.1 hop system must change what the adapter writes (caddy/caddyfile-adapter.ts):\n${caddyfile}`,
    );
  return caddyfile.replace(block, "");
}

/**
 * Checks Caddy's adapted JSON: every reverse_proxy dials the sidecar's socket and none asks for
 * h2c or HTTP/2 (Caddy's default transport speaks HTTP/1.1 to a cleartext upstream).
 */
export function requireHttp1Upstreams(config: unknown, dial: string): void {
  const proxies = handlersNamed(config, "reverse_proxy") as {
    upstreams?: { dial?: string }[];
    transport?: { versions?: string[] };
  }[];
  if (proxies.length === 0) throw new Error("Caddy's adapted config has no reverse_proxy");
  for (const proxy of proxies) {
    const dials = (proxy.upstreams ?? []).map((upstream) => upstream.dial);
    const versions = proxy.transport?.versions ?? [];
    if (dials.some((each) => each !== dial) || versions.some((version) => version !== "1.1"))
      throw new Error(
        `a reverse_proxy in Caddy's adapted config is not HTTP/1.1 to ${dial}: ${JSON.stringify(proxy)}`,
      );
  }
}

function handlersNamed(value: unknown, name: string): object[] {
  if (Array.isArray(value)) return value.flatMap((each) => handlersNamed(each, name));
  if (typeof value !== "object" || value === null) return [];
  const own = (value as { handler?: unknown }).handler === name ? [value] : [];
  return [...own, ...Object.values(value).flatMap((each) => handlersNamed(each, name))];
}

/** The Caddyfile both NUTS-through-Caddy systems are given: one route, one nuts block. */
function benchCaddyfile(setup: NutsSetup, port: number): string {
  return `http://127.0.0.1:${port} {
\troute /events* {
\t\tnuts {
\t\t\tnats_url ${setup.natsUrl}
\t\t\tstream_name ${setup.streamName}
\t\t\ttopic_prefix ${setup.topicPrefix}
\t\t}
\t}
}
`;
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
