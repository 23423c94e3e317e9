/**
 * The limit: the least a server can do to fan out SSE. `GET /events?topic=t` holds a stream
 * open; `POST /pub?topic=t` frames the body once, NUTS-style. The frames that arrive in one tick
 * are joined and written once to every socket of the topic, straight to the socket (the stream
 * is delimited by the connection): the same write path as the NUTS sidecar, and nothing else.
 * No resume, no buffering bound, no validation: it shows what node:http costs on its own.
 *
 *   node --import tsx bench/baseline-server.ts --listen 127.0.0.1:PORT
 */
import { createServer } from "node:http";
import type { Socket } from "node:net";

const subscribersByTopic = new Map<string, Set<Socket>>();
const pendingByTopic = new Map<string, Buffer[]>();
let sequence = 0;

function topicOf(url: string): string {
  return new URL(url, "http://x").searchParams.get("topic") ?? "";
}

function flush(): void {
  for (const [topic, frames] of pendingByTopic) {
    const joined = frames.length === 1 ? (frames[0] as Buffer) : Buffer.concat(frames);
    for (const socket of subscribersByTopic.get(topic) ?? []) socket.write(joined);
  }
  pendingByTopic.clear();
}

const server = createServer((request, response) => {
  const url = request.url ?? "/";
  const socket = response.socket;
  if (request.method === "GET" && url.startsWith("/events") && socket) {
    const topic = topicOf(url);
    response.removeHeader("Transfer-Encoding");
    response.writeHead(200, {
      "Content-Type": "text/event-stream",
      "Cache-Control": "no-cache",
      Connection: "close",
    });
    socket.setNoDelay(true);
    response.flushHeaders();
    socket.write(`event: connected\ndata: {"topics":[${JSON.stringify(topic)}]}\n\n`);
    let set = subscribersByTopic.get(topic);
    if (!set) {
      set = new Set();
      subscribersByTopic.set(topic, set);
    }
    set.add(socket);
    socket.on("error", () => socket.destroy());
    socket.on("close", () => {
      set.delete(socket);
      if (set.size === 0) subscribersByTopic.delete(topic);
    });
    return;
  }
  if (request.method === "POST" && url.startsWith("/pub")) {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const topic = topicOf(url);
      const seq = ++sequence;
      const frame = Buffer.from(
        `id: ${seq}\nevent: message\ndata: {"topic":${JSON.stringify(topic)},"payload":${Buffer.concat(chunks).toString("utf8")},"time":"${new Date().toISOString()}"}\n\n`,
      );
      if (pendingByTopic.size === 0) setImmediate(flush);
      const pending = pendingByTopic.get(topic);
      if (pending) pending.push(frame);
      else pendingByTopic.set(topic, [frame]);
      response.writeHead(202, { "Content-Length": "0" });
      response.end();
    });
    return;
  }
  response.writeHead(404, { "Content-Length": "0" });
  response.end();
});

const listen = process.argv[process.argv.indexOf("--listen") + 1] ?? "127.0.0.1:0";
const [host, port] = listen.split(":");
server.keepAliveTimeout = 0;
server.headersTimeout = 0;
server.requestTimeout = 0;
server.listen({ host, port: Number(port), backlog: 4096 });
process.on("SIGTERM", () => process.exit(0));
