/**
 * Where the time went in a V8 CPU profile (`node --cpu-prof`, e.g. the sidecar started by
 * `npx tsx bench/run.ts --systems nuts-direct --cpu-prof DIR`): the functions with the most
 * self time, and the most inclusive time, with their source location.
 *
 *   npx tsx bench/profile-summary.ts DIR/CPU.*.cpuprofile [--top 25]
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: "string", default: "25" } },
});
const top = Number(values.top);

for (const file of positionals) {
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes)
    for (const child of node.children ?? []) parent.set(child, node.id);
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, index) => {
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[index] ?? 0));
  });
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    const name = label(node);
    self.set(name, (self.get(name) ?? 0) + us);
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const ancestor = byId.get(at);
      if (!ancestor) break;
      const ancestorName = label(ancestor);
      if (seen.has(ancestorName)) continue;
      seen.add(ancestorName);
      inclusive.set(ancestorName, (inclusive.get(ancestorName) ?? 0) + us);
    }
  }
  process.stdout.write(`${file}: ${(total / 1e6).toFixed(1)} s sampled\n`);
  print("self time", self, total);
  print("inclusive time", inclusive, total);
}

function print(title: string, times: Map<string, number>, total: number): void {
  process.stdout.write(`\n${title}:\n`);
  const rows = [...times].sort((a, b) => b[1] - a[1]).slice(0, top);
  for (const [name, us] of rows) {
    process.stdout.write(`${((us / total) * 100).toFixed(1).padStart(5)} %  ${name}\n`);
  }
}

function label(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const where = url ? `${url.replace(/^.*\/(node_modules|dist)\//, "$1/")}:${lineNumber + 1}` : "";
  return `${functionName || "(anonymous)"} ${where}`.trim();
}
