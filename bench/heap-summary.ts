/**
 * What grew between two V8 heap snapshots (e.g. the sidecar's, taken by the churn scenario with
 * `npx tsx bench/run.ts --systems nuts-direct --scenarios churn --heap-snapshots DIR`): objects
 * counted and sized by constructor (or by kind for strings, closures, arrays and code), the
 * largest growth first.
 *
 *   npx tsx bench/heap-summary.ts BEFORE.heapsnapshot AFTER.heapsnapshot [--top 30]
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

interface HeapSnapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

export interface ClassTotals {
  count: number;
  bytes: number;
}

/** Objects by class: `Subscriber`, `(closure) onClose`, `(string)`, `(array)`... */
export function totalsByClass(snapshotText: string): Map<string, ClassTotals> {
  const snapshot = JSON.parse(snapshotText) as HeapSnapshot;
  const fields = snapshot.snapshot.meta.node_fields;
  const types = snapshot.snapshot.meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf("type");
  const nameAt = fields.indexOf("name");
  const sizeAt = fields.indexOf("self_size");
  const totals = new Map<string, ClassTotals>();
  for (let offset = 0; offset < snapshot.nodes.length; offset += width) {
    const type = types[snapshot.nodes[offset + typeAt] as number] ?? "?";
    const name = snapshot.strings[snapshot.nodes[offset + nameAt] as number] ?? "?";
    const key =
      type === "object" || type === "native"
        ? name
        : type === "closure"
          ? `(closure) ${name || "anonymous"}`
          : `(${type})`;
    const entry = totals.get(key) ?? { count: 0, bytes: 0 };
    entry.count++;
    entry.bytes += snapshot.nodes[offset + sizeAt] as number;
    totals.set(key, entry);
  }
  return totals;
}

/** Classes whose retained count or size changed, the largest size growth first. */
export function growth(
  before: Map<string, ClassTotals>,
  after: Map<string, ClassTotals>,
): { name: string; count: number; bytes: number }[] {
  const names = new Set([...before.keys(), ...after.keys()]);
  return [...names]
    .map((name) => ({
      name,
      count: (after.get(name)?.count ?? 0) - (before.get(name)?.count ?? 0),
      bytes: (after.get(name)?.bytes ?? 0) - (before.get(name)?.bytes ?? 0),
    }))
    .filter((row) => row.count !== 0 || row.bytes !== 0)
    .sort((a, b) => b.bytes - a.bytes);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { top: { type: "string", default: "30" } },
  });
  const [beforeFile, afterFile] = positionals;
  if (!beforeFile || !afterFile) {
    process.stderr.write("usage: heap-summary.ts BEFORE.heapsnapshot AFTER.heapsnapshot\n");
    process.exit(2);
  }
  const before = totalsByClass(readFileSync(beforeFile, "utf8"));
  const after = totalsByClass(readFileSync(afterFile, "utf8"));
  const sum = (totals: Map<string, ClassTotals>) =>
    [...totals.values()].reduce((total, each) => total + each.bytes, 0);
  process.stdout.write(
    `heap: ${(sum(before) / 1024).toFixed(0)} KiB -> ${(sum(after) / 1024).toFixed(0)} KiB\n`,
  );
  process.stdout.write("  bytes delta  count delta  class\n");
  for (const row of growth(before, after).slice(0, Number(values.top))) {
    process.stdout.write(
      `${String(row.bytes).padStart(13)}${String(row.count).padStart(13)}  ${row.name}\n`,
    );
  }
}
