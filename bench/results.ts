/** The shape of a benchmark's results file, and the medians over runs. */
import type {
  ChurnMetrics,
  FanoutStep,
  ReplayMetrics,
  StormMetrics,
  WindowMetrics,
} from "./scenarios.js";
import { median } from "./stats.js";
import type { SystemName } from "./systems/system.js";

/** Everything one run measured on one system. */
export interface SystemRun {
  system: SystemName;
  run: number;
  error?: string;
  fanout: FanoutStep[];
  manyTopics: WindowMetrics | null;
  storm: StormMetrics | null;
  replay: ReplayMetrics | null;
  /** Memory under churn; NUTS only (null for the others, and in results from before it). */
  churn?: ChurnMetrics | null;
}

export interface Environment {
  date: string;
  profile: string;
  runs: number;
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  node: string;
  caddy: string;
  natsServer: string;
  nchan: string;
  /** `ulimit -n` (soft and hard) the bench and every system it started ran with. */
  fileLimit: { soft: number; hard: number };
  /** Wall time from `durationFrom` starting to the results being written. */
  durationSeconds: number;
  /** `make` when run by `make bench` (the build and the nchan install count), else `bench/run.ts`. */
  durationFrom?: string;
  /** The part spent in bench/run.ts (nchan install, NATS setup, every run). */
  benchSeconds?: number;
}

export interface Results {
  environment: Environment;
  /** Medians over the runs, per system. */
  systems: Partial<Record<SystemName, Omit<SystemRun, "run" | "error">>>;
  runs: SystemRun[];
}

/**
 * The median of several runs of the same shape: numbers are replaced by their median (runs that
 * did not measure them are left out), objects and arrays are taken apart key by key.
 */
export function medianOfRuns<T>(runs: readonly T[]): T {
  const first = runs.find((run) => run !== null && run !== undefined);
  if (first === undefined) return runs[0] as T;
  if (typeof first === "number") return median(runs as unknown as number[]) as T;
  if (Array.isArray(first)) {
    return first.map((_, index) =>
      medianOfRuns(runs.map((run) => (run as unknown as unknown[] | null)?.[index])),
    ) as T;
  }
  if (typeof first === "object") {
    const keys = new Set<string>();
    for (const run of runs)
      if (run && typeof run === "object") for (const key of Object.keys(run)) keys.add(key);
    const merged: Record<string, unknown> = {};
    for (const key of keys) {
      merged[key] = medianOfRuns(runs.map((run) => (run as Record<string, unknown> | null)?.[key]));
    }
    return merged as T;
  }
  return first;
}

/** Medians per system over the runs that did not fail. */
export function aggregate(runs: readonly SystemRun[]): Results["systems"] {
  const bySystem: Results["systems"] = {};
  const names = [...new Set(runs.map((run) => run.system))];
  for (const name of names) {
    const complete = runs.filter((run) => run.system === name && run.error === undefined);
    if (complete.length === 0) continue;
    const { fanout, manyTopics, storm, replay, churn } = medianOfRuns(
      complete.map(({ fanout, manyTopics, storm, replay, churn }) => ({
        fanout,
        manyTopics,
        storm,
        replay,
        churn: churn ?? null,
      })),
    );
    bySystem[name] = { system: name, fanout, manyTopics, storm, replay, churn };
  }
  return bySystem;
}
