/**
 * Go's pprof profiles (what Caddy serves at `/debug/pprof/profile` and `/debug/pprof/heap`),
 * read without Go: gzip from node:zlib, the protobuf wire format by hand (the messages and field
 * numbers of github.com/google/pprof/proto/profile.proto), and a summary of where the samples
 * go by function: self (the leaf frame) and inclusive (anywhere in the stack).
 *
 *   npx tsx bench/pprof.ts CPU.pb.gz [MORE.pb.gz...] [--top 20]   (CPU profiles add up)
 *   npx tsx bench/pprof.ts HEAP.pb.gz [--top 20]
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { gunzipSync } from "node:zlib";

export interface ValueType {
  type: string;
  unit: string;
}

/** One stack frame, after inlining is expanded: a location may hold several. */
export interface Frame {
  function: string;
  file: string;
  line: number;
}

export interface Sample {
  /** Leaf first, as in the profile. */
  stack: Frame[];
  /** One value per sample type. */
  values: number[];
}

export interface Profile {
  sampleTypes: ValueType[];
  samples: Sample[];
  periodType: ValueType | null;
  period: number;
  /** When the profile started (Unix nanoseconds) and how long it covers; 0 when not given. */
  timeNanos: number;
  durationNanos: number;
}

export interface FunctionRow {
  function: string;
  value: number;
  /** Of the sample type's total over all samples. */
  percent: number;
}

export interface FunctionTotals {
  sampleType: ValueType;
  total: number;
  /** Descending by value, at most `top` rows. */
  self: FunctionRow[];
  inclusive: FunctionRow[];
}

/** A profile that is not a pprof profile (or is cut short): says which and where. */
export class PprofFormatError extends Error {
  override name = "PprofFormatError";
}

const WIRE = { varint: 0, fixed64: 1, bytes: 2, fixed32: 5 } as const;

/** Reads a gzipped (as Go writes them) or plain pprof profile. */
export function decodeProfile(data: Uint8Array): Profile {
  const gzipped = data[0] === 0x1f && data[1] === 0x8b;
  const raw = gzipped ? gunzipSync(data) : data;
  const strings: string[] = [];
  const sampleTypes: [number, number][] = [];
  const rawSamples: { locationIds: number[]; values: number[] }[] = [];
  const locations = new Map<number, { functionId: number; line: number }[]>();
  const functions = new Map<number, { name: number; filename: number }>();
  let periodType: [number, number] | null = null;
  let period = 0;
  let timeNanos = 0;
  let durationNanos = 0;
  for (const field of fields(raw, 0, raw.length)) {
    switch (field.number) {
      case 1:
        sampleTypes.push(valueType(raw, field));
        break;
      case 2:
        rawSamples.push(sample(raw, field));
        break;
      case 4: {
        const location = locationOf(raw, field);
        locations.set(location.id, location.lines);
        break;
      }
      case 5: {
        const fn = functionOf(raw, field);
        functions.set(fn.id, fn);
        break;
      }
      case 6:
        strings.push(new TextDecoder().decode(bytesOf(raw, field)));
        break;
      case 9:
        timeNanos = field.varint;
        break;
      case 10:
        durationNanos = field.varint;
        break;
      case 11:
        periodType = valueType(raw, field);
        break;
      case 12:
        period = field.varint;
        break;
    }
  }
  const text = (index: number) => strings[index] ?? "";
  const framesOf = (locationId: number): Frame[] =>
    (locations.get(locationId) ?? [{ functionId: 0, line: 0 }]).map(({ functionId, line }) => {
      const fn = functions.get(functionId);
      return {
        function: fn ? text(fn.name) : `(location ${locationId})`,
        file: fn ? text(fn.filename) : "",
        line,
      };
    });
  return {
    sampleTypes: sampleTypes.map(([type, unit]) => ({ type: text(type), unit: text(unit) })),
    samples: rawSamples.map(({ locationIds, values }) => ({
      stack: locationIds.flatMap(framesOf),
      values,
    })),
    periodType: periodType && { type: text(periodType[0]), unit: text(periodType[1]) },
    period,
    timeNanos,
    durationNanos,
  };
}

/**
 * The `top` functions by one sample type (e.g. `cpu`, `inuse_space`) over one or more profiles
 * of the same kind (CPU profiles taken back to back add up).
 */
export function topFunctions(profiles: Profile[], sampleType: string, top: number): FunctionTotals {
  const first = profiles[0];
  if (!first) throw new Error("topFunctions needs at least one profile");
  const index = first.sampleTypes.findIndex((each) => each.type === sampleType);
  const type = first.sampleTypes[index];
  if (!type)
    throw new Error(
      `the profile has no sample type ${sampleType}; it has ${first.sampleTypes.map((each) => each.type).join(", ")}`,
    );
  let total = 0;
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  for (const profile of profiles) {
    for (const { stack, values } of profile.samples) {
      const value = values[index] ?? 0;
      if (value === 0) continue;
      total += value;
      const leaf = stack[0]?.function ?? "(no stack)";
      self.set(leaf, (self.get(leaf) ?? 0) + value);
      // A recursive function counts once per sample.
      for (const name of new Set(stack.map((frame) => frame.function))) {
        inclusive.set(name, (inclusive.get(name) ?? 0) + value);
      }
    }
  }
  const rows = (values: Map<string, number>): FunctionRow[] =>
    [...values]
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
      .slice(0, top)
      .map(([name, value]) => ({
        function: name,
        value,
        percent: total > 0 ? (value / total) * 100 : 0,
      }));
  return { sampleType: type, total, self: rows(self), inclusive: rows(inclusive) };
}

/**
 * How one sample type grew by function (self) from `before` to `after` (two heap profiles of
 * one process), the largest growth first; functions whose value did not change are left out.
 */
export function growthByFunction(
  before: Profile,
  after: Profile,
  sampleType: string,
  top: number,
): { function: string; value: number }[] {
  const selfOf = (profile: Profile) =>
    new Map(
      topFunctions([profile], sampleType, Number.MAX_SAFE_INTEGER).self.map((row) => [
        row.function,
        row.value,
      ]),
    );
  const old = selfOf(before);
  const now = selfOf(after);
  return [...new Set([...old.keys(), ...now.keys()])]
    .map((name) => ({ function: name, value: (now.get(name) ?? 0) - (old.get(name) ?? 0) }))
    .filter((row) => row.value !== 0)
    .sort((a, b) => b.value - a.value || a.function.localeCompare(b.function))
    .slice(0, top);
}

/** The sum of one sample type over profiles (e.g. all four heap totals). */
export function totalOf(profiles: Profile[], sampleType: string): number {
  let total = 0;
  for (const profile of profiles) {
    const index = profile.sampleTypes.findIndex((each) => each.type === sampleType);
    if (index < 0) continue;
    for (const { values } of profile.samples) total += values[index] ?? 0;
  }
  return total;
}

/**
 * Where CPU time went: percent of the samples and seconds, by self and inclusive time, over
 * CPU profiles taken back to back.
 */
export function formatCpuSummary(profiles: Profile[], top: number): string {
  const totals = topFunctions(profiles, "cpu", top);
  const seconds = (nanos: number) => (nanos / 1e9).toFixed(2);
  const wall = profiles.reduce((sum, profile) => sum + profile.durationNanos, 0);
  const samples = totalOf(profiles, "samples");
  const row = ({ function: name, value, percent }: FunctionRow) =>
    `${percent.toFixed(1).padStart(5)} % ${seconds(value).padStart(7)} s  ${name}`;
  return [
    `${seconds(totals.total)} s of CPU in ${samples} samples over ${seconds(wall)} s of wall time (${profiles.length} profile${profiles.length === 1 ? "" : "s"})`,
    "self:",
    ...totals.self.map(row),
    "inclusive:",
    ...totals.inclusive.map(row),
  ].join("\n");
}

/** Where the heap is: the four totals, then the top functions by bytes in use. */
export function formatHeapSummary(profile: Profile, top: number): string {
  const totals = topFunctions([profile], "inuse_space", top);
  const row = ({ function: name, value, percent }: FunctionRow) =>
    `${percent.toFixed(1).padStart(5)} % ${formatBytes(value).padStart(10)}  ${name}`;
  return [
    `in use: ${formatBytes(totals.total)} in ${totalOf([profile], "inuse_objects")} objects; allocated since start: ${formatBytes(totalOf([profile], "alloc_space"))} in ${totalOf([profile], "alloc_objects")} objects`,
    "self (allocated here, in use):",
    ...totals.self.map(row),
    "inclusive (allocated under, in use):",
    ...totals.inclusive.map(row),
  ].join("\n");
}

export function formatBytes(bytes: number): string {
  const abs = Math.abs(bytes);
  if (abs >= 2 ** 20) return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  if (abs >= 2 ** 10) return `${(bytes / 2 ** 10).toFixed(1)} KiB`;
  return `${bytes} B`;
}

// The protobuf wire format: a message is a sequence of (field number, wire type, value).

interface Field {
  number: number;
  wire: number;
  /** The value of a varint field. */
  varint: number;
  /** Where a length-delimited field's bytes are. */
  start: number;
  end: number;
}

function* fields(data: Uint8Array, start: number, end: number): Generator<Field> {
  const at = { offset: start };
  while (at.offset < end) {
    const key = readVarint(data, at, end);
    const number = Math.floor(key / 8);
    const wire = key % 8;
    const field: Field = { number, wire, varint: 0, start: at.offset, end: at.offset };
    switch (wire) {
      case WIRE.varint:
        field.varint = readVarint(data, at, end);
        break;
      case WIRE.bytes: {
        const length = readVarint(data, at, end);
        field.start = at.offset;
        field.end = at.offset + length;
        if (field.end > end)
          throw new PprofFormatError(
            `field ${number} at byte ${field.start} runs ${field.end - end} bytes past its message`,
          );
        at.offset = field.end;
        break;
      }
      case WIRE.fixed64:
        at.offset += 8;
        break;
      case WIRE.fixed32:
        at.offset += 4;
        break;
      default:
        throw new PprofFormatError(
          `unknown wire type ${wire} at byte ${field.start}: not a pprof profile (or a corrupt one)`,
        );
    }
    if (at.offset > end)
      throw new PprofFormatError(`field ${number} runs past the end of its message`);
    yield field;
  }
}

/**
 * A varint read as a signed 64-bit value (int64 fields: a negative value is a 10-byte varint of
 * its two's complement). Beyond 2^53 precision is lost; only addresses get there, and nothing
 * here reads them.
 */
function readVarint(data: Uint8Array, at: { offset: number }, end: number): number {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 7; i++) {
    const byte = nextByte(data, at, end);
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return value;
    scale *= 128;
  }
  return readLongVarint(data, at, end, value);
}

function nextByte(data: Uint8Array, at: { offset: number }, end: number): number {
  if (at.offset >= end)
    throw new PprofFormatError(`a varint at byte ${at.offset} is cut short by the end of data`);
  return data[at.offset++] as number;
}

/** The rest of a varint longer than 7 bytes, in BigInt so that negative values come out exact. */
function readLongVarint(
  data: Uint8Array,
  at: { offset: number },
  end: number,
  low49: number,
): number {
  let value = BigInt(low49);
  for (let shift = 49n; shift < 70n; shift += 7n) {
    const byte = nextByte(data, at, end);
    value |= BigInt(byte & 0x7f) << shift;
    if (byte < 0x80) return Number(BigInt.asIntN(64, value));
  }
  throw new PprofFormatError(`a varint ending at byte ${at.offset} is longer than 10 bytes`);
}

function bytesOf(data: Uint8Array, field: Field): Uint8Array {
  return data.subarray(field.start, field.end);
}

/** A repeated integer field: packed (one length-delimited run) or one field per value. */
function pushRepeated(data: Uint8Array, field: Field, into: number[]): void {
  if (field.wire === WIRE.varint) {
    into.push(field.varint);
    return;
  }
  const at = { offset: field.start };
  while (at.offset < field.end) into.push(readVarint(data, at, field.end));
}

function valueType(data: Uint8Array, field: Field): [number, number] {
  let type = 0;
  let unit = 0;
  for (const inner of fields(data, field.start, field.end)) {
    if (inner.number === 1) type = inner.varint;
    else if (inner.number === 2) unit = inner.varint;
  }
  return [type, unit];
}

function sample(data: Uint8Array, field: Field): { locationIds: number[]; values: number[] } {
  const locationIds: number[] = [];
  const values: number[] = [];
  for (const inner of fields(data, field.start, field.end)) {
    if (inner.number === 1) pushRepeated(data, inner, locationIds);
    else if (inner.number === 2) pushRepeated(data, inner, values);
  }
  return { locationIds, values };
}

function locationOf(
  data: Uint8Array,
  field: Field,
): { id: number; lines: { functionId: number; line: number }[] } {
  let id = 0;
  const lines: { functionId: number; line: number }[] = [];
  for (const inner of fields(data, field.start, field.end)) {
    if (inner.number === 1) id = inner.varint;
    else if (inner.number === 4) {
      let functionId = 0;
      let line = 0;
      for (const part of fields(data, inner.start, inner.end)) {
        if (part.number === 1) functionId = part.varint;
        else if (part.number === 2) line = part.varint;
      }
      lines.push({ functionId, line });
    }
  }
  return { id, lines };
}

function functionOf(
  data: Uint8Array,
  field: Field,
): { id: number; name: number; filename: number } {
  let id = 0;
  let name = 0;
  let filename = 0;
  for (const inner of fields(data, field.start, field.end)) {
    if (inner.number === 1) id = inner.varint;
    else if (inner.number === 2) name = inner.varint;
    else if (inner.number === 4) filename = inner.varint;
  }
  return { id, name, filename };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { top: { type: "string", default: "20" } },
  });
  if (positionals.length === 0) {
    process.stderr.write("usage: pprof.ts PROFILE.pb.gz [MORE.pb.gz...] [--top 20]\n");
    process.exit(2);
  }
  const top = Number(values.top);
  const profiles = positionals.map((file) => decodeProfile(readFileSync(file)));
  const isCpu = profiles[0]?.sampleTypes.some((each) => each.type === "cpu");
  if (isCpu) process.stdout.write(`${formatCpuSummary(profiles, top)}\n`);
  else
    profiles.forEach((profile, index) => {
      process.stdout.write(`${positionals[index]}:\n${formatHeapSummary(profile, top)}\n`);
    });
}
