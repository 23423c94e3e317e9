import type { Server as HttpServer } from "node:http";
import { createServer as createHttp2Server, type Http2Session } from "node:http2";
import { createServer as createNetServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { createAdaptorServer } from "@hono/node-server";
import type { Bindings } from "./event-stream.js";
import { ListenError } from "./listen.js";
import type { Logger } from "./log.js";
import { ReadAheadRelay } from "./read-ahead-relay.js";

/** Stream resets per second (and at once) taken from Caddy: no limit in practice. */
const RESETS_TRUSTED = 1_000_000;

/** The app both protocols serve (the sidecar's Hono app). */
type UpstreamApp = { fetch: (request: Request, env: Bindings) => Response | Promise<Response> };

/** What every HTTP/2 connection starts with (RFC 9113, section 3.4). */
const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/**
 * Streams per HTTP/2 connection. Caddy opens another connection when all of its connections are
 * full, so 10,000 streams take about a hundred: a stalled connection holds a hundred clients, not
 * thousands, and Go's HTTP/2 client, which serialises a connection's streams on one lock and one
 * reader, has more of both. In the bench, 100 did no worse than 250 or 1,000 (at 10,000 clients
 * 245,000 deliveries/s against 216,000 with 1,000, one run each), and it still saves 99 % of
 * Caddy's descriptors to the sidecar.
 */
export const STREAMS_PER_CONNECTION = 100;

/**
 * Bytes a connection may send that the sidecar has not read yet (request heads, resets); far
 * more than Caddy sends for `STREAMS_PER_CONNECTION` streams.
 */
const MAX_UNREAD_BYTES = 16 * 1024 * 1024;

/**
 * Header bytes a request may carry. Whatever Caddy lets through (its max_header_size is 1 MiB)
 * must get an answer from us, not a connection closed under Caddy's feet (a 502 for the client).
 */
const MAX_HEADER_BYTES = 2 * 1024 * 1024;

/**
 * The request head Caddy may send over h2c (RFC 9113's header list size: every field's name and
 * value plus 32 bytes). nghttp2 ends the whole connection, every stream on it, when one field
 * is over 64 KiB (NGHTTP2_HD_MAX_NV, fixed at build time); announced as the limit, it makes Go's
 * client refuse such a request on its own, and the connection lives on.
 */
const MAX_H2_HEADER_LIST_BYTES = 64 * 1024;

/**
 * The sidecar's side of Caddy's hop: one listener that speaks HTTP/1.1 and HTTP/2 over
 * cleartext (h2c with prior knowledge, Caddy's `versions h2c`), told apart by the first bytes.
 *
 * Over HTTP/1.1 every stream costs Caddy a connection, a descriptor, two goroutines and their
 * buffers; over h2c the streams share a few connections. HTTP/1.1 stays for everything else that
 * talks to the sidecar (health checks, tests, a proxy without h2c).
 */
export class UpstreamServer {
  /** The listener; `listen()` and `address()` as for any `net.Server`. */
  readonly server: Server;
  private readonly http1: HttpServer;
  private readonly sessions = new Set<Http2Session>();
  private readonly pending = new Set<Socket>();

  /**
   * Makes the listener (not listening yet) and the relay's private socket; a temporary folder
   * that cannot be written is said at once, not at Caddy's first connection.
   */
  static async start(app: UpstreamApp, log: Logger): Promise<UpstreamServer> {
    let relay: ReadAheadRelay;
    try {
      relay = await ReadAheadRelay.start(MAX_UNREAD_BYTES);
    } catch (error) {
      throw new ListenError(
        `cannot create the sidecar's relay socket in ${tmpdir()} (${(error as Error).message}); point TMPDIR at a writable folder`,
        { cause: error },
      );
    }
    return new UpstreamServer(app, relay, log);
  }

  private constructor(
    app: UpstreamApp,
    private readonly relay: ReadAheadRelay,
    private readonly log: Logger,
  ) {
    this.http1 = createAdaptorServer({
      fetch: app.fetch,
      serverOptions: { maxHeaderSize: MAX_HEADER_BYTES },
    }) as HttpServer;
    // Streams are long-lived: no idle or request timeouts on our side of Caddy.
    this.http1.requestTimeout = 0;
    this.http1.keepAliveTimeout = 60_000;
    const http2 = createAdaptorServer({
      fetch: app.fetch,
      createServer: createHttp2Server,
      serverOptions: {
        maxSessionMemory: 128,
        maxHeaderListPairs: 4096,
        // Every stream Caddy resets is a browser that left: thousands in a second when a page
        // reloads for everyone or a storm passes. nghttp2's rapid-reset defence (1,000 at once,
        // then 33 a second; Node 22 and later) would end the whole connection, every stream on
        // it, for that. Caddy is the only peer (see listen.ts), and it is trusted.
        streamResetBurst: RESETS_TRUSTED,
        streamResetRate: RESETS_TRUSTED,
        // A stream Caddy opens right after resetting another may still find the old one counted
        // (Node frees it a moment later) and be refused; Go's client retries it, but Node ends
        // the whole connection after 100 refusals by default. Again: Caddy is trusted.
        maxSessionRejectedStreams: RESETS_TRUSTED,
        maxSessionInvalidFrames: RESETS_TRUSTED,
        settings: {
          maxConcurrentStreams: STREAMS_PER_CONNECTION,
          maxHeaderListSize: MAX_H2_HEADER_LIST_BYTES,
          enablePush: false,
        },
      },
    });
    http2.on("session", (session: Http2Session) => {
      this.sessions.add(session);
      session.once("close", () => this.sessions.delete(session));
      // A session error (the peer went away) ends that connection's streams only.
      session.on("error", () => session.destroy());
    });
    this.server = createNetServer((socket) =>
      this.accept(socket, (kind) => {
        if (kind === "http1") {
          this.http1.emit("connection", socket);
          socket.resume();
          return;
        }
        this.relay.open(socket).then(
          (session) => http2.emit("connection", session),
          (error) => {
            this.log.warn("an HTTP/2 connection from Caddy could not be relayed; it was closed", {
              reason: (error as Error).message,
            });
            socket.destroy();
          },
        );
      }),
    );
  }

  /** Ends every connection at once (after the streams were ended cleanly). */
  async closeAllConnections(): Promise<void> {
    this.http1.closeAllConnections();
    for (const session of this.sessions) session.destroy();
    for (const socket of this.pending) socket.destroy();
    await this.relay.close();
  }

  /** Reads until the first bytes tell HTTP/2's preface from an HTTP/1.1 request line. */
  private accept(socket: Socket, dispatch: (kind: "http1" | "h2c") => void): void {
    this.pending.add(socket);
    let received: Buffer | undefined;
    const decide = (kind: "http1" | "h2c") => {
      this.pending.delete(socket);
      socket.off("data", onData);
      socket.off("error", forget);
      socket.off("close", forget);
      socket.pause();
      if (received) socket.unshift(received);
      received = undefined;
      dispatch(kind);
    };
    const onData = (chunk: Buffer) => {
      received = received === undefined ? chunk : Buffer.concat([received, chunk]);
      const compared = Math.min(received.length, PREFACE.length);
      if (!received.subarray(0, compared).equals(PREFACE.subarray(0, compared))) {
        decide("http1");
      } else if (received.length >= PREFACE.length) {
        decide("h2c");
      }
    };
    // Until it is handed on, a connection that fails or closes is only forgotten.
    const forget = () => {
      this.pending.delete(socket);
      socket.destroy();
    };
    socket.on("data", onData);
    socket.on("error", forget);
    socket.on("close", forget);
  }
}
