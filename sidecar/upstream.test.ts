import { get } from "node:http";
import { type ClientHttp2Session, connect as connectHttp2, constants } from "node:http2";
import { connect as connectTcp } from "node:net";
import { RESPONSE_ALREADY_SENT } from "@hono/node-server/utils/response";
import { Hono } from "hono";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Bindings, openEventStream } from "./event-stream.js";
import { ListenError } from "./listen.js";
import { silentLogger } from "./log.js";
import { STREAMS_PER_CONNECTION, UpstreamServer } from "./upstream.js";

const NODE_MAJOR = Number(process.versions.node.split(".")[0]);

const FRAME = Buffer.from("id: 7\nevent: message\ndata: hello\n\n");

function app(): Hono<{ Bindings: Bindings }> {
  const hono = new Hono<{ Bindings: Bindings }>();
  hono.get("/hello", (c) => c.text(`hello over HTTP/${c.env.incoming.httpVersion}`));
  hono.get("/events", (c) => {
    const sink = openEventStream(c.env, { "Content-Type": "text/event-stream" });
    if (sink === undefined) return RESPONSE_ALREADY_SENT;
    sink.write(FRAME);
    sink.uncork();
    sink.end();
    return RESPONSE_ALREADY_SENT;
  });
  return hono;
}

let upstream: UpstreamServer;
let port: number;

beforeAll(async () => {
  upstream = await UpstreamServer.start(app(), silentLogger);
  await new Promise<void>((resolve) => upstream.server.listen(0, "127.0.0.1", resolve));
  const address = upstream.server.address();
  port = typeof address === "object" && address ? address.port : 0;
});

afterAll(async () => {
  const closed = new Promise<void>((resolve) => upstream.server.close(() => resolve()));
  await upstream.closeAllConnections();
  await closed;
});

function http1(
  path: string,
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    get({ host: "127.0.0.1", port, path }, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => {
        body += chunk;
      });
      response.on("end", () =>
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body }),
      );
    }).on("error", reject);
  });
}

function h2cRequest(
  session: ClientHttp2Session,
  path: string,
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ":path": path });
    let headers: Record<string, unknown> = {};
    let body = "";
    stream.setEncoding("utf8");
    stream.on("response", (received) => {
      headers = received;
    });
    stream.on("data", (chunk: string) => {
      body += chunk;
    });
    stream.on("end", () => resolve({ status: Number(headers[":status"]), headers, body }));
    stream.on("error", reject);
  });
}

async function h2cSession(): Promise<ClientHttp2Session> {
  const session = connectHttp2(`http://127.0.0.1:${port}`);
  await new Promise<void>((resolve, reject) => {
    session.once("remoteSettings", () => resolve());
    session.once("error", reject);
  });
  return session;
}

describe("the sidecar's listener", () => {
  it("answers HTTP/1.1 and h2c (prior knowledge) on one address", async () => {
    expect(await http1("/hello")).toMatchObject({ status: 200, body: "hello over HTTP/1.1" });
    const session = await h2cSession();
    try {
      expect(await h2cRequest(session, "/hello")).toMatchObject({
        status: 200,
        body: "hello over HTTP/2.0",
      });
    } finally {
      session.close();
    }
  });

  it("sends an event stream over HTTP/1.1 as bare bytes, ended by the connection", async () => {
    const response = await http1("/events");
    expect(response.status).toBe(200);
    expect(response.headers["content-type"]).toBe("text/event-stream");
    expect(response.headers.connection).toBe("close");
    expect(response.headers["transfer-encoding"]).toBeUndefined();
    expect(response.body).toBe(FRAME.toString());
  });

  it("sends an event stream over h2c as the stream's data", async () => {
    const session = await h2cSession();
    try {
      const response = await h2cRequest(session, "/events");
      expect(response.status).toBe(200);
      expect(response.headers["content-type"]).toBe("text/event-stream");
      expect(response.body).toBe(FRAME.toString());
    } finally {
      session.close();
    }
  });

  it(`tells Caddy to open another connection past ${STREAMS_PER_CONNECTION} streams, and the request head it may send`, async () => {
    const session = await h2cSession();
    try {
      expect(session.remoteSettings.maxConcurrentStreams).toBe(STREAMS_PER_CONNECTION);
      // Go's client (Caddy's) refuses a longer request head on its own; nghttp2 would end the
      // whole connection for one field over 64 KiB.
      expect(session.remoteSettings.maxHeaderListSize).toBe(64 * 1024);
      const answers = await Promise.all(
        Array.from({ length: STREAMS_PER_CONNECTION }, () => h2cRequest(session, "/hello")),
      );
      expect(answers.map((answer) => answer.body)).toEqual(
        Array.from({ length: STREAMS_PER_CONNECTION }, () => "hello over HTTP/2.0"),
      );
    } finally {
      session.close();
    }
  });

  // Node 20 has the defence but not the options that raise it (streamResetBurst/Rate came with
  // Node 22); NUTS supports Node 22 and 24 (package.json engines), where this runs.
  it.skipIf(NODE_MAJOR < 22)(
    "keeps a connection whose streams are reset by the thousand (browsers leaving at once)",
    async () => {
      const session = await h2cSession();
      let goaway: number | undefined;
      session.on("goaway", (code) => {
        goaway = code;
      });
      session.on("error", () => {});
      try {
        // Past nghttp2's rapid-reset defaults (1,000 at once, then 33 a second), which end the
        // whole connection on Node 22 and later unless the server raises them.
        for (let round = 0; round < 15; round++) {
          const streams = Array.from({ length: 100 }, () => session.request({ ":path": "/hello" }));
          for (const stream of streams) {
            stream.on("error", () => {});
            stream.close(constants.NGHTTP2_CANCEL);
          }
          await Promise.all(
            streams.map((stream) => new Promise((resolve) => stream.once("close", resolve))),
          );
        }
        // A stream opened while the server still frees the reset ones may be refused, as
        // Caddy's would be (it retries, lb_try_interval); the connection itself must live on.
        const deadline = Date.now() + 5_000;
        let answer: { body: string } | undefined;
        while (answer === undefined && Date.now() < deadline && !session.destroyed) {
          answer = await h2cRequest(session, "/hello").catch(async () => {
            await new Promise((resolve) => setTimeout(resolve, 20));
            return undefined;
          });
        }
        expect(goaway).toBeUndefined();
        expect(session.destroyed).toBe(false);
        expect(answer).toMatchObject({ body: "hello over HTTP/2.0" });
      } finally {
        session.close();
      }
    },
  );

  it("recognises the HTTP/2 preface when it arrives in pieces", async () => {
    const socket = connectTcp(port, "127.0.0.1");
    try {
      await new Promise<void>((resolve) => socket.once("connect", resolve));
      const firstFrame = new Promise<Buffer>((resolve) => socket.once("data", resolve));
      socket.write("PRI * HT");
      await new Promise((resolve) => setTimeout(resolve, 20));
      socket.write("TP/2.0\r\n\r\nSM\r\n\r\n");
      // An empty SETTINGS frame: length 0, type 0x4, no flags, stream 0.
      socket.write(Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]));
      const frame = await firstFrame;
      // The server's first frame is its SETTINGS (type 0x4 at byte 3), not an HTTP/1.1 answer.
      expect(frame[3]).toBe(4);
      expect(frame.subarray(0, 8).toString("latin1")).not.toMatch(/^HTTP\//);
    } finally {
      socket.destroy();
    }
  });

  it("takes a request line that starts like the preface for HTTP/1.1", async () => {
    const socket = connectTcp(port, "127.0.0.1");
    try {
      const answer = new Promise<string>((resolve) =>
        socket.once("data", (chunk: Buffer) => resolve(chunk.toString("latin1"))),
      );
      socket.write("PUT /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
      expect(await answer).toMatch(/^HTTP\/1\.1 404 /);
    } finally {
      socket.destroy();
    }
  });

  it("ends open h2c connections when the sidecar stops", async () => {
    const other = await UpstreamServer.start(app(), silentLogger);
    await new Promise<void>((resolve) => other.server.listen(0, "127.0.0.1", resolve));
    const address = other.server.address();
    const session = connectHttp2(
      `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`,
    );
    const closed = new Promise<void>((resolve) => session.once("close", resolve));
    session.on("error", () => {});
    await new Promise<void>((resolve) => session.once("remoteSettings", () => resolve()));
    const serverClosed = new Promise<void>((resolve) => other.server.close(() => resolve()));
    await other.closeAllConnections();
    await closed;
    await serverClosed;
    expect(session.destroyed).toBe(true);
  });

  it("says at start when the relay's socket cannot be made, and how to fix it", async () => {
    const previous = process.env.TMPDIR;
    process.env.TMPDIR = "/nonexistent/nuts-tmp";
    try {
      const error = await UpstreamServer.start(app(), silentLogger).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ListenError);
      // mkdtemp's random suffix varies; the rest of the sentence is exact.
      expect((error as Error).message).toMatch(
        /^cannot create the sidecar's relay socket in \/nonexistent\/nuts-tmp \(ENOENT: no such file or directory, mkdtemp '\/nonexistent\/nuts-tmp\/nuts-relay-\w{6}'\); point TMPDIR at a writable folder$/,
      );
    } finally {
      if (previous === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = previous;
    }
  });
});
