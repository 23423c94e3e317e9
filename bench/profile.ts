/**
 * How much load each scenario applies. `full` is what `make bench` runs, sized so that the whole
 * `make bench` (build and nchan install included) takes about 7 minutes on two cores: windows
 * just long enough for stable medians, short settle pauses, and time limits on the storm and the
 * replay so that a system that is stuck or slow costs seconds, not minutes. `quick` is a smoke
 * check of the whole pipeline.
 */
export interface Profile {
  name: "full" | "quick";
  /** Runs of everything; every reported figure is the median over them. */
  runs: number;
  connectBatch: number;
  connectPauseMs: number;
  /** Pause after connecting before memory is read or messages are sent. */
  settleMs: number;
  /** A new client that has no response head after this long counts as failed. */
  connectTimeoutMs: number;
  /** How long a window waits for the last deliveries after publishing ends. */
  drainTimeoutMs: number;
  fanout: {
    clients: number[];
    /**
     * The capacity window: messages at a rate no system fully keeps up with at 5,000 clients,
     * as many as make `capacityDeliveries` deliveries in all (fewer messages for more clients).
     */
    capacityRate: number;
    capacityDeliveries: number;
    /** The latency window: the rate of the p99 target. */
    latencyRate: number;
    latencyMessages: number;
  };
  manyTopics: { clients: number; topics: number; rate: number; messages: number };
  storm: {
    clients: number;
    rate: number;
    gapMs: number;
    reconnectBatch: number;
    /** A reconnecting client without its response head after this long has failed. */
    reconnectTimeoutMs: number;
    /** No reconnect batch starts later than this after the storm's first one. */
    reconnectDeadlineMs: number;
    /** How long the reconnected clients get to have every message, once all have reconnected. */
    catchUpTimeoutMs: number;
  };
  /** `timeoutMs` caps the wait: a system that is slower is reported with what it delivered. */
  replay: { messages: number; timeoutMs: number };
  /**
   * Streams opened and dropped in waves while messages flow (NUTS only): the sidecar's memory
   * after a forced GC is read at 0 and at each count of `checkpoints` (streams so far).
   */
  churn: {
    waveSize: number;
    topics: number;
    holdMs: number;
    rate: number;
    /** Every n-th client of a wave resumes with `Last-Event-ID`. */
    resumeEvery: number;
    /** Resumers take the cursor of a client this many waves back, in turn (see loadgen.ts). */
    resumeWavesAgo: number[];
    checkpoints: number[];
  };
}

export const PROFILES: Record<Profile["name"], Profile> = {
  full: {
    name: "full",
    runs: 3,
    connectBatch: 500,
    connectPauseMs: 10,
    settleMs: 300,
    connectTimeoutMs: 10_000,
    drainTimeoutMs: 15_000,
    fanout: {
      clients: [1_000, 5_000, 10_000],
      capacityRate: 100,
      capacityDeliveries: 200_000,
      latencyRate: 10,
      latencyMessages: 10,
    },
    manyTopics: { clients: 5_000, topics: 1_000, rate: 1_000, messages: 2_000 },
    storm: {
      clients: 5_000,
      rate: 20,
      gapMs: 1_000,
      reconnectBatch: 500,
      reconnectTimeoutMs: 5_000,
      reconnectDeadlineMs: 10_000,
      catchUpTimeoutMs: 5_000,
    },
    replay: { messages: 100_000, timeoutMs: 8_000 },
    churn: {
      waveSize: 300,
      topics: 10,
      holdMs: 700,
      rate: 500,
      resumeEvery: 3,
      resumeWavesAgo: [1, 4],
      checkpoints: [10_000, 20_000, 30_000],
    },
  },
  quick: {
    name: "quick",
    runs: 1,
    connectBatch: 250,
    connectPauseMs: 5,
    settleMs: 300,
    connectTimeoutMs: 10_000,
    drainTimeoutMs: 10_000,
    fanout: {
      clients: [200, 1_000],
      capacityRate: 100,
      capacityDeliveries: 50_000,
      latencyRate: 10,
      latencyMessages: 10,
    },
    manyTopics: { clients: 1_000, topics: 100, rate: 500, messages: 500 },
    storm: {
      clients: 1_000,
      rate: 20,
      gapMs: 500,
      reconnectBatch: 500,
      reconnectTimeoutMs: 5_000,
      reconnectDeadlineMs: 10_000,
      catchUpTimeoutMs: 5_000,
    },
    replay: { messages: 10_000, timeoutMs: 8_000 },
    churn: {
      waveSize: 300,
      topics: 10,
      holdMs: 700,
      rate: 500,
      resumeEvery: 3,
      resumeWavesAgo: [1, 4],
      checkpoints: [1_500, 3_000],
    },
  },
};

/** Messages in one capacity window for this many clients. */
export function capacityMessages(profile: Profile, clients: number): number {
  return Math.max(10, Math.ceil(profile.fanout.capacityDeliveries / clients));
}
