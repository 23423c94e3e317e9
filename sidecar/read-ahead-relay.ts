import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Bytes that name a relayed connection on its local pair. */
const TAG_BYTES = 16;

/**
 * Caddy's HTTP/2 connections to the sidecar, read without pause.
 *
 * Node's HTTP/2 session stops reading its socket while one of its own writes is pending. Go's
 * HTTP/2 client (Caddy's) answers from its read loop under the connection's write lock (window
 * updates for reset streams, ping and settings acks). In a reconnect storm both socket buffers
 * fill: our write waits for Caddy to read, Caddy's reader waits for its writer, its writer
 * waits for us to read, and the connection freezes for good.
 *
 * The relay breaks the cycle on our side. The session gets one end of a local socket pair (a
 * native socket, so its writes stay one system call for many frames); the relay reads Caddy's
 * connection whenever bytes arrive and hands them to the pair, buffering what the session has
 * not taken yet. Caddy's writes therefore always complete and its read loop always comes back to
 * our frames. The session's own output still waits for Caddy to read it: its backpressure, and
 * through it every stream's, is untouched.
 *
 * What Caddy sends is small (request heads, resets, acknowledgements); a peer that piles up more
 * than `maxUnreadBytes` unread is cut rather than buffered without limit.
 */
export class ReadAheadRelay {
  private readonly waiting = new Map<string, (local: Socket) => void>();
  private readonly relayed = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    private readonly dir: string,
    private readonly path: string,
    private readonly maxUnreadBytes: number,
  ) {
    server.on("connection", (local) => this.claim(local));
  }

  /** Starts the relay's private listener (a unix socket in a fresh 0700 folder). */
  static async start(maxUnreadBytes: number): Promise<ReadAheadRelay> {
    const dir = await mkdtemp(join(tmpdir(), "nuts-relay-"));
    const path = join(dir, "relay.sock");
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(path, () => {
        server.off("error", reject);
        resolve();
      });
    });
    return new ReadAheadRelay(server, dir, path, maxUnreadBytes);
  }

  /**
   * Relays `peer` (whose unread bytes were put back with `unshift`); resolves with the socket the
   * HTTP/2 session is to be given.
   */
  async open(peer: Socket): Promise<Socket> {
    const tag = randomBytes(TAG_BYTES);
    const key = tag.toString("hex");
    const claimed = new Promise<Socket>((resolve) => this.waiting.set(key, resolve));
    const session = createConnection(this.path);
    session.write(tag);
    let onError: ((error: Error) => void) | undefined;
    const failed = new Promise<never>((_, reject) => {
      onError = reject;
      session.once("error", reject);
    });
    try {
      const local = await Promise.race([claimed, failed]);
      this.pipe(peer, local);
      return session;
    } catch (error) {
      this.waiting.delete(key);
      session.destroy();
      throw error;
    } finally {
      if (onError) session.off("error", onError);
    }
  }

  /** Ends every relayed connection and removes the private listener. */
  async close(): Promise<void> {
    for (const socket of this.relayed) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await rm(this.dir, { recursive: true, force: true });
  }

  /** The relay's end of a pair: it names its connection in its first bytes. */
  private claim(local: Socket): void {
    let received: Buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length < TAG_BYTES) return;
      local.off("data", onData);
      local.pause();
      const resolve = this.waiting.get(received.subarray(0, TAG_BYTES).toString("hex"));
      if (resolve === undefined) {
        local.destroy();
        return;
      }
      this.waiting.delete(received.subarray(0, TAG_BYTES).toString("hex"));
      if (received.length > TAG_BYTES) local.unshift(received.subarray(TAG_BYTES));
      resolve(local);
    };
    local.on("data", onData);
    local.on("error", () => local.destroy());
  }

  private pipe(peer: Socket, local: Socket): void {
    this.relayed.add(peer);
    this.relayed.add(local);
    // Caddy's bytes: always read, handed on at once, kept here while the session is not reading.
    peer.on("data", (chunk: Buffer) => {
      local.write(chunk);
      if (local.writableLength > this.maxUnreadBytes) {
        peer.destroy(
          new Error(
            `the HTTP/2 peer sent ${local.writableLength} bytes the sidecar has not read yet (limit ${this.maxUnreadBytes})`,
          ),
        );
      }
    });
    // The session's bytes: read as fast as Caddy takes them.
    local.on("data", (chunk: Buffer) => {
      if (!peer.write(chunk)) local.pause();
    });
    peer.on("drain", () => local.resume());
    const end = () => {
      this.relayed.delete(peer);
      this.relayed.delete(local);
      peer.destroy();
      local.destroy();
    };
    for (const socket of [peer, local]) {
      socket.on("error", end);
      socket.on("close", end);
      // A half-close is passed on, then the other side's end closes both.
      socket.on("end", () => (socket === peer ? local : peer).end());
    }
    peer.resume();
    local.resume();
  }
}
