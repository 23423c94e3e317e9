/**
 * The churn scenario's instruments against a real Node process started with
 * `--inspect=127.0.0.1:0`: its inspector port is found from its sockets, the heap after a forced
 * GC counts what is retained and not what was dropped, and a snapshot comparison names the
 * class that grew, by its exact count.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { growth, totalsByClass } from "./heap-summary.js";
import { InspectorSession } from "./inspector.js";
import { listeningPorts, openFiles } from "./proc.js";

/** Each line on stdin: 1,000 `Retained` objects kept and 1,000 `Dropped` ones let go. */
const SCRIPT = `
class Retained { constructor(i) { this.values = new Array(100).fill(i); } }
class Dropped { constructor(i) { this.values = new Array(100).fill(i); } }
globalThis.kept = [];
process.stdin.setEncoding("utf8");
process.stdin.on("data", () => {
  const dropped = [];
  for (let i = 0; i < 1000; i++) { globalThis.kept.push(new Retained(i)); dropped.push(new Dropped(i)); }
  process.stdout.write("grown " + dropped.length + "\\n");
});
process.stdout.write("ready\\n");
`;

let child: ChildProcess;
let session: InspectorSession;

function nextLine(): Promise<string> {
  return new Promise((resolve) =>
    child.stdout?.once("data", (chunk: Buffer) => resolve(`${chunk}`)),
  );
}

async function grow(): Promise<void> {
  const answered = nextLine();
  child.stdin?.write("grow\n");
  expect(await answered).toBe("grown 1000\n");
}

beforeAll(async () => {
  child = spawn(process.execPath, ["--inspect=127.0.0.1:0", "-e", SCRIPT], {
    stdio: ["pipe", "pipe", "ignore"],
  });
  expect(await nextLine()).toBe("ready\n");
  // The inspector listens before the script runs, so its port is there once "ready" is.
  const ports = listeningPorts(child.pid ?? 0);
  expect(ports).toHaveLength(1);
  session = await InspectorSession.open(ports[0] as number);
});

afterAll(() => {
  session?.close();
  child?.kill();
});

describe("the inspector session", () => {
  it("reads the heap after a forced GC: what is retained counts, what was dropped does not", async () => {
    const before = await session.memoryAfterGc();
    await grow();
    const after = await session.memoryAfterGc();
    // 1,000 arrays of 100 small integers: at least 800 KB retained; the dropped ones, as many
    // again, are gone.
    const grown = after.heapUsed - before.heapUsed;
    expect(grown).toBeGreaterThan(800_000);
    expect(grown).toBeLessThan(1_600_000);
    expect(after.rss).toBeGreaterThan(0);
  });

  it("compares two heap snapshots by class: exactly the retained objects grew", async () => {
    const before = totalsByClass(await session.heapSnapshot());
    await grow();
    const after = totalsByClass(await session.heapSnapshot());
    const changed = growth(before, after);
    expect(changed.find((row) => row.name === "Retained")?.count).toBe(1000);
    expect(changed.find((row) => row.name === "Dropped")).toBeUndefined();
    expect(after.get("Retained")?.count).toBe(2000);
  });
});

describe("/proc readings", () => {
  it("finds no listening port and no open files for a process that is gone", () => {
    expect(listeningPorts(2 ** 22 + 1)).toEqual([]);
    expect(openFiles(2 ** 22 + 1)).toBe(0);
  });
});
