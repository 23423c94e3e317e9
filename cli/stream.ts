/**
 * `nuts stream add NAME --subjects ...`: create the JetStream stream NUTS reads from, without
 * needing the NATS CLI. Re-running it with the same settings is harmless; with other settings
 * it changes nothing and says what differs.
 */
import {
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from "@nats-io/jetstream";
import type { Command } from "commander";
import { action, UserError } from "./errors.js";
import {
  addConnectionOptions,
  type ConnectionFlags,
  openJetStreamManager,
  withNats,
} from "./nats-connect.js";

/** The stream settings `nuts stream add` controls, as its flags spell them. */
export interface StreamAddFlags {
  subjects: string[];
  /** @default "file" */
  storage?: string;
  /** @default "limits" */
  retention?: string;
  /** @default "unlimited" */
  maxMsgs?: string;
  /** @default "unlimited" */
  maxMsgsPerSubject?: string;
  /** @default "unlimited" */
  maxAge?: string;
  /** @default "old" */
  discard?: string;
}

/** The part of a StreamConfig that `nuts stream add` sets and compares. */
export type StreamSettings = Pick<
  StreamConfig,
  | "name"
  | "subjects"
  | "storage"
  | "retention"
  | "max_msgs"
  | "max_msgs_per_subject"
  | "max_age"
  | "discard"
>;

/** What `nuts stream add` asks for; --max-age is kept as typed so messages echo "24h", not "1d". */
export interface StreamRequest {
  settings: StreamSettings;
  maxAgeAsTyped: string;
}

const UNLIMITED = -1;
const NANOS_PER_SECOND = 1_000_000_000;
const SECONDS_PER_UNIT = { d: 86_400, h: 3_600, m: 60, s: 1 } as const;
type DurationUnit = keyof typeof SECONDS_PER_UNIT;

export function registerStream(program: Command): void {
  const stream = program.command("stream").description("manage JetStream streams");
  const add = stream
    .command("add")
    .description("create a JetStream stream (succeeds if it already exists with these settings)")
    .argument("<name>", "stream name, like EVENTS")
    .requiredOption("--subjects <subject...>", "subjects the stream captures, like 'events.>'")
    .option("--storage <type>", "file or memory", "file")
    .option("--retention <policy>", "limits, interest or workqueue", "limits")
    .option("--max-msgs <n>", "most messages kept, or unlimited", "unlimited")
    .option(
      "--max-msgs-per-subject <n>",
      "most messages kept per subject, or unlimited",
      "unlimited",
    )
    .option(
      "--max-age <duration>",
      "oldest message kept, like 90s, 30m, 24h, 7d, or unlimited",
      "unlimited",
    )
    .option("--discard <policy>", "when full, discard old or new messages", "old");
  addConnectionOptions(add).action(
    action(async (name: string, flags: StreamAddFlags & ConnectionFlags) => {
      const request = resolveStreamRequest(name, flags);
      const line = await withNats(flags, async (nc) =>
        addStream(await openJetStreamManager(nc, flags), request),
      );
      process.stdout.write(`${line}\n`);
    }),
  );
}

/** Checks every flag and fills the defaults; a bad value is a UserError naming the flag. */
export function resolveStreamRequest(name: string, flags: StreamAddFlags): StreamRequest {
  if (flags.subjects.length === 0) throw new UserError("--subjects needs at least one subject");
  const maxAgeAsTyped = flags.maxAge ?? "unlimited";
  const settings: StreamSettings = {
    name,
    subjects: flags.subjects,
    storage: oneOf("--storage", flags.storage ?? "file", {
      file: StorageType.File,
      memory: StorageType.Memory,
    }),
    retention: oneOf("--retention", flags.retention ?? "limits", {
      limits: RetentionPolicy.Limits,
      interest: RetentionPolicy.Interest,
      workqueue: RetentionPolicy.Workqueue,
    }),
    max_msgs: parseLimit("--max-msgs", flags.maxMsgs ?? "unlimited"),
    max_msgs_per_subject: parseLimit(
      "--max-msgs-per-subject",
      flags.maxMsgsPerSubject ?? "unlimited",
    ),
    max_age: parseMaxAge(maxAgeAsTyped),
    discard: oneOf("--discard", flags.discard ?? "old", {
      old: DiscardPolicy.Old,
      new: DiscardPolicy.New,
    }),
  };
  return { settings, maxAgeAsTyped };
}

/** Creates the stream, or confirms an identical one exists; returns the line to print. */
export async function addStream(jsm: JetStreamManager, request: StreamRequest): Promise<string> {
  const wanted = request.settings;
  const existing = await currentConfig(jsm, wanted.name);
  if (existing) {
    const differences = describeDifferences(existing, request);
    if (differences.length > 0) {
      throw new UserError(
        `stream ${wanted.name} exists with different settings: ${differences.join("; ")}`,
      );
    }
    return `stream ${wanted.name} already exists with these settings`;
  }
  try {
    await jsm.streams.add(wanted);
  } catch (error) {
    throw await explainAddFailure(jsm, wanted, error);
  }
  return `created stream ${summarize(request)}`;
}

async function currentConfig(
  jsm: JetStreamManager,
  name: string,
): Promise<StreamConfig | undefined> {
  try {
    return (await jsm.streams.info(name)).config;
  } catch (error) {
    if (error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound) {
      return undefined;
    }
    if (error instanceof Error && error.name === "InvalidNameError") {
      throw new UserError(`cannot create stream ${name}: ${error.message}`, { cause: error });
    }
    throw error;
  }
}

/** One `field is X, not Y` phrase per setting that differs, in flag order. */
export function describeDifferences(existing: StreamConfig, request: StreamRequest): string[] {
  const wanted = request.settings;
  const differences: string[] = [];
  const compare = (field: string, same: boolean, actual: string, requested: string) => {
    if (!same) differences.push(`${field} is ${actual}, not ${requested}`);
  };
  const existingSubjects = existing.subjects ?? [];
  compare(
    "subjects",
    sameSubjects(existingSubjects, wanted.subjects),
    JSON.stringify(existingSubjects),
    JSON.stringify(wanted.subjects),
  );
  compare("storage", existing.storage === wanted.storage, existing.storage, wanted.storage);
  compare(
    "retention",
    existing.retention === wanted.retention,
    existing.retention,
    wanted.retention,
  );
  compare(
    "max_msgs",
    existing.max_msgs === wanted.max_msgs,
    formatLimit(existing.max_msgs),
    formatLimit(wanted.max_msgs),
  );
  compare(
    "max_msgs_per_subject",
    existing.max_msgs_per_subject === wanted.max_msgs_per_subject,
    formatLimit(existing.max_msgs_per_subject),
    formatLimit(wanted.max_msgs_per_subject),
  );
  compare(
    "max_age",
    existing.max_age === wanted.max_age,
    formatDuration(existing.max_age),
    request.maxAgeAsTyped,
  );
  compare("discard", existing.discard === wanted.discard, existing.discard, wanted.discard);
  return differences;
}

/** The order subjects were listed in does not change what a stream captures. */
function sameSubjects(actual: string[], requested: string[]): boolean {
  const sorted = (subjects: string[]) => JSON.stringify([...new Set(subjects)].sort());
  return sorted(actual) === sorted(requested);
}

async function explainAddFailure(
  jsm: JetStreamManager,
  wanted: StreamSettings,
  error: unknown,
): Promise<unknown> {
  if (!(error instanceof Error)) return error;
  const prefix = `cannot create stream ${wanted.name}`;
  if (error instanceof JetStreamApiError && /subjects overlap/i.test(error.message)) {
    const others = await streamsCapturing(jsm, wanted.subjects);
    const which = others.length > 0 ? ` ${others.join(", ")}` : " an existing stream";
    return new UserError(
      `${prefix}: its subjects ${JSON.stringify(wanted.subjects)} overlap with those of stream${which}; pick other subjects or remove that stream`,
      { cause: error },
    );
  }
  // Invalid names and subjects come back as readable messages from the client or the server.
  if (error instanceof JetStreamApiError || error.name === "InvalidNameError") {
    return new UserError(`${prefix}: ${error.message}`, { cause: error });
  }
  return error;
}

async function streamsCapturing(jsm: JetStreamManager, subjects: string[]): Promise<string[]> {
  const names = new Set<string>();
  for (const subject of subjects) {
    for await (const name of jsm.streams.names(subject)) names.add(name);
  }
  return [...names].sort();
}

function summarize({ settings, maxAgeAsTyped }: StreamRequest): string {
  return [
    `${settings.name}: subjects ${JSON.stringify(settings.subjects)}`,
    `${settings.storage} storage`,
    `${settings.retention} retention`,
    `max_msgs ${formatLimit(settings.max_msgs)}`,
    `max_msgs_per_subject ${formatLimit(settings.max_msgs_per_subject)}`,
    `max_age ${maxAgeAsTyped}`,
    `discard ${settings.discard}`,
  ].join(", ");
}

function oneOf<T>(flag: string, value: string, accepted: Record<string, T>): T {
  const choice = Object.hasOwn(accepted, value) ? accepted[value] : undefined;
  if (choice === undefined) {
    const forms = Object.keys(accepted);
    const listed = `${forms.slice(0, -1).join(", ")} or ${forms.at(-1)}`;
    throw new UserError(`${flag} takes ${listed}, got ${JSON.stringify(value)}`);
  }
  return choice;
}

/** A positive whole number, or `unlimited` (stored as -1, the server's "no limit"). */
function parseLimit(flag: string, value: string): number {
  if (value === "unlimited") return UNLIMITED;
  const limit = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(limit) || limit < 1) {
    throw new UserError(
      `${flag} takes a positive whole number or "unlimited", got ${JSON.stringify(value)}`,
    );
  }
  return limit;
}

/** `90s`, `30m`, `24h`, `7d` or `unlimited`, in nanoseconds (0 is the server's "no limit"). */
function parseMaxAge(value: string): number {
  if (value === "unlimited") return 0;
  const match = /^(\d+)([smhd])$/.exec(value);
  const seconds = match ? Number(match[1]) * SECONDS_PER_UNIT[match[2] as DurationUnit] : 0;
  const nanos = seconds * NANOS_PER_SECOND;
  if (seconds < 1 || !Number.isSafeInteger(nanos)) {
    throw new UserError(
      `--max-age takes a whole number followed by s, m, h or d (like 90s, 30m, 24h, 7d), or "unlimited", got ${JSON.stringify(value)}`,
    );
  }
  return nanos;
}

function formatLimit(limit: number): string {
  return limit < 0 ? "unlimited" : String(limit);
}

/** Nanoseconds in the largest unit that divides them exactly; 0 (no limit) stays 0. */
function formatDuration(nanos: number): string {
  if (nanos === 0) return "0";
  if (nanos % NANOS_PER_SECOND !== 0) return `${nanos}ns`;
  const seconds = nanos / NANOS_PER_SECOND;
  for (const [unit, size] of Object.entries(SECONDS_PER_UNIT)) {
    if (seconds % size === 0) return `${seconds / size}${unit}`;
  }
  return `${seconds}s`;
}
