/** What the benchmark reads about processes from /proc (Linux): memory, CPU time, children. */
import { existsSync, readdirSync, readFileSync, readlinkSync } from "node:fs";

/** Clock ticks per second of /proc/<pid>/stat times; 100 on every Linux the bench targets. */
const CLOCK_TICKS = 100;

/** Resident memory in KiB (VmRSS), or 0 when the process is gone. */
export function rssKiB(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const match = /^VmRSS:\s+(\d+) kB/m.exec(status);
    return match ? Number(match[1]) : 0;
  } catch {
    return 0;
  }
}

/** User plus system CPU time in seconds, or 0 when the process is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name may hold spaces and parentheses: fields are counted after the last ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return (utime + stime) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

/** The command name (`comm`) of a process. */
export function commandName(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "";
  }
}

/** Direct children of a process. */
export function childrenOf(pid: number): number[] {
  const path = `/proc/${pid}/task/${pid}/children`;
  if (!existsSync(path)) return [];
  return readFileSync(path, "utf8")
    .trim()
    .split(/\s+/)
    .filter((text) => text !== "")
    .map(Number);
}

/** The open-files limits this process runs with (children inherit them). */
export function fileLimits(): { soft: number; hard: number } {
  const limits = readFileSync("/proc/self/limits", "utf8");
  const match = /^Max open files\s+(\S+)\s+(\S+)/m.exec(limits);
  const parse = (text: string | undefined) => (text === "unlimited" ? Infinity : Number(text));
  return { soft: parse(match?.[1]), hard: parse(match?.[2]) };
}

/** Sums a reading over several processes. */
export function sum(pids: readonly number[], read: (pid: number) => number): number {
  let total = 0;
  for (const pid of pids) total += read(pid);
  return total;
}

/** The parent pid of a process, or 0 when it is gone. */
export function parentOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) || 0;
  } catch {
    return 0;
  }
}

/** When a process started (ms since the epoch, 10 ms resolution), or null when it is gone. */
export function startedAtMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Field 22, counted from 1: start time in clock ticks after boot.
    const ticks = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]);
    const bootTime = /^btime\s+(\d+)/m.exec(readFileSync("/proc/stat", "utf8"));
    if (!bootTime || Number.isNaN(ticks)) return null;
    return Number(bootTime[1]) * 1000 + (ticks / CLOCK_TICKS) * 1000;
  } catch {
    return null;
  }
}

/** The nearest ancestor of this process with this command name, if any. */
export function ancestorNamed(name: string): number | undefined {
  for (let pid = parentOf(process.pid); pid > 1; pid = parentOf(pid)) {
    if (commandName(pid) === name) return pid;
  }
  return undefined;
}

/** The command line of a process, its arguments joined by spaces ("" when it is gone). */
export function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean).join(" ");
  } catch {
    return "";
  }
}

/**
 * The loopback TCP ports a process listens on (its sockets in /proc/<pid>/fd matched against
 * /proc/<pid>/net/tcp): how the benchmark finds a sidecar's `--inspect=127.0.0.1:0` port.
 */
export function listeningPorts(pid: number): number[] {
  let inodes: Set<string>;
  try {
    inodes = new Set(
      readdirSync(`/proc/${pid}/fd`)
        .map((fd) => {
          try {
            return /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1];
          } catch {
            return undefined;
          }
        })
        .filter((inode): inode is string => inode !== undefined),
    );
  } catch {
    return [];
  }
  const ports: number[] = [];
  for (const table of ["tcp", "tcp6"]) {
    let text = "";
    try {
      text = readFileSync(`/proc/${pid}/net/${table}`, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
      const fields = line.trim().split(/\s+/);
      const [, local, , state] = fields;
      // 0A: LISTEN
      if (state !== "0A" || !local || !inodes.has(fields[9] ?? "")) continue;
      ports.push(Number.parseInt(local.split(":").at(-1) ?? "", 16));
    }
  }
  return ports;
}

/** Open file descriptors of a process, or 0 when it is gone. */
export function openFiles(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return 0;
  }
}
