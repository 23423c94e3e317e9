/**
 * The limit: the least a server can do to fan out SSE. `GET /events?topic=t` holds a stream
 * open; `POST /pub?topic=t` frames the body once, NUTS-style, and writes the same bytes to
 * every socket of that topic. No resume, no buffering bound, no validation: it shows what
 * node:http costs on its own.
 *
 *   node --import tsx bench/baseline-server.ts --listen 127.0.0.1:PORT
 */
import { createServer, type ServerResponse } from "node:http";

const subscribersByTopic = new Map<string, Set<ServerResponse>>();
let sequence = 0;

function topicOf(url: string): string {
  return new URL(url, "http://x").searchParams.get("topic") ?? "";
}

const server = createServer((request, response) => {
  const url = request.url ?? "/";
  if (request.method === "GET" && url.startsWith("/events")) {
    const topic = topicOf(url);
    response.writeHead(200, { "Content-Type": "text/event-stream", "Cache-Control": "no-cache" });
    response.socket?.setNoDelay(true);
    response.write(`event: connected\ndata: {"topics":[${JSON.stringify(topic)}]}\n\n`);
    let set = subscribersByTopic.get(topic);
    if (!set) {
      set = new Set();
      subscribersByTopic.set(topic, set);
    }
    set.add(response);
    response.on("close", () => {
      set.delete(response);
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
      for (const subscriber of subscribersByTopic.get(topic) ?? []) subscriber.write(frame);
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
