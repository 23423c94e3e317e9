/** The orchestrator's handle on the load generator process (loadgen-child.ts). */
import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import type {
  ChurnRequest,
  ChurnResult,
  CollectRequest,
  ConnectRequest,
  ConnectResult,
  MarkRequest,
  ProgressResult,
  ReconnectRequest,
  WindowResult,
} from "./loadgen.js";

export type LoadCommand =
  | { type: "connect"; request: ConnectRequest }
  | { type: "mark"; request: MarkRequest }
  | { type: "collect"; request: CollectRequest }
  | { type: "progress"; request: MarkRequest }
  | { type: "drop" }
  | { type: "reconnect"; request: ReconnectRequest }
  | { type: "churn"; request: ChurnRequest }
  | { type: "close" };

interface Reply {
  id: number;
  result?: unknown;
  error?: string;
}

export class RemoteLoadGenerator {
  private nextId = 1;
  private readonly waiting = new Map<
    number,
    { resolve(value: unknown): void; reject(error: Error): void }
  >();

  private constructor(readonly child: ChildProcess) {
    child.on("message", (reply: Reply) => {
      const pending = this.waiting.get(reply.id);
      if (!pending) return;
      this.waiting.delete(reply.id);
      if (reply.error !== undefined) pending.reject(new Error(`load generator: ${reply.error}`));
      else pending.resolve(reply.result);
    });
    child.on("exit", (code, signal) => {
      for (const pending of this.waiting.values()) {
        pending.reject(new Error(`load generator exited (${signal ?? `code ${code}`})`));
      }
      this.waiting.clear();
    });
  }

  static start(): RemoteLoadGenerator {
    const entry = fileURLToPath(new URL("./loadgen-child.ts", import.meta.url));
    const child = fork(entry, [], {
      // A large young generation: the generator makes a string per read on thousands of
      // sockets, and with V8's default its frequent scavenges delay every socket's reads, which
      // shows as latency of whichever system is measured (p99 through Caddy at 5,000 clients:
      // 92–179 ms in 4 runs with the default, 79–115 ms with this).
      execArgv: ["--import", "tsx", "--max-old-space-size=4096", "--max-semi-space-size=64"],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    return new RemoteLoadGenerator(child);
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  connect(request: ConnectRequest): Promise<ConnectResult> {
    return this.call({ type: "connect", request }) as Promise<ConnectResult>;
  }

  async mark(request: MarkRequest): Promise<void> {
    await this.call({ type: "mark", request });
  }

  collect(request: CollectRequest): Promise<WindowResult> {
    return this.call({ type: "collect", request }) as Promise<WindowResult>;
  }

  progress(request: MarkRequest): Promise<ProgressResult> {
    return this.call({ type: "progress", request }) as Promise<ProgressResult>;
  }

  async drop(): Promise<void> {
    await this.call({ type: "drop" });
  }

  reconnect(request: ReconnectRequest): Promise<ConnectResult> {
    return this.call({ type: "reconnect", request }) as Promise<ConnectResult>;
  }

  churn(request: ChurnRequest): Promise<ChurnResult> {
    return this.call({ type: "churn", request }) as Promise<ChurnResult>;
  }

  async close(): Promise<void> {
    await this.call({ type: "close" });
  }

  stop(): void {
    this.child.kill("SIGTERM");
  }

  private call(command: LoadCommand): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.child.send({ id, command });
    });
  }
}
