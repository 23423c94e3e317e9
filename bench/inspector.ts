/**
 * A Chrome DevTools Protocol session with another Node process's inspector (`node
 * --inspect=127.0.0.1:0`), over a WebSocket written by hand: Node 20 has no WebSocket client,
 * and the benchmark needs only text frames on loopback. It reads the process's memory after a
 * forced full GC and takes heap snapshots, without anything in the product for it.
 */
import { randomBytes } from "node:crypto";
import { connect as connectTcp, type Socket } from "node:net";

/** `process.memoryUsage()` of the inspected process, in bytes. */
export interface MemoryReading {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

interface Pending {
  resolve(result: unknown): void;
  reject(error: Error): void;
}

export class InspectorSession {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly eventListeners = new Map<string, (params: unknown) => void>();
  private received: Buffer = Buffer.alloc(0);
  /** Payload of a fragmented message, until its final frame. */
  private fragments: Buffer[] = [];

  private constructor(private readonly socket: Socket) {
    socket.on("data", (chunk: Buffer) => this.read(chunk));
    const fail = (error: Error) => {
      for (const each of this.pending.values()) each.reject(error);
      this.pending.clear();
    };
    socket.on("error", fail);
    socket.on("close", () => fail(new Error("the inspector connection closed")));
  }

  /** Connects to the first target of the inspector listening on 127.0.0.1:`port`. */
  static async open(port: number, timeoutMs = 10_000): Promise<InspectorSession> {
    const targets = (await (
      await fetch(`http://127.0.0.1:${port}/json/list`, { signal: AbortSignal.timeout(timeoutMs) })
    ).json()) as { webSocketDebuggerUrl?: string }[];
    const url = targets[0]?.webSocketDebuggerUrl;
    if (!url) throw new Error(`the inspector on 127.0.0.1:${port} lists no target`);
    const path = new URL(url).pathname;
    const socket = connectTcp({ host: "127.0.0.1", port });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`no WebSocket upgrade from 127.0.0.1:${port} within ${timeoutMs} ms`));
      }, timeoutMs);
      let head = "";
      const onData = (chunk: Buffer) => {
        head += chunk.toString("latin1");
        const end = head.indexOf("\r\n\r\n");
        if (end < 0) return;
        clearTimeout(timer);
        socket.off("data", onData);
        socket.off("error", onError);
        if (!head.startsWith("HTTP/1.1 101")) {
          socket.destroy();
          reject(new Error(`the inspector refused the upgrade: ${head.split("\r\n")[0]}`));
          return;
        }
        // Bytes after the head are already frames.
        const rest = Buffer.from(head.slice(end + 4), "latin1");
        if (rest.length > 0) socket.unshift(rest);
        resolve();
      };
      const onError = (error: Error) => {
        clearTimeout(timer);
        reject(error);
      };
      socket.on("data", onData);
      socket.once("error", onError);
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    return new InspectorSession(socket);
  }

  /** Sends a CDP command and resolves with its result. */
  send(method: string, params: Record<string, unknown> = {}): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.writeText(JSON.stringify({ id, method, params }));
    });
  }

  /** One listener per CDP event (the last one set wins); undefined removes it. */
  onEvent(method: string, listener: ((params: unknown) => void) | undefined): void {
    if (listener) this.eventListeners.set(method, listener);
    else this.eventListeners.delete(method);
  }

  /**
   * The process's memory after a full, forced garbage collection: what is still reachable.
   * Collected twice, because objects with finalizers or weak callbacks die in the second one.
   */
  async memoryAfterGc(): Promise<MemoryReading> {
    await this.send("HeapProfiler.collectGarbage");
    await this.send("HeapProfiler.collectGarbage");
    return this.memory();
  }

  /** The process's memory as it is (garbage not collected yet included). */
  async memory(): Promise<MemoryReading> {
    const { result } = (await this.send("Runtime.evaluate", {
      expression: "process.memoryUsage()",
      returnByValue: true,
    })) as { result: { value: MemoryReading } };
    return result.value;
  }

  /**
   * A heap snapshot after a forced full GC, as its JSON text. The GC the snapshot does itself
   * is not enough: objects dropped just before may still be in it.
   */
  async heapSnapshot(): Promise<string> {
    await this.send("HeapProfiler.collectGarbage");
    await this.send("HeapProfiler.collectGarbage");
    const chunks: string[] = [];
    this.onEvent("HeapProfiler.addHeapSnapshotChunk", (params) =>
      chunks.push((params as { chunk: string }).chunk),
    );
    try {
      await this.send("HeapProfiler.takeHeapSnapshot", { reportProgress: false });
    } finally {
      this.onEvent("HeapProfiler.addHeapSnapshotChunk", undefined);
    }
    return chunks.join("");
  }

  close(): void {
    this.socket.destroy();
  }

  private writeText(text: string): void {
    const payload = Buffer.from(text, "utf8");
    const length = payload.length;
    const lengthBytes = length < 126 ? 0 : length < 65_536 ? 2 : 8;
    const header = Buffer.alloc(2 + lengthBytes + 4);
    header[0] = 0x81; // final frame, text
    if (lengthBytes === 0) header[1] = 0x80 | length;
    else if (lengthBytes === 2) {
      header[1] = 0x80 | 126;
      header.writeUInt16BE(length, 2);
    } else {
      header[1] = 0x80 | 127;
      header.writeBigUInt64BE(BigInt(length), 2);
    }
    // A client masks every frame (RFC 6455, 5.3).
    const mask = randomBytes(4);
    mask.copy(header, 2 + lengthBytes);
    for (let index = 0; index < length; index++)
      payload[index] = (payload[index] as number) ^ (mask[index & 3] as number);
    this.socket.write(Buffer.concat([header, payload]));
  }

  private read(chunk: Buffer): void {
    this.received = this.received.length === 0 ? chunk : Buffer.concat([this.received, chunk]);
    for (;;) {
      const frame = parseFrame(this.received);
      if (!frame) return;
      this.received = this.received.subarray(frame.size);
      this.onFrame(frame.fin, frame.opcode, frame.payload);
    }
  }

  private onFrame(fin: boolean, opcode: number, payload: Buffer): void {
    if (opcode === 0x8) {
      this.socket.destroy();
      return;
    }
    if (opcode === 0x9) return; // ping: the inspector sends none; nothing to answer
    if (opcode !== 0x0 && opcode !== 0x1) return;
    this.fragments.push(payload);
    if (!fin) return;
    const text = Buffer.concat(this.fragments).toString("utf8");
    this.fragments = [];
    const message = JSON.parse(text) as {
      id?: number;
      method?: string;
      params?: unknown;
      result?: unknown;
      error?: { message: string };
    };
    if (message.id !== undefined) {
      const waiting = this.pending.get(message.id);
      this.pending.delete(message.id);
      if (message.error) waiting?.reject(new Error(`inspector: ${message.error.message}`));
      else waiting?.resolve(message.result);
    } else if (message.method !== undefined) {
      this.eventListeners.get(message.method)?.(message.params);
    }
  }
}

/** One complete server frame (never masked) at the start of `buffer`, or null if incomplete. */
function parseFrame(
  buffer: Buffer,
): { fin: boolean; opcode: number; payload: Buffer; size: number } | null {
  if (buffer.length < 2) return null;
  const first = buffer[0] as number;
  const second = buffer[1] as number;
  let length = second & 0x7f;
  let offset = 2;
  if (length === 126) {
    if (buffer.length < 4) return null;
    length = buffer.readUInt16BE(2);
    offset = 4;
  } else if (length === 127) {
    if (buffer.length < 10) return null;
    length = Number(buffer.readBigUInt64BE(2));
    offset = 10;
  }
  if (buffer.length < offset + length) return null;
  return {
    fin: (first & 0x80) !== 0,
    opcode: first & 0x0f,
    payload: buffer.subarray(offset, offset + length),
    size: offset + length,
  };
}
