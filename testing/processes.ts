/**
 * What a test sees of other processes and ports on this machine: the children `nuts run`
 * supervises (from Linux's /proc), whether a process is alive, and a free loopback port.
 */
import { readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:net";

export interface ChildInfo {
  pid: number;
  role: "sidecar" | "caddy" | "other";
}

/** The direct children of a process, from /proc. */
export function childrenOf(parent: number): ChildInfo[] {
  const found: ChildInfo[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // The command name may hold spaces and parentheses; the ppid follows the last ")".
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid !== parent) continue;
      const argv = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
      const role = argv.includes("sidecar")
        ? "sidecar"
        : argv.includes("run") && /caddy$/.test(argv[0] ?? "")
          ? "caddy"
          : "other";
      found.push({ pid: Number(entry), role });
    } catch {
      // The process went away while we looked.
    }
  }
  return found;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A TCP port on 127.0.0.1 that nothing listened on a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      const port = typeof address === "object" && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}
