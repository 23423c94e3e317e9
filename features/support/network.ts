/**
 * A TCP relay between a client and Caddy that can drop every connection through it at once,
 * as a mobile network or a flaky NAT does: the client sees its stream end mid-flight and the
 * server is none the wiser until it next writes.
 */
import { createConnection, createServer, type Server, type Socket } from "node:net";

export class NetworkLink {
  private constructor(
    private readonly server: Server,
    readonly port: number,
    /** Both ends of every relayed connection. */
    private readonly sockets: Set<Socket>,
  ) {}

  /** Listens on a free loopback port and relays every connection to `targetPort`. */
  static async open(targetPort: number): Promise<NetworkLink> {
    const sockets = new Set<Socket>();
    const server = createServer((client) => {
      const upstream = createConnection({ host: "127.0.0.1", port: targetPort });
      for (const socket of [client, upstream]) {
        sockets.add(socket);
        socket.once("close", () => sockets.delete(socket));
        socket.on("error", () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    const address = server.address();
    const port = typeof address === "object" && address ? address.port : 0;
    return new NetworkLink(server, port, sockets);
  }

  /** Drops every open connection, like a network outage; new connections still get through. */
  dropAll(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  async close(): Promise<void> {
    this.dropAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
