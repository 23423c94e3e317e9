/**
 * The six scenarios, each run against one started system with the shared load generator.
 * Every function returns plain numbers; medians over runs are taken in results.ts.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { wallClockMs } from "./frames.js";
import type { InspectorSession } from "./inspector.js";
import type { ConnectResult, WindowResult } from "./loadgen.js";
import { cpuSeconds, openFiles, rssKiB, sum } from "./proc.js";
import { capacityMessages, type Profile } from "./profile.js";
import { publishAtRate, sleep } from "./publisher.js";
import type { RemoteLoadGenerator } from "./remote-loadgen.js";
import type { RunningSystem } from "./systems/system.js";

export interface ScenarioContext {
  system: RunningSystem;
  loadgen: RemoteLoadGenerator;
  profile: Profile;
  /** Makes topic names unique per run and system, so every counter starts at 1. */
  tag: string;
  /** Measured alongside the system's own processes (nats-server for NUTS). */
  extraProcesses: Record<string, number[]>;
  /** JetStream consumers on the stream right now; undefined for systems without NATS. */
  consumerCount?: () => Promise<number>;
  /** The topic pre-filled with `profile.replay.messages` messages. */
  replayTopic: string;
  /** The churn scenario writes the sidecar's heap snapshot at each checkpoint here. */
  heapSnapshotDir?: string;
  log: (line: string) => void;
}

export interface WindowMetrics {
  clients: number;
  published: number;
  received: number;
  lost: number;
  duplicates: number;
  closed: number;
  deliveriesPerSec: number;
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
  /** Percent of one core, per role, over the window including the drain. */
  cpuPercent: Record<string, number>;
}

export interface FanoutStep {
  clients: number;
  connectFailed: number;
  /** RSS growth per open idle connection, KiB, per role. */
  idleKiBPerConnection: Record<string, number>;
  capacity: WindowMetrics;
  latency: WindowMetrics;
  /** JetStream consumers on the stream while these clients were connected. */
  consumers: number | null;
}

export interface StormMetrics {
  clients: number;
  reconnectFailed: number;
  caughtUp: number;
  /** From the reconnect to the last client having every message; null if one never did. */
  caughtUpMs: number | null;
  lost: number;
  duplicates: number;
  /** Most JetStream consumers seen on the stream during the storm. */
  maxConsumers: number | null;
}

export interface ReplayMetrics {
  messages: number;
  received: number;
  lost: number;
  /** From the request to the last message received (at most the replay cap). */
  seconds: number;
  messagesPerSec: number;
  /** 1 when the wait ended at the replay cap with messages still to come, else 0. */
  capped: number;
}

/** The sidecar's memory after a forced full GC, once this many streams were opened and dropped. */
export interface ChurnCheckpoint {
  streams: number;
  /** V8 heap in use (reachable objects), KiB. */
  heapUsedKiB: number;
  /** Memory outside the V8 heap that objects hold (Buffers, sockets' native parts), KiB. */
  externalKiB: number;
  rssKiB: number;
  /** RSS just before the forced GC: garbage not collected yet included, as a plain reading sees it. */
  rssBeforeGcKiB: number;
  openFiles: number;
  /** JetStream consumers on the stream (the live one plus replays in progress). */
  consumers: number | null;
}

export interface ChurnMetrics {
  waveSize: number;
  holdMs: number;
  rate: number;
  opened: number;
  failed: number;
  /** Streams opened with `Last-Event-ID`. */
  resumed: number;
  /** Gaps and duplicates in what the streams received (resumed ones included). */
  lost: number;
  duplicates: number;
  seconds: number;
  checkpoints: ChurnCheckpoint[];
  /**
   * Growth per 10,000 streams from the first checkpoint after 0 to the last: the step from 0
   * includes the warm-up (compiled code, first allocations, the ring filling), later ones only
   * what the streams leave behind.
   */
  heapKiBPer10k: number;
  rssKiBPer10k: number;
}

/** Scenarios 1 and 2: idle memory per connection and fan-out to N clients on one topic. */
export async function fanout(context: ScenarioContext): Promise<FanoutStep[]> {
  const { system, loadgen, profile } = context;
  const topic = `${context.tag}-fan`;
  const lastByTopic: Record<string, number> = { [topic]: 0 };
  const memoryBefore = memoryByRole(system.processes());
  const steps: FanoutStep[] = [];
  let failed = 0;
  for (const clients of profile.fanout.clients) {
    const stepStarted = Date.now();
    const connected = await loadgen.connect({
      port: system.port,
      pathPrefix: system.subscribePath,
      topics: [topic],
      count: clients - (steps.at(-1)?.clients ?? 0),
      batchSize: profile.connectBatch,
      pauseMs: profile.connectPauseMs,
      timeoutMs: profile.connectTimeoutMs,
      timeMessages: true,
    });
    failed += connected.failed;
    reportConnect(context, clients, connected);
    await sleep(profile.settleMs);
    const memoryAfter = memoryByRole(system.processes());
    const idleKiBPerConnection: Record<string, number> = {};
    for (const [role, kib] of Object.entries(memoryAfter)) {
      idleKiBPerConnection[role] = (kib - (memoryBefore[role] ?? 0)) / clients;
    }
    const consumers = context.consumerCount ? await context.consumerCount() : null;
    const capacity = await window(context, {
      clients,
      count: capacityMessages(profile, clients),
      ratePerSecond: profile.fanout.capacityRate,
      topicOf: () => topic,
      lastByTopic,
    });
    const latency = await window(context, {
      clients,
      count: profile.fanout.latencyMessages,
      ratePerSecond: profile.fanout.latencyRate,
      topicOf: () => topic,
      lastByTopic,
    });
    context.log(
      `  fan-out ${clients}: ${Math.round(capacity.deliveriesPerSec)} deliveries/s, lost ${capacity.lost + latency.lost}, p99 ${latency.p99Ms?.toFixed(1)} ms at ${profile.fanout.latencyRate} msg/s (${took(stepStarted)})`,
    );
    steps.push({
      clients,
      connectFailed: failed,
      idleKiBPerConnection,
      capacity,
      latency,
      consumers,
    });
  }
  await closeClients(loadgen);
  return steps;
}

/** Scenario 3: clients and messages spread over many topics. */
export async function manyTopics(context: ScenarioContext): Promise<WindowMetrics> {
  const { system, loadgen, profile } = context;
  const { clients, topics: topicCount, messages, rate } = profile.manyTopics;
  const started = Date.now();
  const topics = Array.from({ length: topicCount }, (_, i) => `${context.tag}-t${i}`);
  const lastByTopic = Object.fromEntries(topics.map((topic) => [topic, 0]));
  const connected = await loadgen.connect({
    port: system.port,
    pathPrefix: system.subscribePath,
    topics,
    count: clients,
    batchSize: profile.connectBatch,
    pauseMs: profile.connectPauseMs,
    timeoutMs: profile.connectTimeoutMs,
    timeMessages: true,
  });
  reportConnect(context, clients, connected);
  await sleep(profile.settleMs);
  const metrics = await window(context, {
    clients,
    count: messages,
    ratePerSecond: rate,
    topicOf: (index) => topics[index % topics.length] as string,
    lastByTopic,
  });
  context.log(
    `  many topics: ${Math.round(metrics.deliveriesPerSec)} deliveries/s, lost ${metrics.lost}, p99 ${metrics.p99Ms?.toFixed(1)} ms (${took(started)})`,
  );
  await closeClients(loadgen);
  return metrics;
}

/**
 * Scenario 4: every client drops at once while messages keep coming, and all reconnect at once
 * with `Last-Event-ID`. Caught up = has the message that was last when the reconnect began.
 * Time-boxed: a reconnect without its response head within `reconnectTimeoutMs` has failed, no
 * batch starts after `reconnectDeadlineMs`, and the wait for the messages ends as soon as every
 * client has them all or has no connection (or after `catchUpTimeoutMs`).
 */
export async function reconnectStorm(context: ScenarioContext): Promise<StormMetrics | null> {
  const { system, loadgen, profile } = context;
  if (!system.resumes) return null;
  const { clients, rate, gapMs } = profile.storm;
  const started = Date.now();
  const topic = `${context.tag}-storm`;
  const lastByTopic: Record<string, number> = { [topic]: 0 };
  const connected = await loadgen.connect({
    port: system.port,
    pathPrefix: system.subscribePath,
    topics: [topic],
    count: clients,
    batchSize: profile.connectBatch,
    pauseMs: profile.connectPauseMs,
    timeoutMs: profile.connectTimeoutMs,
    timeMessages: false,
  });
  reportConnect(context, clients, connected);
  await sleep(profile.settleMs);
  await loadgen.mark({ lastByTopic });
  const publishing = new AbortController();
  const published = publishAtRate(system.publisher, {
    count: Number.MAX_SAFE_INTEGER,
    ratePerSecond: rate,
    topicOf: () => topic,
    lastByTopic,
    signal: publishing.signal,
  });
  await sleep(1_000);
  await loadgen.drop();
  await sleep(gapMs);
  let maxConsumers: number | null = null;
  const polling = new AbortController();
  const poller = (async () => {
    if (!context.consumerCount) return;
    while (!polling.signal.aborted) {
      const count = await context.consumerCount().catch(() => 0);
      maxConsumers = Math.max(maxConsumers ?? 0, count);
      await sleep(50);
    }
  })();
  // All at once, paced only by the servers' answers (a batch starts when the previous one has
  // its response heads): a single burst of 5,000 SYNs overflows any accept queue and measures
  // the kernel's SYN retry back-off instead of the server.
  const reconnected = await loadgen.reconnect({
    batchSize: profile.storm.reconnectBatch,
    pauseMs: 0,
    catchUpTo: { ...lastByTopic },
    timeoutMs: profile.storm.reconnectTimeoutMs,
    deadlineMs: profile.storm.reconnectDeadlineMs,
  });
  await sleep(1_000);
  publishing.abort();
  await published;
  const result = await loadgen.collect({
    lastByTopic: { ...lastByTopic },
    timeoutMs: profile.storm.catchUpTimeoutMs,
  });
  polling.abort();
  await poller;
  await closeClients(loadgen);
  const metrics: StormMetrics = {
    clients,
    reconnectFailed: reconnected.failed,
    caughtUp: result.caughtUp,
    caughtUpMs: result.caughtUpMs,
    lost: result.lost,
    duplicates: result.duplicates,
    maxConsumers,
  };
  context.log(
    `  storm: ${result.caughtUp}/${clients} caught up in ${result.caughtUpMs === null ? "-" : Math.round(result.caughtUpMs)} ms (reconnect failures ${reconnected.failed}${reconnected.errors.length > 0 ? `: ${reconnected.errors.join("; ")}` : ""}; reconnecting took ${reconnected.elapsedMs} ms), lost ${result.lost}, dup ${result.duplicates}, max consumers ${maxConsumers ?? "-"} (${took(started)})`,
  );
  return metrics;
}

/**
 * Scenario 5: one client reads every retained message of a topic, or as many as it gets within
 * `profile.replay.timeoutMs` (the rate is then over what arrived).
 */
export async function replay(context: ScenarioContext): Promise<ReplayMetrics | null> {
  const { system, loadgen, profile } = context;
  if (!system.replay) return null;
  const messages = profile.replay.messages;
  await loadgen.mark({ lastByTopic: {} });
  const started = wallClockMs();
  const connected = await loadgen.connect({
    port: system.port,
    pathPrefix: system.replay.path,
    topics: [context.replayTopic],
    count: 1,
    batchSize: 1,
    pauseMs: 0,
    timeoutMs: profile.connectTimeoutMs,
    timeMessages: false,
    startAfter: 0,
    ...(system.replay.lastEventId === undefined ? {} : { lastEventId: system.replay.lastEventId }),
  });
  reportConnect(context, 1, connected);
  const result = await loadgen.collect({
    lastByTopic: { [context.replayTopic]: messages },
    timeoutMs: profile.replay.timeoutMs,
  });
  await closeClients(loadgen);
  const seconds = ((result.lastReceiveAt ?? started) - started) / 1000;
  const metrics: ReplayMetrics = {
    messages,
    received: result.received,
    lost: result.lost,
    seconds,
    messagesPerSec: seconds > 0 ? result.received / seconds : 0,
    capped: result.timedOut ? 1 : 0,
  };
  const capped = result.timedOut
    ? ` (stopped at the ${profile.replay.timeoutMs / 1000} s cap)`
    : "";
  context.log(
    `  replay: ${result.received}/${messages} in ${seconds.toFixed(2)} s = ${Math.round(metrics.messagesPerSec)} msg/s${capped}`,
  );
  return metrics;
}

/**
 * Scenario 6: memory under churn (NUTS only: the reading comes from the sidecar's inspector).
 * Waves of clients on a few topics, every third resuming with `Last-Event-ID` (alternately
 * from the previous wave, in the ring, and from four waves back, read from the stream), each
 * wave dropped `holdMs` after it began connecting, while messages flow at a steady rate. At 0
 * and at each checkpoint the sidecar's heap is read after a forced full GC: a stream that
 * leaves something behind shows as growth proportional to the streams opened.
 */
export async function churn(context: ScenarioContext): Promise<ChurnMetrics | null> {
  const { system, loadgen, profile } = context;
  if (!system.inspect) return null;
  const settings = profile.churn;
  const started = Date.now();
  const topics = Array.from({ length: settings.topics }, (_, i) => `${context.tag}-churn${i}`);
  const lastByTopic = Object.fromEntries(topics.map((topic) => [topic, 0]));
  const inspector = await system.inspect();
  const checkpoints: ChurnCheckpoint[] = [];
  const totals = { opened: 0, failed: 0, resumed: 0, lost: 0, duplicates: 0 };
  const publishing = new AbortController();
  const published = publishAtRate(system.publisher, {
    count: Number.MAX_SAFE_INTEGER,
    ratePerSecond: settings.rate,
    topicOf: (index) => topics[index % topics.length] as string,
    lastByTopic,
    signal: publishing.signal,
  });
  try {
    checkpoints.push(await churnCheckpoint(context, inspector, 0));
    let streams = 0;
    for (const target of settings.checkpoints) {
      const result = await loadgen.churn({
        port: system.port,
        pathPrefix: system.subscribePath,
        topics,
        streams: target - streams,
        waveSize: settings.waveSize,
        holdMs: settings.holdMs,
        resumeEvery: settings.resumeEvery,
        resumeWavesAgo: settings.resumeWavesAgo,
        timeoutMs: profile.connectTimeoutMs,
      });
      reportConnect(context, target - streams, result);
      streams = target;
      totals.opened += result.opened;
      totals.failed += result.failed;
      totals.resumed += result.resumed;
      totals.lost += result.lost;
      totals.duplicates += result.duplicates;
      // Let the sidecar see the last wave's sockets close before it is measured.
      await sleep(profile.settleMs);
      const point = await churnCheckpoint(context, inspector, target);
      checkpoints.push(point);
      context.log(
        `  churn ${target}: heap ${mib(point.heapUsedKiB)}, external ${mib(point.externalKiB)}, rss ${mib(point.rssKiB)} after GC (${mib(point.rssBeforeGcKiB)} before); fds ${point.openFiles}, consumers ${point.consumers ?? "-"}, resumed ${totals.resumed}, lost ${totals.lost}, dup ${totals.duplicates} (${took(started)})`,
      );
    }
  } finally {
    publishing.abort();
    await published;
    inspector.close();
    await closeClients(loadgen);
  }
  const first = checkpoints[1] ?? checkpoints[0];
  const last = checkpoints.at(-1);
  const per10k = (read: (point: ChurnCheckpoint) => number) =>
    first && last && last.streams > first.streams
      ? ((read(last) - read(first)) / (last.streams - first.streams)) * 10_000
      : 0;
  const metrics: ChurnMetrics = {
    waveSize: settings.waveSize,
    holdMs: settings.holdMs,
    rate: settings.rate,
    ...totals,
    seconds: (Date.now() - started) / 1000,
    checkpoints,
    heapKiBPer10k: per10k((point) => point.heapUsedKiB),
    rssKiBPer10k: per10k((point) => point.rssKiB),
  };
  context.log(
    `  churn: heap ${metrics.heapKiBPer10k.toFixed(0)} KiB, rss ${metrics.rssKiBPer10k.toFixed(0)} KiB per 10,000 streams after the first ${first?.streams ?? 0} (${took(started)})`,
  );
  return metrics;
}

async function churnCheckpoint(
  context: ScenarioContext,
  inspector: InspectorSession,
  streams: number,
): Promise<ChurnCheckpoint> {
  const sidecar = context.system.processes().sidecar ?? [];
  const rssBeforeGcKiB = sum(sidecar, rssKiB);
  const memory = await inspector.memoryAfterGc();
  // Read before any snapshot: taking one costs the process memory of its own.
  const rssAfterGcKiB = sum(sidecar, rssKiB);
  if (context.heapSnapshotDir) {
    await writeFile(
      join(context.heapSnapshotDir, `${context.tag}-${streams}.heapsnapshot`),
      await inspector.heapSnapshot(),
    );
  }
  return {
    streams,
    heapUsedKiB: memory.heapUsed / 1024,
    externalKiB: memory.external / 1024,
    rssKiB: rssAfterGcKiB,
    rssBeforeGcKiB,
    openFiles: sum(sidecar, openFiles),
    consumers: context.consumerCount ? await context.consumerCount() : null,
  };
}

function mib(kib: number): string {
  return `${(kib / 1024).toFixed(1)} MiB`;
}

/** Publishes `count` messages and waits for every client to have them (or the drain timeout). */
async function window(
  context: ScenarioContext,
  load: {
    clients: number;
    count: number;
    ratePerSecond: number;
    topicOf: (index: number) => string;
    lastByTopic: Record<string, number>;
  },
): Promise<WindowMetrics> {
  const { loadgen, system, profile } = context;
  await loadgen.mark({ lastByTopic: { ...load.lastByTopic } });
  const roles = {
    ...system.processes(),
    ...context.extraProcesses,
    loadgen: [loadgen.pid],
  };
  const cpuBefore = cpuByRole(roles);
  const started = wallClockMs();
  const published = await publishAtRate(system.publisher, load);
  const result: WindowResult = await loadgen.collect({
    lastByTopic: { ...load.lastByTopic },
    timeoutMs: profile.drainTimeoutMs,
  });
  const elapsedSeconds = (wallClockMs() - started) / 1000;
  const cpuAfter = cpuByRole(roles);
  const cpuPercent: Record<string, number> = {};
  for (const role of Object.keys(roles)) {
    cpuPercent[role] = (((cpuAfter[role] ?? 0) - (cpuBefore[role] ?? 0)) / elapsedSeconds) * 100;
  }
  const deliverySeconds = ((result.lastReceiveAt ?? started) - started) / 1000;
  return {
    clients: result.clients,
    published,
    received: result.received,
    lost: result.lost,
    duplicates: result.duplicates,
    closed: result.closed,
    deliveriesPerSec: deliverySeconds > 0 ? result.received / deliverySeconds : 0,
    p50Ms: result.latency?.p50 ?? null,
    p99Ms: result.latency?.p99 ?? null,
    maxMs: result.latency?.max ?? null,
    cpuPercent,
  };
}

function memoryByRole(roles: Record<string, number[]>): Record<string, number> {
  return Object.fromEntries(Object.entries(roles).map(([role, pids]) => [role, sum(pids, rssKiB)]));
}

function cpuByRole(roles: Record<string, number[]>): Record<string, number> {
  return Object.fromEntries(
    Object.entries(roles).map(([role, pids]) => [role, sum(pids, cpuSeconds)]),
  );
}

async function closeClients(loadgen: RemoteLoadGenerator): Promise<void> {
  await loadgen.close();
  // Let the servers notice the closed sockets before the next scenario measures anything.
  await sleep(200);
}

function took(startedAt: number): string {
  return `${((Date.now() - startedAt) / 1000).toFixed(1)} s`;
}

function reportConnect(context: ScenarioContext, clients: number, result: ConnectResult): void {
  if (result.failed === 0) return;
  context.log(`  ${result.failed} of ${clients} connections failed (${result.errors.join("; ")})`);
}
