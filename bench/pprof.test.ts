/**
 * The pprof reader against profiles encoded by hand here, byte by byte in the protobuf wire
 * format (the fields of profile.proto), so that every figure of the summaries is known.
 */
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import {
  decodeProfile,
  formatCpuSummary,
  formatHeapSummary,
  growthByFunction,
  PprofFormatError,
  topFunctions,
} from "./pprof.js";

// A minimal protobuf encoder: enough for the messages of profile.proto.

function varint(value: number | bigint): number[] {
  let rest = BigInt.asUintN(64, BigInt(value));
  const bytes: number[] = [];
  do {
    const low = Number(rest & 0x7fn);
    rest >>= 7n;
    bytes.push(rest > 0n ? low | 0x80 : low);
  } while (rest > 0n);
  return bytes;
}

const int = (number: number, value: number | bigint) => [...varint(number * 8), ...varint(value)];
const message = (number: number, body: number[]) => [
  ...varint(number * 8 + 2),
  ...varint(body.length),
  ...body,
];
const packed = (number: number, values: (number | bigint)[]) =>
  message(
    number,
    values.flatMap((value) => varint(value)),
  );
const text = (value: string) => message(6, [...Buffer.from(value, "utf8")]);

const STRINGS = [
  "",
  "samples",
  "count",
  "cpu",
  "nanoseconds",
  "main.leaf",
  "main.mid",
  "main.root",
  "main.go",
  "main.inlined",
];
const at = (value: string) => STRINGS.indexOf(value);

/** Functions 1-4, and locations: 1 = leaf, 2 = inlined into mid (two lines), 3 = root. */
const CODE = [
  ...message(5, [...int(1, 1), ...int(2, at("main.leaf")), ...int(4, at("main.go"))]),
  ...message(5, [...int(1, 2), ...int(2, at("main.mid")), ...int(4, at("main.go"))]),
  ...message(5, [...int(1, 3), ...int(2, at("main.root")), ...int(4, at("main.go"))]),
  ...message(5, [...int(1, 4), ...int(2, at("main.inlined")), ...int(4, at("main.go"))]),
  ...message(4, [...int(1, 1), ...message(4, [...int(1, 1), ...int(2, 10)])]),
  ...message(4, [
    ...int(1, 2),
    ...message(4, [...int(1, 4), ...int(2, 20)]),
    ...message(4, [...int(1, 2), ...int(2, 21)]),
  ]),
  ...message(4, [...int(1, 3), ...message(4, [...int(1, 3), ...int(2, 30)])]),
];

const MS = 1_000_000;

function cpuProfile(): Uint8Array {
  return Uint8Array.from([
    ...message(1, [...int(1, at("samples")), ...int(2, at("count"))]),
    ...message(1, [...int(1, at("cpu")), ...int(2, at("nanoseconds"))]),
    // Packed, as Go writes them.
    ...message(2, [...packed(1, [1, 2, 3]), ...packed(2, [3, 30 * MS])]),
    // One field per value, as protobuf also allows.
    ...message(2, [...int(1, 2), ...int(1, 3), ...int(2, 1), ...int(2, 10 * MS)]),
    ...message(2, [...packed(1, [3]), ...packed(2, [1, 10 * MS])]),
    // mid calls itself: it counts once in its inclusive time.
    ...message(2, [...packed(1, [2, 2, 3]), ...packed(2, [1, 10 * MS])]),
    ...CODE,
    ...STRINGS.flatMap(text),
    ...int(9, 1_700_000_000_000_000_000n),
    ...int(10, 1_000 * MS),
    ...message(11, [...int(1, at("cpu")), ...int(2, at("nanoseconds"))]),
    ...int(12, 10 * MS),
  ]);
}

describe("decodeProfile", () => {
  it("reads sample types, stacks with inlined frames, period and times", () => {
    const profile = decodeProfile(gzipSync(cpuProfile()));
    expect(profile.sampleTypes).toEqual([
      { type: "samples", unit: "count" },
      { type: "cpu", unit: "nanoseconds" },
    ]);
    expect(profile.periodType).toEqual({ type: "cpu", unit: "nanoseconds" });
    expect(profile.period).toBe(10 * MS);
    expect(profile.timeNanos).toBe(1.7e18);
    expect(profile.durationNanos).toBe(1e9);
    expect(profile.samples.map((sample) => sample.values)).toEqual([
      [3, 30 * MS],
      [1, 10 * MS],
      [1, 10 * MS],
      [1, 10 * MS],
    ]);
    expect(profile.samples[0]?.stack).toEqual([
      { function: "main.leaf", file: "main.go", line: 10 },
      { function: "main.inlined", file: "main.go", line: 20 },
      { function: "main.mid", file: "main.go", line: 21 },
      { function: "main.root", file: "main.go", line: 30 },
    ]);
  });

  it("reads a profile that is not gzipped, and negative int64 values", () => {
    const profile = decodeProfile(
      Uint8Array.from([
        ...message(1, [...int(1, 1), ...int(2, 2)]),
        ...message(2, [...packed(1, [1]), ...packed(2, [-5])]),
        ...text(""),
        ...text("inuse_space"),
        ...text("bytes"),
      ]),
    );
    expect(profile.sampleTypes).toEqual([{ type: "inuse_space", unit: "bytes" }]);
    expect(profile.samples).toEqual([
      { stack: [{ function: "(location 1)", file: "", line: 0 }], values: [-5] },
    ]);
  });

  it("refuses data cut short, and data that is not a profile", () => {
    const whole = cpuProfile();
    expect(() => decodeProfile(whole.subarray(0, 20))).toThrow(
      new PprofFormatError("field 2 at byte 14 runs 6 bytes past its message"),
    );
    expect(() => decodeProfile(Buffer.from("goroutine profile: total 7\n"))).toThrow(
      new PprofFormatError("unknown wire type 7 at byte 1: not a pprof profile (or a corrupt one)"),
    );
  });
});

describe("topFunctions", () => {
  it("adds self time at the leaf and inclusive time once per sample", () => {
    const totals = topFunctions([decodeProfile(cpuProfile())], "cpu", 3);
    expect(totals.sampleType).toEqual({ type: "cpu", unit: "nanoseconds" });
    expect(totals.total).toBe(60 * MS);
    expect(totals.self).toEqual([
      { function: "main.leaf", value: 30 * MS, percent: 50 },
      { function: "main.inlined", value: 20 * MS, percent: (20 / 60) * 100 },
      { function: "main.root", value: 10 * MS, percent: (10 / 60) * 100 },
    ]);
    expect(totals.inclusive).toEqual([
      { function: "main.root", value: 60 * MS, percent: 100 },
      { function: "main.inlined", value: 50 * MS, percent: (50 / 60) * 100 },
      { function: "main.mid", value: 50 * MS, percent: (50 / 60) * 100 },
    ]);
  });

  it("adds up profiles taken back to back, and names the sample types it has", () => {
    const profile = decodeProfile(cpuProfile());
    expect(topFunctions([profile, profile], "cpu", 1).self).toEqual([
      { function: "main.leaf", value: 60 * MS, percent: 50 },
    ]);
    expect(() => topFunctions([profile], "inuse_space", 1)).toThrow(
      "the profile has no sample type inuse_space; it has samples, cpu",
    );
  });
});

describe("formatCpuSummary", () => {
  it("gives percent of samples and seconds, self and inclusive", () => {
    expect(formatCpuSummary([decodeProfile(cpuProfile())], 2)).toBe(
      [
        "0.06 s of CPU in 6 samples over 1.00 s of wall time (1 profile)",
        "self:",
        " 50.0 %    0.03 s  main.leaf",
        " 33.3 %    0.02 s  main.inlined",
        "inclusive:",
        "100.0 %    0.06 s  main.root",
        " 83.3 %    0.05 s  main.inlined",
      ].join("\n"),
    );
  });
});

/** A heap profile: Go's four sample types; leaf holds 3 MiB in use, root's own site 1 KiB. */
function heapProfile(leafInuse: number): Uint8Array {
  const strings = [
    "",
    "alloc_objects",
    "count",
    "alloc_space",
    "bytes",
    "inuse_objects",
    "inuse_space",
  ];
  const names = [...STRINGS, ...strings.slice(1)];
  const index = (value: string) => names.indexOf(value);
  const type = (name: string, unit: string) =>
    message(1, [...int(1, index(name)), ...int(2, index(unit))]);
  return Uint8Array.from([
    ...type("alloc_objects", "count"),
    ...type("alloc_space", "bytes"),
    ...type("inuse_objects", "count"),
    ...type("inuse_space", "bytes"),
    ...message(2, [...packed(1, [1, 2, 3]), ...packed(2, [100, 8 * 2 ** 20, 30, leafInuse])]),
    ...message(2, [...packed(1, [3]), ...packed(2, [4, 4096, 1, 1024])]),
    ...CODE,
    ...names.flatMap(text),
  ]);
}

describe("formatHeapSummary", () => {
  it("gives the totals and the functions by bytes in use", () => {
    expect(formatHeapSummary(decodeProfile(gzipSync(heapProfile(3 * 2 ** 20))), 2)).toBe(
      [
        "in use: 3.0 MiB in 31 objects; allocated since start: 8.0 MiB in 104 objects",
        "self (allocated here, in use):",
        "100.0 %    3.0 MiB  main.leaf",
        "  0.0 %    1.0 KiB  main.root",
        "inclusive (allocated under, in use):",
        "100.0 %    3.0 MiB  main.root",
        "100.0 %    3.0 MiB  main.inlined",
      ].join("\n"),
    );
  });
});

describe("growthByFunction", () => {
  it("lists what grew between two heap profiles, largest first", () => {
    const before = decodeProfile(heapProfile(2 ** 20));
    const after = decodeProfile(heapProfile(3 * 2 ** 20));
    expect(growthByFunction(before, after, "inuse_space", 5)).toEqual([
      { function: "main.leaf", value: 2 * 2 ** 20 },
    ]);
  });
});
