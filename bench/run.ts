/**
 * `make bench`: the benchmark orchestrator. Starts a nats-server, then each system in turn
 * (NUTS through Caddy, over h2c and over the HTTP/1.1 hop it replaced, the NUTS sidecar direct,
 * nginx + nchan, the minimal Node server), runs
 * the scenarios against it with one load generator process, and writes the results.
 *
 *   npx tsx bench/run.ts [--quick] [--runs N] [--systems nuts-caddy,nchan]
 *                        [--scenarios fanout,many-topics,storm,replay,churn] [--cpu-prof DIR]
 *                        [--heap-snapshots DIR] [--caddy-prof DIR]
 *
 * `--heap-snapshots` writes the sidecar's heap snapshot at each churn checkpoint (compare two
 * with bench/heap-summary.ts). `--caddy-prof` takes Caddy's own profiles in the fan-out scenario
 * of the `nuts run` system (CPU in the capacity and latency windows at 5,000 clients, heap and
 * memstats at rest with 10,000), logs their summaries and writes them into DIR (see
 * bench/caddy-profile.ts; read a profile again with bench/pprof.ts).
 *
 * Writes bench/results/<timestamp>.json; a full run of all systems and scenarios also writes
 * docs/benchmarks.json, docs/benchmarks.md and docs/benchmarks.svg.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { startNatsServer } from "../testing/nats-server.js";
import { CaddyFanoutProfiler } from "./caddy-profile.js";
import { renderChart } from "./chart.js";
import {
  ancestorNamed,
  childrenOf,
  commandLine,
  commandName,
  fileLimits,
  startedAtMs,
} from "./proc.js";
import { PROFILES, type Profile } from "./profile.js";
import { NatsPublisher, publishAtRate, sleep } from "./publisher.js";
import { RemoteLoadGenerator } from "./remote-loadgen.js";
import { renderReport } from "./report.js";
import { aggregate, type Environment, type Results, type SystemRun } from "./results.js";
import {
  churn,
  fanout,
  manyTopics,
  reconnectStorm,
  replay,
  type ScenarioContext,
} from "./scenarios.js";
import { startBaseline } from "./systems/baseline.js";
import { startMercureViaCaddy } from "./systems/mercure.js";
import { NCHAN_MAX_PUBLISH_RATE, nchanVersion, startNchan } from "./systems/nchan.js";
import { startNutsDirect, startNutsViaCaddy, startNutsViaCaddyHttp1 } from "./systems/nuts.js";
import { type RunningSystem, SYSTEM_NAMES, type SystemName } from "./systems/system.js";

const repoRoot = dirname(dirname(fileURLToPath(import.meta.url)));
const STREAM = "EVENTS";
const TOPIC_PREFIX = "events.";
const REPLAY_TOPIC = "replay";
const SCENARIO_NAMES = ["fanout", "many-topics", "storm", "replay", "churn"];

const startedAt = Date.now();
/**
 * Where the wall time is counted from: the `make` this runs under (so the build and the nchan
 * install count too), or else this process.
 */
const makePid = ancestorNamed("make");
const wallStartedAt = (makePid && startedAtMs(makePid)) || performance.timeOrigin;

function log(line: string): void {
  const seconds = ((Date.now() - startedAt) / 1000).toFixed(0).padStart(4);
  process.stderr.write(`bench: ${seconds} s ${line}\n`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: "boolean", default: false },
      runs: { type: "string" },
      systems: { type: "string" },
      scenarios: { type: "string" },
      "cpu-prof": { type: "string" },
      "heap-snapshots": { type: "string" },
      "caddy-prof": { type: "string" },
    },
  });
  const base = PROFILES[values.quick ? "quick" : "full"];
  const profile: Profile = { ...base, runs: values.runs ? Number(values.runs) : base.runs };
  const systems = (values.systems?.split(",") ?? [...SYSTEM_NAMES]) as SystemName[];
  for (const name of systems) {
    if (!SYSTEM_NAMES.includes(name))
      throw new Error(`unknown system ${name}; one of ${SYSTEM_NAMES.join(", ")}`);
  }
  const scenarios = new Set(values.scenarios?.split(",") ?? SCENARIO_NAMES);
  for (const name of scenarios) {
    if (!SCENARIO_NAMES.includes(name))
      throw new Error(`unknown scenario ${name}; one of ${SCENARIO_NAMES.join(", ")}`);
  }
  // Churn is a slope over tens of thousands of streams, not a median of noisy windows: it runs
  // once, in the first run, on the first NUTS system of the list (NUTS via Caddy, as users run
  // it, when selected). That keeps it at about two minutes of a full `make bench`.
  const churnSystem = scenarios.has("churn")
    ? (["nuts-caddy", "nuts-direct"] as const).find((name) => systems.includes(name))
    : undefined;
  const started = Date.now();
  const limits = fileLimits();
  log(`profile ${profile.name}, ${profile.runs} run(s), systems ${systems.join(", ")}`);
  log(`open files limit: soft ${limits.soft}, hard ${limits.hard} (children inherit it)`);
  const neededFiles = Math.max(...profile.fanout.clients) * 2 + 200;
  if (limits.soft < neededFiles) {
    log(
      `the open files limit is below ${neededFiles}: Caddy cannot hold ${Math.max(...profile.fanout.clients)} proxied streams (raise it with ulimit -n)`,
    );
  }
  if (systems.includes("nchan")) installNchan();

  const nats = await startNatsServer();
  const natsPid = natsServerPid();
  const connection = await connect({ servers: nats.url });
  const jsm = await jetstreamManager(connection);
  await jsm.streams.add({ name: STREAM, subjects: [`${TOPIC_PREFIX}>`] });
  const natsPublisher = new NatsPublisher(connection, TOPIC_PREFIX);
  log(
    `nats-server ${nats.url}; filling topic ${REPLAY_TOPIC} with ${profile.replay.messages} messages`,
  );
  await prefill(natsPublisher, profile.replay.messages);
  await waitForStreamMessages(jsm, profile.replay.messages);

  const loadgen = RemoteLoadGenerator.start();
  let current: RunningSystem | undefined;
  // Ctrl-C: stop what was started (nats-server stops itself on exit), then leave.
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      log(`${signal}: stopping`);
      loadgen.stop();
      void (current?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
    });
  }
  const runs: SystemRun[] = [];
  try {
    for (let run = 1; run <= profile.runs; run++) {
      // Each run starts with another system, so none is always the first after the prefill
      // (nats-server still busy with its disk) or always the last (a warm machine).
      const shift = (run - 1) % systems.length;
      for (const name of [...systems.slice(shift), ...systems.slice(0, shift)]) {
        log(`run ${run}/${profile.runs}: ${name}`);
        const result: SystemRun = {
          system: name,
          run,
          fanout: [],
          manyTopics: null,
          storm: null,
          replay: null,
          churn: null,
        };
        let system: RunningSystem | undefined;
        try {
          const options = {
            natsUrl: nats.url,
            publisher: natsPublisher,
            profile,
            cpuProfileDir: values["cpu-prof"],
            // The churn scenario reads the sidecar's memory through its inspector.
            inspect: run === 1 && name === churnSystem,
          };
          const starting = Date.now();
          system = await startSystem(name, options).catch((error: Error) => {
            log(`${name} did not start (${error.message.split("\n")[0]}); trying once more`);
            return startSystem(name, options);
          });
          current = system;
          // nchan numbers the messages of a second with a 16-bit tag: more than 32,767 in one
          // second wrap it and scramble the channel's order, so its replay topic is filled at a
          // rate below that.
          if (name === "nchan")
            await prefill(system.publisher, profile.replay.messages, NCHAN_MAX_PUBLISH_RATE);
          log(`  ${name} up${name === "nchan" ? " and filled" : ""} (${seconds(starting)})`);
          const isNuts = name.startsWith("nuts-");
          const context: ScenarioContext = {
            system,
            loadgen,
            profile,
            tag: `r${run}-${name}`,
            extraProcesses:
              (isNuts || name === "mercure-caddy") && natsPid ? { nats: [natsPid] } : {},
            ...(isNuts
              ? { consumerCount: async () => (await jsm.streams.info(STREAM)).state.consumer_count }
              : {}),
            replayTopic: REPLAY_TOPIC,
            ...(values["heap-snapshots"] ? { heapSnapshotDir: values["heap-snapshots"] } : {}),
            log,
          };
          if (scenarios.has("fanout")) {
            const caddyProfiler = await caddyProfilerFor(system, values["caddy-prof"], context);
            result.fanout = await fanout(
              caddyProfiler ? { ...context, loadgen: caddyProfiler.observe(loadgen) } : context,
            ).finally(() => caddyProfiler?.finish());
          }
          if (scenarios.has("many-topics")) result.manyTopics = await manyTopics(context);
          if (scenarios.has("storm")) result.storm = await reconnectStorm(context);
          if (scenarios.has("replay")) result.replay = await replay(context);
          if (run === 1 && name === churnSystem) result.churn = await churn(context);
        } catch (error) {
          result.error = (error as Error).message;
          log(`${name} failed: ${result.error}`);
          await loadgen.close().catch(() => {});
        } finally {
          const stopping = Date.now();
          await system?.stop().catch((error: Error) => log(`stopping ${name}: ${error.message}`));
          // A stopped sidecar's ordered consumer lingers until the server times it out; the
          // next system's consumer count must start from zero.
          await deleteConsumers(jsm);
          log(`  ${name} stopped (${seconds(stopping)})`);
        }
        runs.push(result);
        await sleep(200);
      }
    }
  } finally {
    loadgen.stop();
    await connection.close();
    await nats.stop();
  }

  const environment: Environment = {
    date: new Date().toISOString(),
    profile: profile.name,
    runs: profile.runs,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? "unknown",
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    caddy: commandOutput(join(repoRoot, ".tools", "bin", "caddy"), ["version"]).split(" ")[0] ?? "",
    natsServer: commandOutput(join(repoRoot, ".tools", "bin", "nats-server"), ["--version"]),
    nchan: systems.includes("nchan") ? nchanVersion() : "not run",
    fileLimit: limits,
    durationSeconds: Math.round((Date.now() - wallStartedAt) / 1000),
    durationFrom: makePid ? commandLine(makePid) || "make" : "bench/run.ts",
    benchSeconds: Math.round((Date.now() - started) / 1000),
  };
  const results: Results = { environment, systems: aggregate(runs), runs };
  const stamp = environment.date.replace(/[:.]/g, "-");
  const resultsDir = join(repoRoot, "bench", "results");
  mkdirSync(resultsDir, { recursive: true });
  const resultsFile = join(resultsDir, `${stamp}.json`);
  writeFileSync(resultsFile, `${JSON.stringify(results, null, 2)}\n`);
  const report = renderReport(results, profile);
  writeFileSync(join(resultsDir, `${stamp}.md`), report);
  log(`results in ${resultsFile}`);
  const everything =
    systems.length === SYSTEM_NAMES.length && scenarios.size === SCENARIO_NAMES.length;
  if (profile.name === "full" && everything) {
    writeFileSync(
      join(repoRoot, "docs", "benchmarks.json"),
      `${JSON.stringify(results, null, 2)}\n`,
    );
    writeFileSync(join(repoRoot, "docs", "benchmarks.md"), report);
    writeFileSync(join(repoRoot, "docs", "benchmarks.svg"), renderChart(results));
    log("docs/benchmarks.md, docs/benchmarks.json and docs/benchmarks.svg updated");
  }
  process.stdout.write(report);
  log(
    `done: ${environment.benchSeconds} s in bench/run.ts, ${environment.durationSeconds} s wall time since ${environment.durationFrom} started`,
  );
}

async function startSystem(
  name: SystemName,
  options: {
    natsUrl: string;
    publisher: NatsPublisher;
    profile: Profile;
    cpuProfileDir: string | undefined;
    inspect: boolean;
  },
): Promise<RunningSystem> {
  const nuts = {
    inspect: options.inspect,
    repoRoot,
    natsUrl: options.natsUrl,
    streamName: STREAM,
    topicPrefix: TOPIC_PREFIX,
    publisher: options.publisher,
    ...(options.cpuProfileDir ? { cpuProfileDir: options.cpuProfileDir } : {}),
  };
  switch (name) {
    case "nuts-caddy":
      return startNutsViaCaddy(nuts);
    case "nuts-caddy-http1":
      return startNutsViaCaddyHttp1(nuts);
    case "nuts-direct":
      return startNutsDirect(nuts);
    case "nuts-direct-metrics":
      return startNutsDirect(nuts, true);
    case "mercure-caddy":
      return startMercureViaCaddy(nuts);
    case "nchan":
      return startNchan({
        bufferLength: options.profile.replay.messages + 1_000,
        workerConnections: Math.max(...options.profile.fanout.clients) + 1_000,
      });
    case "baseline":
      return startBaseline();
  }
}

/** With `--caddy-prof DIR`: the fan-out scenario's Caddy profiler, if the system has a Caddy. */
async function caddyProfilerFor(
  system: RunningSystem,
  dir: string | undefined,
  context: ScenarioContext,
): Promise<CaddyFanoutProfiler | undefined> {
  if (dir === undefined) return undefined;
  if (!system.caddyAdminSocket) {
    log(`  ${system.name} has no Caddy admin socket: no Caddy profiles`);
    return undefined;
  }
  return new CaddyFanoutProfiler({
    adminSocket: await system.caddyAdminSocket(),
    dir,
    tag: context.tag,
    steps: context.profile.fanout.clients,
    log,
  });
}

/** Fills the replay topic with messages 1..count, as fast as the server takes them or at a rate. */
async function prefill(
  publisher: RunningSystem["publisher"],
  count: number,
  ratePerSecond = 1e9,
): Promise<void> {
  await publishAtRate(publisher, {
    count,
    ratePerSecond,
    topicOf: () => REPLAY_TOPIC,
    lastByTopic: { [REPLAY_TOPIC]: 0 },
  });
}

async function waitForStreamMessages(
  jsm: Awaited<ReturnType<typeof jetstreamManager>>,
  count: number,
): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if ((await jsm.streams.info(STREAM)).state.messages >= count) return;
    await sleep(100);
  }
  throw new Error(`stream ${STREAM} did not reach ${count} messages within 60 s`);
}

async function deleteConsumers(jsm: Awaited<ReturnType<typeof jetstreamManager>>): Promise<void> {
  for await (const consumer of jsm.consumers.list(STREAM)) {
    await jsm.consumers.delete(STREAM, consumer.name).catch(() => {});
  }
}

function installNchan(): void {
  const result = spawnSync("bash", [join(repoRoot, "bench", "install-nchan.sh")], {
    stdio: "inherit",
  });
  if (result.status !== 0)
    throw new Error(
      "nginx with nchan is not available (see above); run with --systems to leave it out",
    );
}

/** The nats-server child of this process (the test helper does not expose its pid). */
function natsServerPid(): number | undefined {
  return childrenOf(process.pid).find((pid) => commandName(pid) === "nats-server");
}

function seconds(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(1)} s`;
}

function commandOutput(command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { encoding: "utf8" }).trim();
  } catch {
    return "unknown";
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    log(error instanceof Error ? (error.stack ?? error.message) : String(error));
    process.exit(1);
  },
);
